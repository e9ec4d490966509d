"""Firmware: images kept in the file store (the station files' FileStore port, under a key prefix of their own),
served to stations with a download token per request, update commands of every version with their status history,
and campaigns (campaigns.py) that roll an image out in batches."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from evscada.core.access.audit import Auditor, AuditRepository
from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported, FirmwareConflict, InvalidArgument, NotFound
from evscada.core.files.service import safe_filename, token_digest
from evscada.core.files.store import FileStore, ObjectTooLarge
from evscada.core.firmware.model import (
    STATION_WORDS,
    Campaign,
    CampaignPlan,
    CampaignStatus,
    CampaignTarget,
    FirmwareImage,
    FirmwareUpdate,
    NewImage,
    NewUpdate,
    TargetSelection,
    TargetState,
    UpdateKind,
    UpdateStatus,
)
from evscada.core.model import StationId
from evscada.core.ports import Clock, Store

log = logging.getLogger(__name__)

KEY_PREFIX = "firmware-"  # the file store's keys of images; station files' keys start with a digit
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,49}$")


@dataclass(frozen=True, slots=True)
class FirmwareConfig:
    max_image_bytes: int = 512 << 20
    token_lifetime: timedelta = timedelta(hours=24)  # after the retrieve time: a station may retry until then
    station_timeout: timedelta = timedelta(hours=2)  # a campaign counts a station silent this long as failed


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    update: FirmwareUpdate
    command: c.CommandOutcome


class DownloadRefusal(Exception):
    """A download not served: 403 unknown token, 410 expired or finished (message says which)."""

    def __init__(self, gone: bool, message: str) -> None:
        super().__init__(message)
        self.gone = gone
        self.message = message


class FirmwareRepository(Protocol):
    async def add_image(self, *, image: NewImage) -> int: ...

    async def image(self, *, image_id: int) -> FirmwareImage | None: ...

    async def images(self) -> list[FirmwareImage]: ...

    async def set_signature(self, *, image_id: int, certificate: str | None, signature: str | None) -> None: ...

    async def delete_image(self, *, image_id: int) -> None: ...

    async def campaigns_using(self, *, image_id: int) -> list[int]:
        """Campaigns not aborted or completed that roll this image out."""
        ...

    async def add_update(self, *, update: NewUpdate) -> int: ...

    async def update(self, *, update_id: int) -> FirmwareUpdate | None:
        """With its status history."""
        ...

    async def update_by_token(self, *, token_hash: str) -> FirmwareUpdate | None: ...

    async def latest_open_update(
        self, *, station_id: StationId, kinds: Sequence[UpdateKind]
    ) -> FirmwareUpdate | None: ...

    async def updates(
        self, *, station_id: StationId | None, campaign_id: int | None, limit: int, offset: int
    ) -> tuple[list[FirmwareUpdate], int]: ...

    async def answered(self, *, update_id: int, command_id: int, status: UpdateStatus, at: datetime) -> None:
        """The station's answer; the status changes only while still requested (it may have reported already)."""
        ...

    async def set_status(
        self, *, update_id: int, status: UpdateStatus, station_status: str | None, at: datetime
    ) -> None:
        """Also appends the station's word to the history (when it gave one)."""
        ...

    async def count_download(self, *, update_id: int) -> None: ...

    # Campaigns

    async def add_campaign(self, *, plan: CampaignPlan, created_by: str, at: datetime) -> int: ...

    async def campaign(self, *, campaign_id: int) -> Campaign | None: ...

    async def campaigns(self) -> list[Campaign]: ...

    async def active_campaigns(self) -> list[int]:
        """Running campaigns, and any other with a station still installing (its outcome is still counted)."""
        ...

    async def set_campaign_status(
        self, *, campaign_id: int, status: CampaignStatus, reason: str | None, at: datetime, forgiven: int | None = None
    ) -> None: ...

    async def select_stations(self, *, selection: TargetSelection) -> list[StationId]: ...

    async def add_targets(self, *, campaign_id: int, batches: Sequence[tuple[StationId, int]]) -> None: ...

    async def targets(self, *, campaign_id: int) -> list[CampaignTarget]: ...

    async def set_target(
        self,
        *,
        campaign_id: int,
        station_id: StationId,
        state: TargetState,
        at: datetime,
        detail: str | None,
        update_id: int | None = None,
        batch: int | None = None,
    ) -> None: ...


class FirmwareUnit(Protocol):
    firmware: FirmwareRepository
    audit: AuditRepository


class Commands(Protocol):
    async def send(
        self, *, station_id: StationId, command: c.Command, actor: str, reason: str | None = None
    ) -> c.CommandOutcome: ...


def check_signature_material(certificate: str | None, signature: str | None) -> tuple[str | None, str | None]:
    """Both or neither; the certificate a PEM block, the signature base64 (verifying them is the station's job)."""
    if (certificate is None) != (signature is None):
        raise InvalidArgument(
            "a signed image needs both signing_certificate (PEM) and signature (base64); give both or neither",
            field="signature" if signature is None else "signing_certificate",
        )
    if certificate is None or signature is None:
        return None, None
    certificate = certificate.strip()
    body = certificate.removeprefix("-----BEGIN CERTIFICATE-----").removesuffix("-----END CERTIFICATE-----")
    if body == certificate or not body.strip() or len(certificate) > 5500:
        raise InvalidArgument(
            "signing_certificate must be one PEM certificate (-----BEGIN CERTIFICATE----- ... "
            "-----END CERTIFICATE-----, at most 5500 characters as OCPP allows)",
            field="signing_certificate",
        )
    try:
        base64.b64decode("".join(body.split()), validate=True)
        base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("signing_certificate's body and signature must be base64", field="signature") from None
    if len(signature.strip()) > 800:
        raise InvalidArgument("signature is longer than the 800 characters OCPP allows", field="signature")
    return certificate, signature.strip()


class FirmwareService:
    def __init__(
        self,
        *,
        store: Store[FirmwareUnit],
        clock: Clock,
        commands: Commands,
        file_store: FileStore,
        config: FirmwareConfig,
        audit: Auditor | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._commands = commands
        self._files = file_store
        self.config = config
        self._audit = audit or Auditor(clock=clock)
        # Where stations download: set by the composition root once the HTTP listener is up (as station files').
        self.download_base_url: str | None = None

    @property
    def clock(self) -> Clock:
        return self._clock

    # Images

    async def add_image(
        self,
        *,
        name: str,
        version: str,
        filename: str | None,
        chunks: AsyncIterable[bytes],
        actor: str,
        vendor: str | None = None,
        model: str | None = None,
    ) -> FirmwareImage:
        """Stream an image into the file store, counting its size, SHA-256 and MD5; nothing is kept on failure."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidArgument("name must be 1 to 100 characters", field="name")
        if not _VERSION.match(version):
            raise InvalidArgument(
                "version must be 1 to 50 letters, digits, '.', '_', '+', '~' or '-' (e.g. 4.2.1)", field="version"
            )
        md5 = hashlib.md5(usedforsecurity=False)

        async def counted() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                md5.update(chunk)
                yield chunk

        key = f"{KEY_PREFIX}{uuid.uuid4().hex}"
        limit = self.config.max_image_bytes
        try:
            stored = await self._files.put(key, counted(), max_bytes=limit)
        except ObjectTooLarge:
            raise InvalidArgument(
                f"the image is larger than the {limit} bytes allowed (firmware.max_image_bytes)", field="file"
            ) from None
        if stored.size == 0:
            await self._files.delete(key)
            raise InvalidArgument("the image is empty: send the firmware file as the body", field="file")
        shown = safe_filename(filename, safe_filename(f"{name}-{version}.bin", "firmware.bin"))
        try:
            async with self._store.unit() as uow:
                image_id = await uow.firmware.add_image(
                    image=NewImage(
                        name=name,
                        version=version,
                        vendor=vendor or None,
                        model=model or None,
                        filename=shown,
                        size=stored.size,
                        sha256=stored.sha256,
                        md5=md5.hexdigest(),
                        storage_key=key,
                        uploaded_by=actor,
                        uploaded_at=self._clock.now(),
                    )
                )
                await self._audit.record(
                    uow,
                    actor=actor,
                    action="firmware.upload",
                    target_type="firmware_image",
                    target_id=image_id,
                    details={"name": name, "version": version, "size": stored.size, "sha256": stored.sha256},
                )
                image = await uow.firmware.image(image_id=image_id)
        except BaseException:
            await self._files.delete(key)
            raise
        assert image is not None
        return image

    async def image(self, image_id: int) -> FirmwareImage:
        async with self._store.unit() as uow:
            found = await uow.firmware.image(image_id=image_id)
        if found is None:
            raise NotFound(f"no firmware image {image_id}")
        return found

    async def images(self) -> list[FirmwareImage]:
        async with self._store.unit() as uow:
            return await uow.firmware.images()

    async def set_signature(
        self, image_id: int, *, certificate: str | None, signature: str | None, actor: str
    ) -> FirmwareImage:
        certificate, signature = check_signature_material(certificate, signature)
        async with self._store.unit() as uow:
            if await uow.firmware.image(image_id=image_id) is None:
                raise NotFound(f"no firmware image {image_id}")
            await uow.firmware.set_signature(image_id=image_id, certificate=certificate, signature=signature)
            await self._audit.record(
                uow,
                actor=actor,
                action="firmware.signature",
                target_type="firmware_image",
                target_id=image_id,
                details={"signed": certificate is not None},
            )
            image = await uow.firmware.image(image_id=image_id)
        assert image is not None
        return image

    async def delete_image(self, image_id: int, *, actor: str) -> FirmwareImage:
        async with self._store.unit() as uow:
            image = await uow.firmware.image(image_id=image_id)
            if image is None:
                raise NotFound(f"no firmware image {image_id}")
            using = await uow.firmware.campaigns_using(image_id=image_id)
            if using:
                raise FirmwareConflict(
                    f"firmware image {image_id} is used by campaign {', '.join(map(str, using))}: "
                    "abort or finish the campaign first"
                )
            await uow.firmware.delete_image(image_id=image_id)
            await self._audit.record(
                uow,
                actor=actor,
                action="firmware.delete",
                target_type="firmware_image",
                target_id=image_id,
                details={"name": image.name, "version": image.version},
            )
        await self._files.delete(image.storage_key)
        return image

    async def open_image(self, image_id: int) -> tuple[FirmwareImage, AsyncIterator[bytes]]:
        image = await self.image(image_id)
        return image, self._files.open(image.storage_key)

    # Updates

    async def update_station(
        self,
        *,
        station_id: StationId,
        image_id: int,
        actor: str,
        signed: bool = False,
        retrieve_at: datetime | None = None,
        install_at: datetime | None = None,
        retries: int | None = None,
        retry_interval_s: int | None = None,
        campaign_id: int | None = None,
        reason: str | None = None,
    ) -> UpdateOutcome:
        """UpdateFirmware (signed: SignedUpdateFirmware on 1.6) with a download location of its own."""
        image = await self.image(image_id)
        if signed and not image.signed:
            raise InvalidArgument(
                f"firmware image {image_id} has no signing certificate and signature: add them "
                f"(PUT /api/v1/firmware/{image_id}/signature) or send an unsigned update",
                field="signed",
            )
        retrieve = retrieve_at or self._clock.now()
        if install_at is not None and install_at < retrieve:
            raise InvalidArgument("install_at must not be before retrieve_at", field="install_at")
        kind = UpdateKind.SIGNED if signed else UpdateKind.UPDATE

        def command(location: str, update_id: int) -> c.Command:
            return c.UpdateFirmware(
                location=location,
                retrieve_at=retrieve,
                request_id=update_id,
                install_at=install_at,
                retries=retries,
                retry_interval_s=retry_interval_s,
                signing_certificate=image.signing_certificate if signed else None,
                signature=image.signature if signed else None,
            )

        return await self._send(
            station_id=station_id,
            image=image,
            kind=kind,
            actor=actor,
            reason=reason,
            campaign_id=campaign_id,
            valid_from=max(retrieve, self._clock.now()),
            command=command,
        )

    async def publish(
        self,
        *,
        station_id: StationId,
        image_id: int,
        actor: str,
        retries: int | None = None,
        retry_interval_s: int | None = None,
        reason: str | None = None,
    ) -> UpdateOutcome:
        """2.0.1 PublishFirmware: a local controller fetches the image and serves it to its stations."""
        image = await self.image(image_id)
        return await self._send(
            station_id=station_id,
            image=image,
            kind=UpdateKind.PUBLISH,
            actor=actor,
            reason=reason,
            campaign_id=None,
            valid_from=self._clock.now(),
            command=lambda location, update_id: c.PublishFirmware(
                location=location,
                checksum=image.md5,
                request_id=update_id,
                retries=retries,
                retry_interval_s=retry_interval_s,
            ),
        )

    async def unpublish(
        self, *, station_id: StationId, image_id: int, actor: str, reason: str | None = None
    ) -> c.CommandOutcome:
        image = await self.image(image_id)
        return await self._commands.send(
            station_id=station_id, command=c.UnpublishFirmware(checksum=image.md5), actor=actor, reason=reason
        )

    async def _send(
        self,
        *,
        station_id: StationId,
        image: FirmwareImage,
        kind: UpdateKind,
        actor: str,
        reason: str | None,
        campaign_id: int | None,
        valid_from: datetime,
        command: _CommandMaker,
    ) -> UpdateOutcome:
        base = self.download_base_url
        if base is None:
            raise InvalidArgument(
                "this process has no HTTP listener for firmware downloads: set http_port (and files.public_base_url)"
            )
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._store.unit() as uow:
            update_id = await uow.firmware.add_update(
                update=NewUpdate(
                    station_id=station_id,
                    image_id=image.id,
                    campaign_id=campaign_id,
                    kind=kind,
                    version=image.version,
                    token_hash=token_digest(token),
                    token_expires_at=valid_from + self.config.token_lifetime,
                    requested_by=actor,
                    requested_at=now,
                )
            )
        location = f"{base.rstrip('/')}/firmware-download/{token}/{image.filename}"
        try:
            outcome = await self._commands.send(
                station_id=station_id, command=command(location, update_id), actor=actor, reason=reason
            )
        except CommandNotSupported:
            async with self._store.unit() as uow:
                await uow.firmware.set_status(
                    update_id=update_id, status=UpdateStatus.NOT_SENT, station_status=None, at=self._clock.now()
                )
            raise
        if outcome.outcome != c.CommandOutcomeKind.ANSWERED:
            status = UpdateStatus.NOT_SENT
        else:
            status = (
                UpdateStatus.ACCEPTED if outcome.status in ("Accepted", "AcceptedCanceled") else UpdateStatus.REJECTED
            )
        async with self._store.unit() as uow:
            await uow.firmware.answered(
                update_id=update_id, command_id=outcome.command_id, status=status, at=outcome.finished_at
            )
            update = await uow.firmware.update(update_id=update_id)
        assert update is not None
        return UpdateOutcome(update=update, command=outcome)

    async def station_reported(
        self, *, station_id: StationId, word: str, request_id: int | None, publish: bool = False
    ) -> None:
        """A (Signed/Publish)FirmwareStatusNotification: move the update it names (1.6 plain: the latest)."""
        status = STATION_WORDS.get(word)
        if status is None:
            return
        async with self._store.unit() as uow:
            if request_id is not None:
                update = await uow.firmware.update(update_id=request_id)
            else:
                update = await uow.firmware.latest_open_update(
                    station_id=station_id, kinds=[UpdateKind.UPDATE, UpdateKind.SIGNED]
                )
            if update is None or update.station_id != station_id:
                return
            if publish != (update.kind is UpdateKind.PUBLISH):
                return
            if update.status in (UpdateStatus.INSTALLED, UpdateStatus.NOT_SENT):
                return  # a late word after the end changes nothing
            await uow.firmware.set_status(update_id=update.id, status=status, station_status=word, at=self._clock.now())

    async def update(self, update_id: int) -> FirmwareUpdate:
        async with self._store.unit() as uow:
            found = await uow.firmware.update(update_id=update_id)
        if found is None:
            raise NotFound(f"no firmware update {update_id}")
        return found

    async def updates(
        self, *, station_id: StationId | None = None, campaign_id: int | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[FirmwareUpdate], int]:
        async with self._store.unit() as uow:
            return await uow.firmware.updates(
                station_id=station_id, campaign_id=campaign_id, limit=limit, offset=offset
            )

    # Downloads

    async def download(self, token: str) -> tuple[FirmwareImage, AsyncIterator[bytes]]:
        """The image a token opens: per request (retries and ranges within its lifetime are fine), until it
        expires or the update is over."""
        async with self._store.unit() as uow:
            update = await uow.firmware.update_by_token(token_hash=token_digest(token))
            if (
                update is None
                or update.image_id is None
                or update.status
                in (
                    UpdateStatus.REJECTED,
                    UpdateStatus.NOT_SENT,
                )
            ):
                raise DownloadRefusal(False, "unknown firmware download token: ask for a new update")
            if self._clock.now() >= update.token_expires_at:
                raise DownloadRefusal(True, "this firmware download token has expired: send the update again")
            if update.status is UpdateStatus.INSTALLED:
                raise DownloadRefusal(True, "this firmware update is finished: its download token is used up")
            image = await uow.firmware.image(image_id=update.image_id)
            if image is None:
                raise DownloadRefusal(True, "the firmware image of this update was deleted")
            await uow.firmware.count_download(update_id=update.id)
        return image, self._files.open(image.storage_key)


class _CommandMaker(Protocol):
    def __call__(self, location: str, update_id: int, /) -> c.Command: ...
