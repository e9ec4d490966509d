"""Station files: the CSMS asks a station for diagnostics or a log with a one-time upload token in the location,
the station uploads to the HTTP endpoint, the file is kept with its size and SHA-256, and old files are swept."""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from evscada.core.access.audit import Auditor, AuditRepository
from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported, InvalidArgument, NotFound
from evscada.core.files.store import FileStore, ObjectTooLarge
from evscada.core.model import StationId
from evscada.core.ports import Clock, Store

log = logging.getLogger(__name__)


class FileKind(enum.StrEnum):
    DIAGNOSTICS = "diagnostics"  # 1.6 GetDiagnostics
    DIAGNOSTICS_LOG = "diagnostics_log"  # GetLog DiagnosticsLog
    SECURITY_LOG = "security_log"  # GetLog SecurityLog


LOG_KINDS = {c.LogType.DIAGNOSTICS: FileKind.DIAGNOSTICS_LOG, c.LogType.SECURITY: FileKind.SECURITY_LOG}


class RequestStatus(enum.StrEnum):
    REQUESTED = "requested"  # the command is under way
    NOT_SENT = "not_sent"  # offline, no answer, a CALLERROR or a version without the message
    REJECTED = "rejected"  # the station said no (or, 1.6 GetDiagnostics, named no file)
    ACCEPTED = "accepted"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"  # the station says so
    UPLOAD_FAILED = "upload_failed"
    RECEIVED = "received"  # the CSMS has the file


# A station's status words (1.6 DiagnosticsStatus, 1.6 security and 2.0.1 UploadLogStatus) in ours; Idle says
# nothing about a request.
STATION_WORDS = {
    "Uploading": RequestStatus.UPLOADING,
    "Uploaded": RequestStatus.UPLOADED,
    "UploadFailed": RequestStatus.UPLOAD_FAILED,
    "UploadFailure": RequestStatus.UPLOAD_FAILED,
    "BadMessage": RequestStatus.UPLOAD_FAILED,
    "NotSupportedOperation": RequestStatus.UPLOAD_FAILED,
    "PermissionDenied": RequestStatus.UPLOAD_FAILED,
    "AcceptedCanceled": RequestStatus.UPLOAD_FAILED,  # a later request replaced this one
}
# Once the file is here, a late "Uploading" or "Uploaded" must not take the request back.
_FINAL = frozenset({RequestStatus.RECEIVED, RequestStatus.REJECTED, RequestStatus.NOT_SENT})


@dataclass(frozen=True, slots=True)
class FileConfig:
    max_upload_bytes: int = 100 << 20
    token_lifetime: timedelta = timedelta(hours=1)
    max_age: timedelta | None = timedelta(days=90)  # None: files are kept whatever their age
    max_total_bytes: int | None = None  # None: no limit on the total


@dataclass(frozen=True, slots=True)
class FileRequest:
    """One request to a station for a file; its id is the OCPP requestId of a GetLog."""

    id: int
    station_id: StationId
    kind: FileKind
    status: RequestStatus
    station_status: str | None  # the station's last word (Uploading, UploadFailure ...)
    command_id: int | None
    filename: str | None  # as the station announced it in its answer
    requested_by: str
    requested_at: datetime
    updated_at: datetime
    token_expires_at: datetime
    token_used_at: datetime | None
    file_id: int | None


@dataclass(frozen=True, slots=True)
class StationFile:
    id: int
    station_id: StationId
    kind: FileKind
    request_id: int
    command_id: int | None
    filename: str
    size: int
    sha256: str
    content_type: str
    received_at: datetime
    storage_key: str


@dataclass(frozen=True, slots=True)
class NewRequest:
    station_id: StationId
    kind: FileKind
    token_hash: str
    token_expires_at: datetime
    requested_by: str
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class NewFile:
    station_id: StationId
    kind: FileKind
    request_id: int
    command_id: int | None
    filename: str
    size: int
    sha256: str
    content_type: str
    received_at: datetime
    storage_key: str


@dataclass(frozen=True, slots=True)
class FilePage:
    files: list[StationFile]
    total: int


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What asking a station gave: the request as now recorded and the command's outcome."""

    request: FileRequest
    command: c.CommandOutcome


@dataclass(frozen=True, slots=True)
class SweepResult:
    by_age: int = 0
    by_size: int = 0
    freed_bytes: int = 0
    kept_bytes: int = 0


class UploadRefusal(enum.StrEnum):
    UNKNOWN = "unknown"  # no such token (or a request the station did not accept)
    USED = "used"
    EXPIRED = "expired"
    TOO_LARGE = "too_large"


class UploadRefused(Exception):
    """An upload not kept; the HTTP endpoint answers 403, 410 or 413 with the message."""

    def __init__(self, reason: UploadRefusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class FileRepository(Protocol):
    async def add_request(self, *, request: NewRequest) -> int: ...

    async def request(self, *, request_id: int) -> FileRequest | None: ...

    async def request_by_token(self, *, token_hash: str) -> FileRequest | None: ...

    async def latest_request(self, *, station_id: StationId, kinds: Sequence[FileKind]) -> FileRequest | None:
        """The station's newest request of these kinds that is still waiting for its file."""
        ...

    async def answered(
        self, *, request_id: int, command_id: int, status: RequestStatus, filename: str | None, at: datetime
    ) -> None:
        """The station's answer to the request; a request not accepted can no longer be uploaded to."""
        ...

    async def set_status(
        self, *, request_id: int, status: RequestStatus, station_status: str, at: datetime
    ) -> None: ...

    async def use_token(self, *, request_id: int, at: datetime) -> bool:
        """Mark the token used, unless it was already: False then (another upload won)."""
        ...

    async def add_file(self, *, file: NewFile) -> int:
        """Keep the file's record and link its request to it (status received)."""
        ...

    async def file(self, *, file_id: int) -> StationFile | None: ...

    async def files(
        self, *, station_id: StationId | None, kind: FileKind | None, limit: int, offset: int
    ) -> FilePage: ...

    async def delete_file(self, *, file_id: int) -> StationFile | None: ...

    async def received_before(self, *, cutoff: datetime, limit: int) -> list[StationFile]:
        """The oldest files received before cutoff."""
        ...

    async def oldest_files(self, *, limit: int) -> list[StationFile]: ...

    async def total_size(self) -> int: ...


class FileUnit(Protocol):
    files: FileRepository
    audit: AuditRepository


class Commands(Protocol):
    async def send(
        self, *, station_id: StationId, command: c.Command, actor: str, reason: str | None = None
    ) -> c.CommandOutcome: ...


def token_digest(token: str) -> str:
    """Tokens are kept as their SHA-256: a copy of the database lets no one upload."""
    return hashlib.sha256(token.encode()).hexdigest()


_UNSAFE = re.compile(r"[^A-Za-z0-9._+@=-]+")
FILENAME_MAX = 200


def safe_filename(name: str | None, fallback: str) -> str:
    """A name to show and to offer on download: the last path part, plain characters only, never empty or hidden."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._")[:FILENAME_MAX]
    return cleaned or fallback


class FileService:
    def __init__(
        self,
        *,
        store: Store[FileUnit],
        clock: Clock,
        commands: Commands,
        file_store: FileStore,
        config: FileConfig,
        audit: Auditor | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._commands = commands
        self._files = file_store
        self.config = config
        self._audit = audit or Auditor(clock=clock)
        # Where stations upload: set by the composition root once the HTTP listener is up (its port may be chosen
        # by the system); None: this process takes no uploads.
        self.upload_base_url: str | None = None

    @property
    def file_store(self) -> FileStore:
        return self._files

    # Asking a station

    async def request_diagnostics(
        self,
        *,
        station_id: StationId,
        actor: str,
        start_time: datetime | None = None,
        stop_time: datetime | None = None,
        retries: int | None = None,
        retry_interval_s: int | None = None,
        reason: str | None = None,
    ) -> RequestOutcome:
        """1.6 GetDiagnostics with a one-time upload location."""
        _check_window(start_time, stop_time, "start_time", "stop_time")
        return await self._ask(
            station_id=station_id,
            kind=FileKind.DIAGNOSTICS,
            actor=actor,
            reason=reason,
            command=lambda location, _: c.GetDiagnostics(
                location=location,
                retries=retries,
                retry_interval_s=retry_interval_s,
                start_time=start_time,
                stop_time=stop_time,
            ),
        )

    async def request_log(
        self,
        *,
        station_id: StationId,
        log_type: c.LogType,
        actor: str,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        retries: int | None = None,
        retry_interval_s: int | None = None,
        reason: str | None = None,
    ) -> RequestOutcome:
        """GetLog (1.6 security extension, 2.0.1); the request's id is the OCPP requestId."""
        _check_window(oldest, latest, "oldest", "latest")
        return await self._ask(
            station_id=station_id,
            kind=LOG_KINDS[log_type],
            actor=actor,
            reason=reason,
            command=lambda location, request_id: c.GetLog(
                log_type=log_type,
                location=location,
                request_id=request_id,
                oldest=oldest,
                latest=latest,
                retries=retries,
                retry_interval_s=retry_interval_s,
            ),
        )

    async def _ask(
        self,
        *,
        station_id: StationId,
        kind: FileKind,
        actor: str,
        reason: str | None,
        command: Callable[[str, int], c.Command],
    ) -> RequestOutcome:
        base = self.upload_base_url
        if base is None:
            raise InvalidArgument(
                "this process has no HTTP listener for uploads: set http_port (and files.public_base_url)"
            )
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._store.unit() as uow:
            request_id = await uow.files.add_request(
                request=NewRequest(
                    station_id=station_id,
                    kind=kind,
                    token_hash=token_digest(token),
                    token_expires_at=now + self.config.token_lifetime,
                    requested_by=actor,
                    requested_at=now,
                )
            )
        # Stations that append the file name upload to .../upload/<token>/<name>; the endpoint takes both.
        location = f"{base.rstrip('/')}/upload/{token}"
        try:
            outcome = await self._commands.send(
                station_id=station_id, command=command(location, request_id), actor=actor, reason=reason
            )
        except CommandNotSupported:
            async with self._store.unit() as uow:
                await uow.files.set_status(
                    request_id=request_id, status=RequestStatus.NOT_SENT, station_status="", at=self._clock.now()
                )
            raise
        status, filename = _answer(outcome)
        async with self._store.unit() as uow:
            await uow.files.answered(
                request_id=request_id,
                command_id=outcome.command_id,
                status=status,
                filename=filename,
                at=outcome.finished_at,
            )
            request = await uow.files.request(request_id=request_id)
        assert request is not None
        return RequestOutcome(request=request, command=outcome)

    # What stations report

    async def station_reported(
        self, *, station_id: StationId, word: str, request_id: int | None, diagnostics: bool
    ) -> None:
        """A Diagnostics/LogStatusNotification: move the request it names (1.6 diagnostics: the station's latest)."""
        status = STATION_WORDS.get(word)
        if status is None:
            return
        async with self._store.unit() as uow:
            if diagnostics:
                request = await uow.files.latest_request(station_id=station_id, kinds=[FileKind.DIAGNOSTICS])
            elif request_id is not None:
                request = await uow.files.request(request_id=request_id)
            else:
                request = None
            if request is None or request.station_id != station_id or request.status in _FINAL:
                return
            if request.kind is FileKind.DIAGNOSTICS and not diagnostics:
                return  # a log status cannot name a diagnostics request
            await uow.files.set_status(request_id=request.id, status=status, station_status=word, at=self._clock.now())

    # Uploads

    async def check_token(self, token: str) -> FileRequest:
        """The request a token belongs to, if an upload may use it now; otherwise UploadRefused."""
        async with self._store.unit() as uow:
            request = await uow.files.request_by_token(token_hash=token_digest(token))
        return self._usable(request)

    def _usable(self, request: FileRequest | None) -> FileRequest:
        if request is None or request.status in (RequestStatus.REJECTED, RequestStatus.NOT_SENT):
            raise UploadRefused(UploadRefusal.UNKNOWN, "unknown upload token: ask the station again for the file")
        if request.token_used_at is not None:
            raise UploadRefused(UploadRefusal.USED, "this upload token was used already: each request takes one file")
        if self._clock.now() >= request.token_expires_at:
            raise UploadRefused(UploadRefusal.EXPIRED, "this upload token has expired: ask the station again")
        return request

    async def receive(
        self, *, token: str, filename: str | None, content_type: str | None, chunks: AsyncIterable[bytes]
    ) -> StationFile:
        """Keep an upload: streamed into the file store, then recorded and the token used, or nothing kept."""
        request = await self.check_token(token)
        key = f"{request.id}-{uuid.uuid4().hex}"  # nothing a station chose: safe as a file name
        limit = self.config.max_upload_bytes
        try:
            stored = await self._files.put(key, chunks, max_bytes=limit)
        except ObjectTooLarge:
            raise UploadRefused(
                UploadRefusal.TOO_LARGE, f"the file is larger than the {limit} bytes the CSMS accepts"
            ) from None
        fallback = f"{request.kind}-{request.station_id}-{request.id}.log"
        name = safe_filename(filename or request.filename, safe_filename(fallback, "station-file.log"))
        try:
            async with self._store.unit() as uow:
                if not await uow.files.use_token(request_id=request.id, at=self._clock.now()):
                    raise UploadRefused(UploadRefusal.USED, "this upload token was used already by another upload")
                file_id = await uow.files.add_file(
                    file=NewFile(
                        station_id=request.station_id,
                        kind=request.kind,
                        request_id=request.id,
                        command_id=request.command_id,
                        filename=name,
                        size=stored.size,
                        sha256=stored.sha256,
                        content_type=(content_type or "application/octet-stream")[:100],
                        received_at=self._clock.now(),
                        storage_key=stored.key,
                    )
                )
                kept = await uow.files.file(file_id=file_id)
        except BaseException:
            await asyncio.shield(self._files.delete(stored.key))
            raise
        assert kept is not None
        log.info("%s: received %s (%d bytes, request %d)", kept.station_id, kept.filename, kept.size, request.id)
        return kept

    # Operators

    async def file(self, file_id: int) -> StationFile:
        async with self._store.unit() as uow:
            found = await uow.files.file(file_id=file_id)
        if found is None:
            raise NotFound(f"no station file {file_id}")
        return found

    async def request(self, request_id: int) -> FileRequest:
        async with self._store.unit() as uow:
            found = await uow.files.request(request_id=request_id)
        if found is None:
            raise NotFound(f"no file request {request_id}")
        return found

    async def files(
        self,
        *,
        station_id: StationId | None = None,
        kind: FileKind | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> FilePage:
        async with self._store.unit() as uow:
            return await uow.files.files(station_id=station_id, kind=kind, limit=limit, offset=offset)

    async def open(self, file_id: int) -> tuple[StationFile, AsyncIterator[bytes]]:
        found = await self.file(file_id)
        return found, self._files.open(found.storage_key)

    async def delete(self, file_id: int, *, actor: str) -> StationFile:
        async with self._store.unit() as uow:
            deleted = await uow.files.delete_file(file_id=file_id)
            if deleted is None:
                raise NotFound(f"no station file {file_id}")
            await self._audit.record(
                uow,
                actor=actor,
                action="file.delete",
                target_type="station_file",
                target_id=file_id,
                details={"station_id": deleted.station_id, "filename": deleted.filename, "size": deleted.size},
            )
        await self._files.delete(deleted.storage_key)
        return deleted

    # Retention

    async def sweep(self, *, batch: int = 500) -> SweepResult:
        """Delete files past their age, then the oldest while the total is above the limit."""
        by_age = by_size = freed = 0
        if self.config.max_age is not None:
            cutoff = self._clock.now() - self.config.max_age
            while old := await self._oldest(lambda uow: uow.files.received_before(cutoff=cutoff, limit=batch)):
                freed += await self._remove(old)
                by_age += len(old)
                if len(old) < batch:
                    break
        async with self._store.unit() as uow:
            total = await uow.files.total_size()
        limit = self.config.max_total_bytes
        while limit is not None and total > limit:
            oldest = await self._oldest(lambda uow: uow.files.oldest_files(limit=batch))
            if not oldest:
                break
            chosen: list[StationFile] = []
            for found in oldest:
                if total <= limit:
                    break
                chosen.append(found)
                total -= found.size
            freed += await self._remove(chosen)
            by_size += len(chosen)
        result = SweepResult(by_age=by_age, by_size=by_size, freed_bytes=freed, kept_bytes=max(total, 0))
        if by_age or by_size:
            log.info(
                "station files retention: deleted %d past their age and %d over the size limit (%d bytes freed)",
                by_age,
                by_size,
                freed,
            )
        return result

    async def _oldest(self, read: Callable[[Any], Any]) -> list[StationFile]:
        async with self._store.unit() as uow:
            found: list[StationFile] = await read(uow)
        return found

    async def _remove(self, files: Sequence[StationFile]) -> int:
        freed = 0
        for found in files:
            async with self._store.unit() as uow:
                deleted = await uow.files.delete_file(file_id=found.id)
            if deleted is not None:
                await self._files.delete(deleted.storage_key)
                freed += deleted.size
        return freed

    async def keep_swept(self, interval: float) -> None:
        """The retention loop app.py runs: one sweep now, then one every interval; a failure waits for the next."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("station files retention failed; retrying in %.0f s", interval)
            await asyncio.sleep(interval)


def _check_window(start: datetime | None, end: datetime | None, start_name: str, end_name: str) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidArgument(f"{end_name} must not be before {start_name}", field=end_name)


def _answer(outcome: c.CommandOutcome) -> tuple[RequestStatus, str | None]:
    """The request's status and the file name from the command's outcome (1.6 fileName, 2.0.1 filename)."""
    if outcome.outcome != c.CommandOutcomeKind.ANSWERED:
        return RequestStatus.NOT_SENT, None
    filename = outcome.data.get("fileName") or outcome.data.get("filename")
    if outcome.command == c.GetDiagnostics.name:  # no status word: no file name means nothing to upload
        return (RequestStatus.ACCEPTED if filename else RequestStatus.REJECTED), filename
    accepted = outcome.status in ("Accepted", "AcceptedCanceled")
    return (RequestStatus.ACCEPTED if accepted else RequestStatus.REJECTED), filename
