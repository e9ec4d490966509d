"""Station files: operators ask stations for diagnostics and logs, list, download and delete them; stations upload
them to /upload/<token> with the one-time token of their request (HTTP PUT, or POST multipart/form-data)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, model_validator
from starlette.requests import ClientDisconnect

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.multipart import MultipartError, MultipartFile, boundary_of
from evscada.api.params import Id, Offset, Time
from evscada.api.routes.commands import FAILURE_DOCS, CommandBody, raise_failure
from evscada.api.schemas import CommandOut
from evscada.core.control.commands import LogType
from evscada.core.files.service import (
    FileKind,
    FileRequest,
    RequestOutcome,
    RequestStatus,
    StationFile,
    UploadRefusal,
    UploadRefused,
)
from evscada.core.files.store import ObjectMissing
from evscada.core.model import StationId

router = APIRouter(tags=["station files"])
upload_router = APIRouter(tags=["station files"])

Retries = Annotated[int | None, Field(None, ge=0, le=100, description="how often the station retries the upload")]
RetryInterval = Annotated[int | None, Field(None, ge=0, le=86_400, description="seconds between the station's retries")]


class DiagnosticsBody(CommandBody):
    start_time: Time | None = Field(None, description="the oldest information to include")
    stop_time: Time | None = Field(None, description="the latest information to include")
    retries: Retries = None
    retry_interval_s: RetryInterval = None

    @model_validator(mode="after")
    def _ordered(self) -> DiagnosticsBody:
        if self.start_time and self.stop_time and self.stop_time < self.start_time:
            raise ValueError("stop_time must not be before start_time")
        return self


class LogBody(CommandBody):
    log_type: LogType = Field(LogType.DIAGNOSTICS, description="DiagnosticsLog or SecurityLog")
    oldest: Time | None = Field(None, description="the oldest entry to include")
    latest: Time | None = Field(None, description="the latest entry to include")
    retries: Retries = None
    retry_interval_s: RetryInterval = None

    @model_validator(mode="after")
    def _ordered(self) -> LogBody:
        if self.oldest and self.latest and self.latest < self.oldest:
            raise ValueError("latest must not be before oldest")
        return self


class FileRequestOut(BaseModel):
    id: int  # also the OCPP requestId of a GetLog
    station_id: str
    kind: FileKind
    status: RequestStatus
    station_status: str | None
    command_id: int | None
    filename: str | None
    requested_by: str
    requested_at: datetime
    updated_at: datetime
    upload_expires_at: datetime
    file_id: int | None

    @classmethod
    def of(cls, r: FileRequest) -> FileRequestOut:
        return cls(
            id=r.id,
            station_id=r.station_id,
            kind=r.kind,
            status=r.status,
            station_status=r.station_status,
            command_id=r.command_id,
            filename=r.filename,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
            updated_at=r.updated_at,
            upload_expires_at=r.token_expires_at,
            file_id=r.file_id,
        )


class FileRequestResult(BaseModel):
    request: FileRequestOut
    command: CommandOut


class FileOut(BaseModel):
    id: int
    station_id: str
    kind: FileKind
    request_id: int
    command_id: int | None
    filename: str
    size: int
    sha256: str
    content_type: str
    received_at: datetime

    @classmethod
    def of(cls, f: StationFile) -> FileOut:
        return cls(
            id=f.id,
            station_id=f.station_id,
            kind=f.kind,
            request_id=f.request_id,
            command_id=f.command_id,
            filename=f.filename,
            size=f.size,
            sha256=f.sha256,
            content_type=f.content_type,
            received_at=f.received_at,
        )


class FilePageOut(BaseModel):
    items: list[FileOut]
    total: int
    limit: int
    offset: int


def _result(outcome: RequestOutcome) -> FileRequestResult:
    command = CommandOut.of(outcome.command)
    raise_failure(command)  # offline 409, timeout 504, CALLERROR 502: as every command
    return FileRequestResult(request=FileRequestOut.of(outcome.request), command=command)


@router.post(
    "/stations/{station_id}/diagnostics",
    response_model=FileRequestResult,
    responses=FAILURE_DOCS,
    summary="ask a 1.6 station for its diagnostics file",
)
async def request_diagnostics(
    station_id: str, body: DiagnosticsBody, core: CoreDep, user: Operator
) -> FileRequestResult:
    """GetDiagnostics with a one-time upload location; the file arrives later (GET /files?station=...)."""
    await core.queries.station(station_id=StationId(station_id))  # 404 before anything is logged
    outcome = await core.files.request_diagnostics(
        station_id=StationId(station_id),
        actor=user.username,
        start_time=body.start_time,
        stop_time=body.stop_time,
        retries=body.retries,
        retry_interval_s=body.retry_interval_s,
        reason=body.reason,
    )
    return _result(outcome)


@router.post(
    "/stations/{station_id}/logs",
    response_model=FileRequestResult,
    responses=FAILURE_DOCS,
    summary="ask a station for a diagnostics or security log",
)
async def request_log(station_id: str, body: LogBody, core: CoreDep, user: Operator) -> FileRequestResult:
    """GetLog (1.6 security extension, 2.0.1); the request's id is the OCPP requestId its notifications name."""
    await core.queries.station(station_id=StationId(station_id))
    outcome = await core.files.request_log(
        station_id=StationId(station_id),
        log_type=body.log_type,
        actor=user.username,
        oldest=body.oldest,
        latest=body.latest,
        retries=body.retries,
        retry_interval_s=body.retry_interval_s,
        reason=body.reason,
    )
    return _result(outcome)


@router.get("/file-requests/{request_id}", response_model=FileRequestOut)
async def file_request(request_id: Id, core: CoreDep, _: Viewer) -> FileRequestOut:
    """Where a request stands: accepted, uploading, uploaded, upload_failed, received (then file_id names the file)."""
    return FileRequestOut.of(await core.files.request(request_id))


@router.get("/files", response_model=FilePageOut)
async def list_files(
    core: CoreDep,
    _: Viewer,
    station: Annotated[str | None, Query(min_length=1, max_length=64, description="one station's files")] = None,
    kind: Annotated[FileKind | None, Query(description="diagnostics, diagnostics_log or security_log")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> FilePageOut:
    """Station files, newest first."""
    page = await core.files.files(
        station_id=StationId(station) if station else None, kind=kind, limit=limit, offset=offset
    )
    return FilePageOut(items=[FileOut.of(f) for f in page.files], total=page.total, limit=limit, offset=offset)


@router.get("/files/{file_id}", response_model=FileOut)
async def file_metadata(file_id: Id, core: CoreDep, _: Viewer) -> FileOut:
    return FileOut.of(await core.files.file(file_id))


@router.get(
    "/files/{file_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"description": "no such file"}},
)
async def file_content(file_id: Id, core: CoreDep, _: Viewer) -> StreamingResponse:
    """The file as the station uploaded it, streamed; ETag is its SHA-256."""
    found, chunks = await core.files.open(file_id)
    try:
        first = await anext(chunks, b"")
    except ObjectMissing:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"file {file_id} is recorded but its content is missing from the file store"
        ) from None

    async def body() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(
        body(),
        media_type=found.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Content-Length": str(found.size),
            "ETag": f'"{found.sha256}"',
        },
    )


@router.delete("/files/{file_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_file(file_id: Id, core: CoreDep, user: Operator) -> Response:
    await core.files.delete(file_id, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Stations' uploads: no API key (the one-time token is the credential), no JSON body checks, a streamed body.

_REFUSAL_STATUS = {
    UploadRefusal.UNKNOWN: status.HTTP_403_FORBIDDEN,
    UploadRefusal.USED: status.HTTP_410_GONE,
    UploadRefusal.EXPIRED: status.HTTP_410_GONE,
    UploadRefusal.TOO_LARGE: status.HTTP_413_CONTENT_TOO_LARGE,
}


def _refused(exc: UploadRefused) -> JSONResponse:
    return JSONResponse(
        {"detail": exc.message, "code": f"upload_{exc.reason}"}, status_code=_REFUSAL_STATUS[exc.reason]
    )


async def _upload(request: Request, core: CoreDep, token: str, filename: str | None) -> JSONResponse:
    try:
        await core.files.check_token(token)
        declared = request.headers.get("content-length")
        limit = core.files.config.max_upload_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise UploadRefused(UploadRefusal.TOO_LARGE, f"the file is larger than the {limit} bytes the CSMS accepts")
        content_type = request.headers.get("content-type", "")
        chunks: AsyncIterator[bytes] = request.stream()
        if request.method == "POST" and content_type.lower().startswith("multipart/"):
            try:
                form = MultipartFile(request.stream(), boundary_of(content_type))
                await form.open()
            except MultipartError as exc:
                return JSONResponse({"detail": str(exc), "code": "upload_malformed"}, status_code=400)
            chunks, content_type = form.chunks(), form.content_type or ""
            filename = filename or form.filename
        kept = await core.files.receive(
            token=token, filename=filename, content_type=content_type or None, chunks=chunks
        )
    except UploadRefused as exc:
        return _refused(exc)
    except ClientDisconnect:  # the station went away mid-upload: nothing was kept, and no one hears an answer
        return JSONResponse({"detail": "the upload was cut off", "code": "upload_cut"}, status_code=400)
    except MultipartError as exc:
        return JSONResponse({"detail": str(exc), "code": "upload_malformed"}, status_code=400)
    return JSONResponse({"size": kept.size, "sha256": kept.sha256}, status_code=status.HTTP_201_CREATED)


async def upload(request: Request, core: CoreDep, token: str) -> JSONResponse:
    """The location sent in GetDiagnostics / GetLog: PUT the file as the body, or POST it as multipart/form-data.
    403 unknown token, 410 used or expired, 413 too large; nothing is kept then."""
    return await _upload(request, core, token, None)


async def upload_named(request: Request, core: CoreDep, token: str, filename: str) -> JSONResponse:
    """As /upload/{token}, for stations that append the file's name to the location."""
    return await _upload(request, core, token, filename)


for _method in ("PUT", "POST"):  # one route per method: OpenAPI gives each its own operation
    upload_router.add_api_route(
        "/upload/{token}", upload, methods=[_method], status_code=201, name=f"upload_{_method.lower()}"
    )
    upload_router.add_api_route(
        "/upload/{token}/{filename}",
        upload_named,
        methods=[_method],
        status_code=201,
        name=f"upload_named_{_method.lower()}",
    )
