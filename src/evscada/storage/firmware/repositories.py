"""SQL for firmware: images, update requests with their status history, campaigns and their stations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.firmware.model import (
    Campaign,
    CampaignPlan,
    CampaignStatus,
    CampaignTarget,
    FirmwareImage,
    FirmwareUpdate,
    MaintenanceWindow,
    NewImage,
    NewUpdate,
    StatusChange,
    TargetSelection,
    TargetState,
    UpdateKind,
    UpdateStatus,
)
from evscada.core.model import StationId
from evscada.storage import tables as t

_img = t.firmware_images.c
_upd = t.firmware_updates.c
_hist = t.firmware_status_history.c
_camp = t.firmware_campaigns.c
_tgt = t.firmware_campaign_stations.c
_st = t.stations.c
_OPEN = [str(s) for s in UpdateStatus if not s.final]
_LIVE_CAMPAIGNS = [str(CampaignStatus.DRAFT), str(CampaignStatus.RUNNING), str(CampaignStatus.HALTED)]


def _image(row: Any) -> FirmwareImage:
    return FirmwareImage(
        id=row.id,
        name=row.name,
        version=row.version,
        vendor=row.vendor,
        model=row.model,
        filename=row.filename,
        size=row.size,
        sha256=row.sha256,
        md5=row.md5,
        storage_key=row.storage_key,
        signing_certificate=row.signing_certificate,
        signature=row.signature,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
    )


def _update(row: Any, history: tuple[StatusChange, ...] = ()) -> FirmwareUpdate:
    return FirmwareUpdate(
        id=row.id,
        station_id=StationId(row.station_id),
        image_id=row.image_id,
        campaign_id=row.campaign_id,
        kind=UpdateKind(row.kind),
        status=UpdateStatus(row.status),
        station_status=row.station_status,
        command_id=row.command_id,
        version=row.version,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        updated_at=row.updated_at,
        token_expires_at=row.token_expires_at,
        downloads=row.downloads,
        history=history,
    )


def _clock_time(text: str | None) -> time | None:
    return time.fromisoformat(text) if text else None


def _plan(row: Any) -> CampaignPlan:
    target = row.target or {}
    start, end = _clock_time(row.window_start), _clock_time(row.window_end)
    return CampaignPlan(
        name=row.name,
        image_id=row.image_id,
        selection=TargetSelection(
            site_id=target.get("site_id"),
            model=target.get("model"),
            vendor=target.get("vendor"),
            firmware_version=target.get("firmware_version"),
            station_ids=tuple(target.get("station_ids") or ()),
        ),
        pilot_size=row.pilot_size,
        batch_size=row.batch_size,
        window=MaintenanceWindow(start, end) if start is not None and end is not None else None,
        max_failures=row.max_failures,
        max_failure_percent=row.max_failure_percent,
        signed=row.signed,
        retries=row.retries,
        retry_interval_s=row.retry_interval_s,
    )


class SqlFirmware:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    # Images

    async def add_image(self, *, image: NewImage) -> int:
        result = await self._c.execute(
            insert(t.firmware_images)
            .values(
                name=image.name,
                version=image.version,
                vendor=image.vendor,
                model=image.model,
                filename=image.filename,
                size=image.size,
                sha256=image.sha256,
                md5=image.md5,
                storage_key=image.storage_key,
                uploaded_by=image.uploaded_by,
                uploaded_at=image.uploaded_at,
            )
            .returning(_img.id)
        )
        return int(result.scalar_one())

    async def image(self, *, image_id: int) -> FirmwareImage | None:
        row = (await self._c.execute(select(t.firmware_images).where(_img.id == image_id))).first()
        return _image(row) if row is not None else None

    async def images(self) -> list[FirmwareImage]:
        rows = await self._c.execute(select(t.firmware_images).order_by(_img.uploaded_at.desc(), _img.id.desc()))
        return [_image(row) for row in rows]

    async def set_signature(self, *, image_id: int, certificate: str | None, signature: str | None) -> None:
        await self._c.execute(
            update(t.firmware_images)
            .where(_img.id == image_id)
            .values(signing_certificate=certificate, signature=signature)
        )

    async def delete_image(self, *, image_id: int) -> None:
        # Finished campaigns and past updates keep their history; the image they named is gone.
        await self._c.execute(update(t.firmware_updates).where(_upd.image_id == image_id).values(image_id=None))
        await self._c.execute(delete(t.firmware_images).where(_img.id == image_id))

    async def campaigns_using(self, *, image_id: int) -> list[int]:
        rows = await self._c.execute(
            select(_camp.id).where(_camp.image_id == image_id, _camp.status.in_(_LIVE_CAMPAIGNS)).order_by(_camp.id)
        )
        return [int(row.id) for row in rows]

    # Updates

    async def add_update(self, *, update: NewUpdate) -> int:
        result = await self._c.execute(
            insert(t.firmware_updates)
            .values(
                station_id=update.station_id,
                image_id=update.image_id,
                campaign_id=update.campaign_id,
                kind=str(update.kind),
                status=str(UpdateStatus.REQUESTED),
                version=update.version,
                token_hash=update.token_hash,
                token_expires_at=update.token_expires_at,
                downloads=0,
                requested_by=update.requested_by,
                requested_at=update.requested_at,
                updated_at=update.requested_at,
            )
            .returning(_upd.id)
        )
        return int(result.scalar_one())

    async def update(self, *, update_id: int) -> FirmwareUpdate | None:
        row = (await self._c.execute(select(t.firmware_updates).where(_upd.id == update_id))).first()
        if row is None:
            return None
        history = await self._c.execute(
            select(t.firmware_status_history).where(_hist.update_id == update_id).order_by(_hist.id)
        )
        return _update(row, tuple(StatusChange(h.station_status, UpdateStatus(h.status), h.at) for h in history))

    async def update_by_token(self, *, token_hash: str) -> FirmwareUpdate | None:
        row = (await self._c.execute(select(t.firmware_updates).where(_upd.token_hash == token_hash))).first()
        return _update(row) if row is not None else None

    async def latest_open_update(self, *, station_id: StationId, kinds: Sequence[UpdateKind]) -> FirmwareUpdate | None:
        row = (
            await self._c.execute(
                select(t.firmware_updates)
                .where(
                    _upd.station_id == station_id,
                    _upd.kind.in_([str(k) for k in kinds]),
                    _upd.status.in_([*_OPEN, str(UpdateStatus.FAILED)]),
                )
                .order_by(_upd.id.desc())
                .limit(1)
            )
        ).first()
        return _update(row) if row is not None else None

    async def updates(
        self, *, station_id: StationId | None, campaign_id: int | None, limit: int, offset: int
    ) -> tuple[list[FirmwareUpdate], int]:
        where = []
        if station_id is not None:
            where.append(_upd.station_id == station_id)
        if campaign_id is not None:
            where.append(_upd.campaign_id == campaign_id)
        rows = await self._c.execute(
            select(t.firmware_updates).where(*where).order_by(_upd.id.desc()).limit(limit).offset(offset)
        )
        total = await self._c.execute(select(func.count()).select_from(t.firmware_updates).where(*where))
        return [_update(row) for row in rows], int(total.scalar_one())

    async def answered(self, *, update_id: int, command_id: int, status: UpdateStatus, at: datetime) -> None:
        await self._c.execute(
            update(t.firmware_updates).where(_upd.id == update_id).values(command_id=command_id, updated_at=at)
        )
        await self._c.execute(
            update(t.firmware_updates)
            .where(_upd.id == update_id, _upd.status == str(UpdateStatus.REQUESTED))
            .values(status=str(status))
        )

    async def set_status(
        self, *, update_id: int, status: UpdateStatus, station_status: str | None, at: datetime
    ) -> None:
        values: dict[str, Any] = {"status": str(status), "updated_at": at}
        if station_status:
            values["station_status"] = station_status
            await self._c.execute(
                insert(t.firmware_status_history).values(
                    update_id=update_id, station_status=station_status, status=str(status), at=at
                )
            )
        await self._c.execute(update(t.firmware_updates).where(_upd.id == update_id).values(**values))

    async def count_download(self, *, update_id: int) -> None:
        await self._c.execute(
            update(t.firmware_updates).where(_upd.id == update_id).values(downloads=_upd.downloads + 1)
        )

    # Campaigns

    async def add_campaign(self, *, plan: CampaignPlan, created_by: str, at: datetime) -> int:
        window = plan.window
        result = await self._c.execute(
            insert(t.firmware_campaigns)
            .values(
                name=plan.name,
                image_id=plan.image_id,
                target=plan.selection.as_json(),
                pilot_size=plan.pilot_size,
                batch_size=plan.batch_size,
                window_start=window.start.strftime("%H:%M") if window else None,
                window_end=window.end.strftime("%H:%M") if window else None,
                max_failures=plan.max_failures,
                max_failure_percent=plan.max_failure_percent,
                signed=plan.signed,
                retries=plan.retries,
                retry_interval_s=plan.retry_interval_s,
                status=str(CampaignStatus.DRAFT),
                forgiven_failures=0,
                created_by=created_by,
                created_at=at,
                updated_at=at,
            )
            .returning(_camp.id)
        )
        return int(result.scalar_one())

    async def _counts(self, campaign_ids: Sequence[int]) -> dict[int, dict[TargetState, int]]:
        counts: dict[int, dict[TargetState, int]] = {cid: {} for cid in campaign_ids}
        if not campaign_ids:
            return counts
        rows = await self._c.execute(
            select(_tgt.campaign_id, _tgt.state, func.count())
            .where(_tgt.campaign_id.in_(campaign_ids))
            .group_by(_tgt.campaign_id, _tgt.state)
        )
        for campaign_id, state, count in rows:
            counts[campaign_id][TargetState(state)] = int(count)
        return counts

    def _campaign(self, row: Any, counts: dict[TargetState, int]) -> Campaign:
        return Campaign(
            id=row.id,
            plan=_plan(row),
            status=CampaignStatus(row.status),
            status_reason=row.status_reason,
            forgiven_failures=row.forgiven_failures,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            counts=counts,
        )

    async def campaign(self, *, campaign_id: int) -> Campaign | None:
        row = (await self._c.execute(select(t.firmware_campaigns).where(_camp.id == campaign_id))).first()
        if row is None:
            return None
        return self._campaign(row, (await self._counts([campaign_id]))[campaign_id])

    async def campaigns(self) -> list[Campaign]:
        rows = list(await self._c.execute(select(t.firmware_campaigns).order_by(_camp.id.desc())))
        counts = await self._counts([row.id for row in rows])
        return [self._campaign(row, counts[row.id]) for row in rows]

    async def active_campaigns(self) -> list[int]:
        under_way = select(_tgt.campaign_id).where(_tgt.state == str(TargetState.IN_PROGRESS))
        rows = await self._c.execute(
            select(_camp.id)
            .where(or_(_camp.status == str(CampaignStatus.RUNNING), _camp.id.in_(under_way)))
            .order_by(_camp.id)
        )
        return [int(row.id) for row in rows]

    async def set_campaign_status(
        self, *, campaign_id: int, status: CampaignStatus, reason: str | None, at: datetime, forgiven: int | None = None
    ) -> None:
        values: dict[str, Any] = {"status": str(status), "status_reason": reason, "updated_at": at}
        if forgiven is not None:
            values["forgiven_failures"] = forgiven
        await self._c.execute(update(t.firmware_campaigns).where(_camp.id == campaign_id).values(**values))

    async def select_stations(self, *, selection: TargetSelection) -> list[StationId]:
        where = []
        if selection.site_id is not None:
            where.append(_st.site_id == selection.site_id)
        if selection.model is not None:
            where.append(_st.model == selection.model)
        if selection.vendor is not None:
            where.append(_st.vendor == selection.vendor)
        if selection.firmware_version is not None:
            where.append(_st.firmware_version == selection.firmware_version)
        if selection.station_ids:
            where.append(_st.id.in_(list(selection.station_ids)))
        rows = await self._c.execute(select(_st.id).where(*where).order_by(_st.id))
        return [StationId(row.id) for row in rows]

    async def add_targets(self, *, campaign_id: int, batches: Sequence[tuple[StationId, int]]) -> None:
        await self._c.execute(
            insert(t.firmware_campaign_stations),
            [
                {"campaign_id": campaign_id, "station_id": sid, "batch": batch, "state": str(TargetState.PENDING)}
                for sid, batch in batches
            ],
        )

    async def targets(self, *, campaign_id: int) -> list[CampaignTarget]:
        rows = await self._c.execute(
            select(t.firmware_campaign_stations, _st.firmware_version)
            .select_from(t.firmware_campaign_stations.outerjoin(t.stations, _st.id == _tgt.station_id))
            .where(_tgt.campaign_id == campaign_id)
            .order_by(_tgt.batch, _tgt.station_id)
        )
        return [
            CampaignTarget(
                station_id=StationId(row.station_id),
                batch=row.batch,
                state=TargetState(row.state),
                update_id=row.update_id,
                started_at=row.started_at,
                finished_at=row.finished_at,
                detail=row.detail,
                firmware_version=row.firmware_version,
            )
            for row in rows
        ]

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
    ) -> None:
        values: dict[str, Any] = {"state": str(state), "detail": detail[:500] if detail else None}
        if update_id is not None:
            values["update_id"] = update_id
        if batch is not None:
            values["batch"] = batch
        if state is TargetState.IN_PROGRESS or update_id is not None:
            values["started_at"] = at
        if state in (TargetState.INSTALLED, TargetState.FAILED, TargetState.SKIPPED):
            values["finished_at"] = at
        if state is TargetState.PENDING:
            values.update(started_at=None, finished_at=None, update_id=None)
        await self._c.execute(
            update(t.firmware_campaign_stations)
            .where(_tgt.campaign_id == campaign_id, _tgt.station_id == station_id)
            .values(**values)
        )
