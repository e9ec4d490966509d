"""Firmware's values: images operators upload, update requests sent to stations with their status history, and
campaigns that roll an image out over many stations in batches."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, time

from evscada.core.model import StationId


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    id: int
    name: str
    version: str
    vendor: str | None  # None: any vendor's station may take it
    model: str | None
    filename: str  # offered to stations in the download location
    size: int
    sha256: str
    md5: str  # 2.0.1 PublishFirmware names images by MD5
    storage_key: str
    signing_certificate: str | None  # PEM, sent with signed updates (checked to parse, not verified here)
    signature: str | None  # base64, as SignedUpdateFirmware carries it
    uploaded_by: str
    uploaded_at: datetime

    @property
    def signed(self) -> bool:
        return self.signing_certificate is not None and self.signature is not None


@dataclass(frozen=True, slots=True)
class NewImage:
    name: str
    version: str
    vendor: str | None
    model: str | None
    filename: str
    size: int
    sha256: str
    md5: str
    storage_key: str
    uploaded_by: str
    uploaded_at: datetime


class UpdateKind(enum.StrEnum):
    UPDATE = "update"  # 1.6 UpdateFirmware, 2.0.1 UpdateFirmware without a signature
    SIGNED = "signed"  # 1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware with certificate and signature
    PUBLISH = "publish"  # 2.0.1 PublishFirmware (a local controller serves the image to its stations)
    UNPUBLISH = "unpublish"


class UpdateStatus(enum.StrEnum):
    REQUESTED = "requested"
    NOT_SENT = "not_sent"  # offline, no answer, a CALLERROR or a version without the message
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    INSTALLING = "installing"
    INSTALLED = "installed"  # PublishFirmware: Published
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (UpdateStatus.NOT_SENT, UpdateStatus.REJECTED, UpdateStatus.INSTALLED, UpdateStatus.FAILED)


# Stations' words (1.6 FirmwareStatus, 1.6 security and 2.0.1 FirmwareStatusEnumType, 2.0.1 PublishFirmwareStatus)
# in ours; Idle says nothing about a request.
STATION_WORDS: dict[str, UpdateStatus] = {
    "DownloadScheduled": UpdateStatus.ACCEPTED,
    "Downloading": UpdateStatus.DOWNLOADING,
    "DownloadPaused": UpdateStatus.DOWNLOADING,
    "Downloaded": UpdateStatus.DOWNLOADED,
    "SignatureVerified": UpdateStatus.DOWNLOADED,
    "ChecksumVerified": UpdateStatus.DOWNLOADED,
    "InstallScheduled": UpdateStatus.DOWNLOADED,
    "Installing": UpdateStatus.INSTALLING,
    "InstallRebooting": UpdateStatus.INSTALLING,
    "Installed": UpdateStatus.INSTALLED,
    "Published": UpdateStatus.INSTALLED,
    "DownloadFailed": UpdateStatus.FAILED,
    "InstallationFailed": UpdateStatus.FAILED,
    "InstallVerificationFailed": UpdateStatus.FAILED,
    "InvalidSignature": UpdateStatus.FAILED,
    "InvalidChecksum": UpdateStatus.FAILED,
    "PublishFailed": UpdateStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One status notification as the station sent it."""

    station_status: str
    status: UpdateStatus
    at: datetime


@dataclass(frozen=True, slots=True)
class FirmwareUpdate:
    """One request to one station; its id is the OCPP requestId of the signed and 2.0.1 messages."""

    id: int
    station_id: StationId
    image_id: int | None  # None once the image is deleted
    campaign_id: int | None
    kind: UpdateKind
    status: UpdateStatus
    station_status: str | None
    command_id: int | None
    version: str  # the image's version: what the station should boot with
    requested_by: str
    requested_at: datetime
    updated_at: datetime
    token_expires_at: datetime
    downloads: int  # how often the station fetched the image with this request's token
    history: tuple[StatusChange, ...] = ()


@dataclass(frozen=True, slots=True)
class NewUpdate:
    station_id: StationId
    image_id: int
    campaign_id: int | None
    kind: UpdateKind
    version: str
    token_hash: str
    token_expires_at: datetime
    requested_by: str
    requested_at: datetime


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"  # made, not started
    RUNNING = "running"
    HALTED = "halted"  # by an operator, or by the failure threshold; resume goes on
    ABORTED = "aborted"  # final: no station starts any more (running installs finish on their own)
    COMPLETED = "completed"


class TargetState(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    INSTALLED = "installed"
    FAILED = "failed"
    SKIPPED = "skipped"  # aborted before its turn


@dataclass(frozen=True, slots=True)
class TargetSelection:
    """Which stations a campaign updates: every given rule must hold; station_ids alone is an explicit list."""

    site_id: int | None = None
    model: str | None = None
    vendor: str | None = None
    firmware_version: str | None = None  # their current version
    station_ids: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "site_id": self.site_id,
            "model": self.model,
            "vendor": self.vendor,
            "firmware_version": self.firmware_version,
            "station_ids": list(self.station_ids),
        }


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Daily from-to in the operator's time zone; to before from spans midnight. No station starts outside it."""

    start: time
    end: time

    def contains(self, at: time) -> bool:
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    name: str
    image_id: int
    selection: TargetSelection
    pilot_size: int
    batch_size: int
    window: MaintenanceWindow | None
    max_failures: int | None  # halt when more than this many stations failed (since the last resume)
    max_failure_percent: float | None  # ... or more than this share of the stations started
    signed: bool = False
    retries: int | None = None
    retry_interval_s: int | None = None


@dataclass(frozen=True, slots=True)
class CampaignTarget:
    station_id: StationId
    batch: int  # 0: the pilot
    state: TargetState
    update_id: int | None
    started_at: datetime | None
    finished_at: datetime | None
    detail: str | None  # the station's last word, or why it failed
    firmware_version: str | None  # the station's version as it last booted


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    plan: CampaignPlan
    status: CampaignStatus
    status_reason: str | None
    forgiven_failures: int  # failures counted before the last resume: the threshold counts those after
    created_by: str
    created_at: datetime
    updated_at: datetime
    counts: dict[TargetState, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done_share(self) -> float:
        finished = self.counts.get(TargetState.INSTALLED, 0) + self.counts.get(TargetState.FAILED, 0)
        return finished / self.total if self.total else 0.0
