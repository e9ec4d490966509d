"""SQL for station files: requests with their upload tokens, and the files received."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.files.service import (
    FileKind,
    FilePage,
    FileRequest,
    NewFile,
    NewRequest,
    RequestStatus,
    StationFile,
)
from evscada.core.model import StationId
from evscada.storage import tables as t

_req = t.file_requests.c
_file = t.station_files.c
# Still waiting for its file: a late status notification names one of these.
# A file's command is its request's: a quick station uploads before its answer to the request is recorded, so the
# command is read from the request when the file row has none.
_COMMAND = select(_req.command_id).where(_req.id == _file.request_id).scalar_subquery()
_FILES = select(
    *(column for column in t.station_files.c if column.name != "command_id"),
    func.coalesce(_file.command_id, _COMMAND).label("command_id"),
)
_OPEN = (RequestStatus.REQUESTED, RequestStatus.ACCEPTED, RequestStatus.UPLOADING, RequestStatus.UPLOADED)


def _request(row: Any) -> FileRequest:
    return FileRequest(
        id=row.id,
        station_id=StationId(row.station_id),
        kind=FileKind(row.kind),
        status=RequestStatus(row.status),
        station_status=row.station_status,
        command_id=row.command_id,
        filename=row.filename,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        updated_at=row.updated_at,
        token_expires_at=row.token_expires_at,
        token_used_at=row.token_used_at,
        file_id=row.file_id,
    )


def _station_file(row: Any) -> StationFile:
    return StationFile(
        id=row.id,
        station_id=StationId(row.station_id),
        kind=FileKind(row.kind),
        request_id=row.request_id,
        command_id=row.command_id,
        filename=row.filename,
        size=row.size,
        sha256=row.sha256,
        content_type=row.content_type,
        received_at=row.received_at,
        storage_key=row.storage_key,
    )


class SqlFiles:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add_request(self, *, request: NewRequest) -> int:
        result = await self._c.execute(
            insert(t.file_requests)
            .values(
                station_id=request.station_id,
                kind=str(request.kind),
                status=str(RequestStatus.REQUESTED),
                token_hash=request.token_hash,
                token_expires_at=request.token_expires_at,
                requested_by=request.requested_by,
                requested_at=request.requested_at,
                updated_at=request.requested_at,
            )
            .returning(_req.id)
        )
        return int(result.scalar_one())

    async def request(self, *, request_id: int) -> FileRequest | None:
        row = (await self._c.execute(select(t.file_requests).where(_req.id == request_id))).first()
        return _request(row) if row is not None else None

    async def request_by_token(self, *, token_hash: str) -> FileRequest | None:
        row = (await self._c.execute(select(t.file_requests).where(_req.token_hash == token_hash))).first()
        return _request(row) if row is not None else None

    async def latest_request(self, *, station_id: StationId, kinds: Sequence[FileKind]) -> FileRequest | None:
        statement = (
            select(t.file_requests)
            .where(
                _req.station_id == station_id,
                _req.kind.in_([str(k) for k in kinds]),
                _req.status.in_([str(s) for s in _OPEN]),
            )
            .order_by(_req.id.desc())
            .limit(1)
        )
        row = (await self._c.execute(statement)).first()
        return _request(row) if row is not None else None

    async def answered(
        self, *, request_id: int, command_id: int, status: RequestStatus, filename: str | None, at: datetime
    ) -> None:
        values: dict[str, Any] = {"command_id": command_id, "filename": filename, "updated_at": at}
        # A status notification may have moved it on already; only a request still "requested" takes the answer.
        await self._c.execute(update(t.file_requests).where(_req.id == request_id).values(**values))
        await self._c.execute(
            update(t.file_requests)
            .where(_req.id == request_id, _req.status == str(RequestStatus.REQUESTED))
            .values(status=str(status))
        )

    async def set_status(self, *, request_id: int, status: RequestStatus, station_status: str, at: datetime) -> None:
        await self._c.execute(
            update(t.file_requests)
            .where(_req.id == request_id)
            .values(status=str(status), station_status=station_status or None, updated_at=at)
        )

    async def use_token(self, *, request_id: int, at: datetime) -> bool:
        result = await self._c.execute(
            update(t.file_requests)
            .where(_req.id == request_id, _req.token_used_at.is_(None))
            .values(token_used_at=at, updated_at=at)
        )
        return bool(result.rowcount == 1)

    async def add_file(self, *, file: NewFile) -> int:
        result = await self._c.execute(
            insert(t.station_files)
            .values(
                station_id=file.station_id,
                kind=str(file.kind),
                request_id=file.request_id,
                command_id=file.command_id,
                filename=file.filename,
                size=file.size,
                sha256=file.sha256,
                content_type=file.content_type,
                received_at=file.received_at,
                storage_key=file.storage_key,
            )
            .returning(_file.id)
        )
        file_id = int(result.scalar_one())
        await self._c.execute(
            update(t.file_requests)
            .where(_req.id == file.request_id)
            .values(file_id=file_id, status=str(RequestStatus.RECEIVED), updated_at=file.received_at)
        )
        return file_id

    async def file(self, *, file_id: int) -> StationFile | None:
        row = (await self._c.execute(_FILES.where(_file.id == file_id))).first()
        return _station_file(row) if row is not None else None

    async def files(self, *, station_id: StationId | None, kind: FileKind | None, limit: int, offset: int) -> FilePage:
        where = []
        if station_id is not None:
            where.append(_file.station_id == station_id)
        if kind is not None:
            where.append(_file.kind == str(kind))
        rows = await self._c.execute(
            _FILES
            .where(*where)
            .order_by(_file.received_at.desc(), _file.id.desc())
            .limit(limit)
            .offset(offset)
        )
        total = await self._c.execute(select(func.count()).select_from(t.station_files).where(*where))
        return FilePage(files=[_station_file(row) for row in rows], total=int(total.scalar_one()))

    async def delete_file(self, *, file_id: int) -> StationFile | None:
        found = await self.file(file_id=file_id)
        if found is None:
            return None
        await self._c.execute(delete(t.station_files).where(_file.id == file_id))
        await self._c.execute(update(t.file_requests).where(_req.file_id == file_id).values(file_id=None))
        return found

    async def received_before(self, *, cutoff: datetime, limit: int) -> list[StationFile]:
        rows = await self._c.execute(
            _FILES.where(_file.received_at < cutoff).order_by(_file.received_at, _file.id).limit(limit)
        )
        return [_station_file(row) for row in rows]

    async def oldest_files(self, *, limit: int) -> list[StationFile]:
        rows = await self._c.execute(_FILES.order_by(_file.received_at, _file.id).limit(limit))
        return [_station_file(row) for row in rows]

    async def total_size(self) -> int:
        result = await self._c.execute(select(func.coalesce(func.sum(_file.size), 0)))
        return int(result.scalar_one())
