"""Firmware: operators upload images and update stations one by one or in campaigns; stations download the image
from /firmware-download/<token>/<filename> with the token of their update request."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.requests import ClientDisconnect

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.multipart import MultipartError, MultipartFile, boundary_of
from evscada.api.params import Id, Offset, Time
from evscada.api.routes.commands import FAILURE_DOCS, CommandBody, raise_failure
from evscada.api.schemas import CommandOut
from evscada.core.files.store import ObjectMissing
from evscada.core.firmware.model import (
    Campaign,
    CampaignPlan,
    CampaignStatus,
    CampaignTarget,
    FirmwareImage,
    FirmwareUpdate,
    MaintenanceWindow,
    TargetSelection,
    TargetState,
    UpdateKind,
    UpdateStatus,
)
from evscada.core.firmware.service import DownloadRefusal, UpdateOutcome
from evscada.core.model import StationId

router = APIRouter(tags=["firmware"])
image_router = APIRouter(tags=["firmware"])  # streamed uploads: outside refuse_nul, which reads the whole body
download_router = APIRouter(tags=["firmware"])  # stations' downloads: the token is the credential

Retries = Annotated[int | None, Field(None, ge=0, le=100, description="how often the station retries the download")]
RetryInterval = Annotated[int | None, Field(None, ge=0, le=86_400, description="seconds between the station's retries")]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ImageOut(BaseModel):
    id: int
    name: str
    version: str
    vendor: str | None
    model: str | None
    filename: str
    size: int
    sha256: str
    md5: str
    signed: bool
    uploaded_by: str
    uploaded_at: datetime

    @classmethod
    def of(cls, i: FirmwareImage) -> ImageOut:
        return cls(
            id=i.id,
            name=i.name,
            version=i.version,
            vendor=i.vendor,
            model=i.model,
            filename=i.filename,
            size=i.size,
            sha256=i.sha256,
            md5=i.md5,
            signed=i.signed,
            uploaded_by=i.uploaded_by,
            uploaded_at=i.uploaded_at,
        )


class SignatureBody(BaseModel):
    signing_certificate: str | None = Field(
        None, max_length=5500, description="PEM certificate the image was signed with; null with signature: unsigned"
    )
    signature: str | None = Field(None, max_length=800, description="the image's signature, base64")


class StatusChangeOut(BaseModel):
    station_status: str
    status: UpdateStatus
    at: datetime


class UpdateOut(BaseModel):
    id: int  # also the OCPP requestId
    station_id: str
    image_id: int | None
    campaign_id: int | None
    kind: UpdateKind
    status: UpdateStatus
    station_status: str | None
    command_id: int | None
    version: str
    requested_by: str
    requested_at: datetime
    updated_at: datetime
    download_expires_at: datetime
    downloads: int
    history: list[StatusChangeOut]

    @classmethod
    def of(cls, u: FirmwareUpdate) -> UpdateOut:
        return cls(
            id=u.id,
            station_id=u.station_id,
            image_id=u.image_id,
            campaign_id=u.campaign_id,
            kind=u.kind,
            status=u.status,
            station_status=u.station_status,
            command_id=u.command_id,
            version=u.version,
            requested_by=u.requested_by,
            requested_at=u.requested_at,
            updated_at=u.updated_at,
            download_expires_at=u.token_expires_at,
            downloads=u.downloads,
            history=[StatusChangeOut(station_status=h.station_status, status=h.status, at=h.at) for h in u.history],
        )


class UpdateResult(BaseModel):
    update: UpdateOut
    command: CommandOut


class UpdatePageOut(BaseModel):
    items: list[UpdateOut]
    total: int
    limit: int
    offset: int


class UpdateBody(CommandBody):
    image_id: Id = Field(description="the firmware image to install (GET /api/v1/firmware)")
    signed: bool = Field(
        False, description="send the image's signing certificate and signature (1.6: SignedUpdateFirmware)"
    )
    retrieve_at: Time | None = Field(None, description="when the station downloads; absent: now")
    install_at: Time | None = Field(None, description="when it installs (signed and 2.0.1 only); absent: at once")
    retries: Retries = None
    retry_interval_s: RetryInterval = None

    @model_validator(mode="after")
    def _ordered(self) -> UpdateBody:
        if self.retrieve_at and self.install_at and self.install_at < self.retrieve_at:
            raise ValueError("install_at must not be before retrieve_at")
        return self


class PublishBody(CommandBody):
    image_id: Id = Field(description="the firmware image the local controller serves")
    retries: Retries = None
    retry_interval_s: RetryInterval = None


class UnpublishBody(CommandBody):
    image_id: Id = Field(description="the firmware image the local controller stops serving")


class TargetBody(BaseModel):
    site_id: Id | None = Field(None, description="stations of this site")
    model: str | None = Field(None, min_length=1, max_length=50, description="stations of this model")
    vendor: str | None = Field(None, min_length=1, max_length=50, description="stations of this vendor")
    firmware_version: str | None = Field(
        None, min_length=1, max_length=50, description="stations running this firmware now"
    )
    station_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=10_000, description="these stations (with the rules above: those of them)"
    )

    @model_validator(mode="after")
    def _something(self) -> TargetBody:
        if not (self.site_id or self.model or self.vendor or self.firmware_version or self.station_ids):
            raise ValueError(
                "name the stations: site_id, model, vendor, firmware_version or station_ids (at least one)"
            )
        return self


class WindowBody(BaseModel):
    start: str = Field(description="HH:MM in the operator's time zone (settings operator_time_zone)")
    end: str = Field(description="HH:MM; before start: the window spans midnight")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("a time of day as HH:MM, 00:00 to 23:59")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> WindowBody:
        if self.start == self.end:
            raise ValueError("start and end are the same: leave the window out to allow any time")
        return self


class CampaignBody(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    image_id: Id
    target: TargetBody
    pilot_size: int = Field(1, ge=0, le=1000, description="stations in the first batch; 0: no pilot")
    batch_size: int = Field(10, ge=1, le=10_000, description="stations in each later batch")
    maintenance_window: WindowBody | None = Field(None, description="daily; no station starts outside it")
    max_failures: int | None = Field(None, ge=0, le=100_000, description="halt when more stations than this failed")
    max_failure_percent: float | None = Field(
        None, ge=0, le=100, description="halt when more than this share of the stations started failed"
    )
    signed: bool = False
    retries: Retries = None
    retry_interval_s: RetryInterval = None


class ResumeBody(BaseModel):
    retry_failed: bool = Field(False, description="failed stations get another try after the others")


class HaltBody(BaseModel):
    reason: str | None = Field(None, max_length=400)


class TargetOut(BaseModel):
    station_id: str
    batch: int
    state: TargetState
    update_id: int | None
    started_at: datetime | None
    finished_at: datetime | None
    detail: str | None
    firmware_version: str | None  # as the station last booted

    @classmethod
    def of(cls, t: CampaignTarget) -> TargetOut:
        return cls(
            station_id=t.station_id,
            batch=t.batch,
            state=t.state,
            update_id=t.update_id,
            started_at=t.started_at,
            finished_at=t.finished_at,
            detail=t.detail,
            firmware_version=t.firmware_version,
        )


class CampaignOut(BaseModel):
    id: int
    name: str
    image_id: int
    status: CampaignStatus
    status_reason: str | None
    target: dict[str, object]
    pilot_size: int
    batch_size: int
    maintenance_window: WindowBody | None
    max_failures: int | None
    max_failure_percent: float | None
    signed: bool
    counts: dict[TargetState, int]
    total: int
    progress: float = Field(description="share of the stations installed or failed, 0 to 1")
    created_by: str
    created_at: datetime
    updated_at: datetime
    stations: list[TargetOut] | None = None

    @classmethod
    def of(cls, c: Campaign, targets: list[CampaignTarget] | None = None) -> CampaignOut:
        window = c.plan.window
        return cls(
            id=c.id,
            name=c.plan.name,
            image_id=c.plan.image_id,
            status=c.status,
            status_reason=c.status_reason,
            target=c.plan.selection.as_json(),
            pilot_size=c.plan.pilot_size,
            batch_size=c.plan.batch_size,
            maintenance_window=WindowBody(start=window.start.strftime("%H:%M"), end=window.end.strftime("%H:%M"))
            if window
            else None,
            max_failures=c.plan.max_failures,
            max_failure_percent=c.plan.max_failure_percent,
            signed=c.plan.signed,
            counts={state: c.counts.get(state, 0) for state in TargetState},
            total=c.total,
            progress=round(c.done_share, 4),
            created_by=c.created_by,
            created_at=c.created_at,
            updated_at=c.updated_at,
            stations=[TargetOut.of(t) for t in targets] if targets is not None else None,
        )


def plan_of(body: CampaignBody) -> CampaignPlan:
    """The core's plan from the API's (and the console's) campaign body."""
    window = body.maintenance_window
    return CampaignPlan(
        name=body.name,
        image_id=body.image_id,
        selection=TargetSelection(
            site_id=body.target.site_id,
            model=body.target.model,
            vendor=body.target.vendor,
            firmware_version=body.target.firmware_version,
            station_ids=tuple(dict.fromkeys(body.target.station_ids)),
        ),
        pilot_size=body.pilot_size,
        batch_size=body.batch_size,
        window=MaintenanceWindow(time.fromisoformat(window.start), time.fromisoformat(window.end)) if window else None,
        max_failures=body.max_failures,
        max_failure_percent=body.max_failure_percent,
        signed=body.signed,
        retries=body.retries,
        retry_interval_s=body.retry_interval_s,
    )


def _result(outcome: UpdateOutcome) -> UpdateResult:
    command = CommandOut.of(outcome.command)
    raise_failure(command)  # offline 409, timeout 504, CALLERROR 502: as every command
    return UpdateResult(update=UpdateOut.of(outcome.update), command=command)


# Campaigns (before /firmware/{image_id}, which would take "campaigns" for an id)


@router.get("/firmware/campaigns", response_model=list[CampaignOut])
async def list_campaigns(core: CoreDep, _: Viewer) -> list[CampaignOut]:
    """Every campaign, newest first, with its counts per station state."""
    return [CampaignOut.of(c) for c in await core.firmware_campaigns.campaigns()]


@router.post("/firmware/campaigns", response_model=CampaignOut, status_code=status.HTTP_201_CREATED)
async def create_campaign(body: CampaignBody, core: CoreDep, user: Operator) -> CampaignOut:
    """A draft: its stations are chosen and batched now; POST .../start sets it going."""
    campaign = await core.firmware_campaigns.create(plan=plan_of(body), actor=user.username)
    return CampaignOut.of(campaign, await core.firmware_campaigns.targets(campaign.id))


@router.get("/firmware/campaigns/{campaign_id}", response_model=CampaignOut)
async def campaign(campaign_id: Id, core: CoreDep, _: Viewer) -> CampaignOut:
    """The campaign with each station's state (pending, in_progress, installed, failed, skipped)."""
    found = await core.firmware_campaigns.campaign(campaign_id)
    return CampaignOut.of(found, await core.firmware_campaigns.targets(campaign_id))


@router.post("/firmware/campaigns/{campaign_id}/start", response_model=CampaignOut)
async def start_campaign(campaign_id: Id, core: CoreDep, user: Operator) -> CampaignOut:
    return CampaignOut.of(await core.firmware_campaigns.start(campaign_id, actor=user.username))


@router.post("/firmware/campaigns/{campaign_id}/halt", response_model=CampaignOut)
async def halt_campaign(campaign_id: Id, core: CoreDep, user: Operator, body: HaltBody | None = None) -> CampaignOut:
    """No new station starts; those installing finish on their own."""
    reason = body.reason if body else None
    return CampaignOut.of(await core.firmware_campaigns.halt(campaign_id, actor=user.username, reason=reason))


@router.post("/firmware/campaigns/{campaign_id}/resume", response_model=CampaignOut)
async def resume_campaign(
    campaign_id: Id, core: CoreDep, user: Operator, body: ResumeBody | None = None
) -> CampaignOut:
    """Go on after a halt; the failure threshold counts failures from now (retry_failed: failed stations again)."""
    retry = body.retry_failed if body else False
    return CampaignOut.of(await core.firmware_campaigns.resume(campaign_id, actor=user.username, retry_failed=retry))


@router.post("/firmware/campaigns/{campaign_id}/abort", response_model=CampaignOut)
async def abort_campaign(campaign_id: Id, core: CoreDep, user: Operator) -> CampaignOut:
    """Final: stations not started are skipped."""
    return CampaignOut.of(await core.firmware_campaigns.abort(campaign_id, actor=user.username))


# Images


@router.get("/firmware", response_model=list[ImageOut])
async def list_images(core: CoreDep, _: Viewer) -> list[ImageOut]:
    return [ImageOut.of(i) for i in await core.firmware.images()]


@router.get("/firmware/{image_id}", response_model=ImageOut)
async def image(image_id: Id, core: CoreDep, _: Viewer) -> ImageOut:
    return ImageOut.of(await core.firmware.image(image_id))


@router.put("/firmware/{image_id}/signature", response_model=ImageOut)
async def set_signature(image_id: Id, body: SignatureBody, core: CoreDep, user: Operator) -> ImageOut:
    """The signing certificate and signature for signed updates (checked to parse; the station verifies them)."""
    return ImageOut.of(
        await core.firmware.set_signature(
            image_id, certificate=body.signing_certificate, signature=body.signature, actor=user.username
        )
    )


@router.delete("/firmware/{image_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_image(image_id: Id, core: CoreDep, user: Operator) -> Response:
    """409 while a campaign (draft, running or halted) uses it."""
    await core.firmware.delete_image(image_id, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/firmware/{image_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def image_content(image_id: Id, core: CoreDep, _: Viewer) -> StreamingResponse:
    found, chunks = await core.firmware.open_image(image_id)
    return await _stream(found, chunks)


# Updates


@router.post(
    "/stations/{station_id}/firmware-update",
    response_model=UpdateResult,
    responses=FAILURE_DOCS,
    summary="update a station's firmware (1.6 UpdateFirmware / SignedUpdateFirmware, 2.0.1 UpdateFirmware)",
)
async def update_station(station_id: str, body: UpdateBody, core: CoreDep, user: Operator) -> UpdateResult:
    await core.queries.station(station_id=StationId(station_id))  # 404 before anything is logged
    outcome = await core.firmware.update_station(
        station_id=StationId(station_id),
        image_id=body.image_id,
        actor=user.username,
        signed=body.signed,
        retrieve_at=body.retrieve_at,
        install_at=body.install_at,
        retries=body.retries,
        retry_interval_s=body.retry_interval_s,
        reason=body.reason,
    )
    return _result(outcome)


@router.post(
    "/stations/{station_id}/firmware-publish",
    response_model=UpdateResult,
    responses=FAILURE_DOCS,
    summary="2.0.1 PublishFirmware: a local controller serves the image",
)
async def publish(station_id: str, body: PublishBody, core: CoreDep, user: Operator) -> UpdateResult:
    await core.queries.station(station_id=StationId(station_id))
    outcome = await core.firmware.publish(
        station_id=StationId(station_id),
        image_id=body.image_id,
        actor=user.username,
        retries=body.retries,
        retry_interval_s=body.retry_interval_s,
        reason=body.reason,
    )
    return _result(outcome)


@router.post(
    "/stations/{station_id}/firmware-unpublish",
    response_model=CommandOut,
    responses=FAILURE_DOCS,
    summary="2.0.1 UnpublishFirmware",
)
async def unpublish(station_id: str, body: UnpublishBody, core: CoreDep, user: Operator) -> CommandOut:
    await core.queries.station(station_id=StationId(station_id))
    outcome = await core.firmware.unpublish(
        station_id=StationId(station_id), image_id=body.image_id, actor=user.username, reason=body.reason
    )
    command = CommandOut.of(outcome)
    raise_failure(command)
    return command


@router.get("/firmware-updates", response_model=UpdatePageOut)
async def list_updates(
    core: CoreDep,
    _: Viewer,
    station: Annotated[str | None, Query(min_length=1, max_length=64, description="one station's updates")] = None,
    campaign: Annotated[Id | None, Query(description="one campaign's updates")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> UpdatePageOut:
    """Update requests, newest first (without their history: GET /firmware-updates/{id} has it)."""
    items, total = await core.firmware.updates(
        station_id=StationId(station) if station else None, campaign_id=campaign, limit=limit, offset=offset
    )
    return UpdatePageOut(items=[UpdateOut.of(u) for u in items], total=total, limit=limit, offset=offset)


@router.get("/firmware-updates/{update_id}", response_model=UpdateOut)
async def firmware_update(update_id: Id, core: CoreDep, _: Viewer) -> UpdateOut:
    """Where an update stands, with every status the station reported."""
    return UpdateOut.of(await core.firmware.update(update_id))


# Upload (operators) and download (stations), streamed


async def _upload(
    *,
    request: Request,
    core: CoreDep,
    user: Operator,
    name: str,
    version: str,
    vendor: str | None,
    model: str | None,
    filename: str | None,
) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    declared = request.headers.get("content-length")
    limit = core.firmware.config.max_image_bytes
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return JSONResponse(
            {"detail": f"the image is larger than the {limit} bytes allowed (firmware.max_image_bytes)"},
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )
    chunks: AsyncIterator[bytes] = request.stream()
    try:
        if content_type.lower().startswith("multipart/"):
            form = MultipartFile(request.stream(), boundary_of(content_type))
            await form.open()
            chunks = form.chunks()
            filename = filename or form.filename
        image = await core.firmware.add_image(
            name=name,
            version=version,
            vendor=vendor,
            model=model,
            filename=filename,
            chunks=chunks,
            actor=user.username,
        )
    except MultipartError as exc:
        return JSONResponse({"detail": str(exc), "code": "upload_malformed"}, status_code=400)
    except ClientDisconnect:
        return JSONResponse({"detail": "the upload was cut off", "code": "upload_cut"}, status_code=400)
    return JSONResponse(ImageOut.of(image).model_dump(mode="json"), status_code=status.HTTP_201_CREATED)


Name = Annotated[str, Query(min_length=1, max_length=100, description="what operators call the image")]
Version = Annotated[str, Query(min_length=1, max_length=50, description="the version stations report after it")]
Vendor = Annotated[str | None, Query(min_length=1, max_length=50, description="for stations of this vendor")]
Model = Annotated[str | None, Query(min_length=1, max_length=50, description="for stations of this model")]
Filename = Annotated[str | None, Query(min_length=1, max_length=200, description="the file name stations see")]


@image_router.post("/firmware", status_code=201, response_model=ImageOut)
async def upload_multipart(
    *,
    request: Request,
    core: CoreDep,
    user: Operator,
    name: Name,
    version: Version,
    vendor: Vendor = None,
    model: Model = None,
    filename: Filename = None,
) -> JSONResponse:
    """Upload an image as multipart/form-data (its file part), or as the raw body; name and version in the query.
    Streamed into the file store with its size, SHA-256 and MD5."""
    return await _upload(
        request=request, core=core, user=user, name=name, version=version, vendor=vendor, model=model, filename=filename
    )


@image_router.put("/firmware", status_code=201, response_model=ImageOut)
async def upload_raw(
    *,
    request: Request,
    core: CoreDep,
    user: Operator,
    name: Name,
    version: Version,
    vendor: Vendor = None,
    model: Model = None,
    filename: Filename = None,
) -> JSONResponse:
    """Upload an image as the raw body; name and version in the query."""
    return await _upload(
        request=request, core=core, user=user, name=name, version=version, vendor=vendor, model=model, filename=filename
    )


async def _stream(found: FirmwareImage, chunks: AsyncIterator[bytes]) -> StreamingResponse:
    try:
        first = await anext(chunks, b"")
    except ObjectMissing:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"image {found.id} is recorded but its content is missing from the file store"
        ) from None

    async def body() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Content-Length": str(found.size),
            "ETag": f'"{found.sha256}"',
        },
    )


@download_router.get("/firmware-download/{token}/{filename}", response_class=StreamingResponse)
async def download(token: str, filename: str, core: CoreDep) -> Response:
    """The location sent in UpdateFirmware / PublishFirmware. A token belongs to one update request (one station,
    one image); the station may fetch again within its lifetime. 403 unknown token, 410 expired or finished."""
    try:
        found, chunks = await core.firmware.download(token)
    except DownloadRefusal as exc:
        return JSONResponse(
            {"detail": exc.message, "code": "download_gone" if exc.gone else "download_unknown"},
            status_code=status.HTTP_410_GONE if exc.gone else status.HTTP_403_FORBIDDEN,
        )
    return await _stream(found, chunks)
