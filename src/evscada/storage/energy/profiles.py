"""SQL for the charging profiles the CSMS set: stored with the answer, ended by clears, replacements and lapses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.access.audit import SYSTEM
from evscada.core.control.commands import CommandOutcomeKind, GetSettings
from evscada.core.energy.service import ProfileStatus, StoredProfile, Via
from evscada.core.model import StationId, TransactionState
from evscada.storage import tables as t
from evscada.storage.energy.codec import profile_json, profile_of

# How many of a station's answered GetConfiguration commands are read for its smart charging keys, newest first.
CONFIGURATION_ANSWERS_READ = 20

_ACCEPTED = str(ProfileStatus.ACCEPTED)
_EXPIRED = str(ProfileStatus.EXPIRED)
_cp = t.charging_profiles.c
_tx = t.transactions.c


def _stored_from(row: RowMapping) -> StoredProfile:
    return StoredProfile(
        id=int(row["id"]),
        station_id=StationId(row["station_id"]),
        evse_id=row["evse_id"],
        profile=profile_of(row["profile"]),
        via=Via(row["via"]),
        status=ProfileStatus(row["status"]),
        set_by=row["set_by"],
        set_at=row["set_at"],
        reason=row["reason"],
        transaction_id=row["transaction_id"],
        answer=row["answer"],
        command_id=row["command_id"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
        end_reason=row["end_reason"],
    )


def _values(p: StoredProfile) -> dict[str, Any]:
    return {
        "station_id": p.station_id,
        "evse_id": p.evse_id,
        "profile_id": p.profile.id,
        "stack_level": p.profile.stack_level,
        "purpose": str(p.profile.purpose),
        "transaction_id": p.transaction_id,
        "valid_to": p.profile.valid_to,
        "profile": profile_json(p.profile),
        "via": str(p.via),
        "status": str(p.status),
        "answer": p.answer,
        "command_id": p.command_id,
        "set_by": p.set_by,
        "reason": p.reason,
        "set_at": p.set_at,
        "answered_at": p.answered_at,
        "ended_at": p.ended_at,
        "ended_by": p.ended_by,
        "end_reason": p.end_reason,
    }


def _expire(why: str, now: datetime) -> dict[str, Any]:
    return {"status": _EXPIRED, "ended_at": now, "ended_by": SYSTEM, "end_reason": why}


# The transaction a remote start's profile was for: the one that took up that remote start.
_started = and_(_tx.station_id == _cp.station_id, _tx.remote_start_command_id == _cp.command_id)
_ended = and_(
    _tx.station_id == _cp.station_id,
    _tx.station_transaction_id == _cp.transaction_id,
    _tx.state == str(TransactionState.ENDED),
)


class SqlChargingProfiles:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, profile: StoredProfile) -> StoredProfile:
        result = await self._c.execute(insert(t.charging_profiles).values(**_values(profile)).returning(_cp.id))
        profile.id = int(result.scalar_one())
        return profile

    async def save(self, *, profile: StoredProfile) -> None:
        await self._c.execute(update(t.charging_profiles).where(_cp.id == profile.id).values(**_values(profile)))

    async def get(self, *, record_id: int) -> StoredProfile | None:
        row = (await self._c.execute(select(t.charging_profiles).where(_cp.id == record_id))).mappings().first()
        return None if row is None else _stored_from(row)

    async def list(self, *, station_id: StationId, in_force: bool | None, limit: int) -> list[StoredProfile]:
        statement = select(t.charging_profiles).where(_cp.station_id == station_id).order_by(_cp.id.desc()).limit(limit)
        if in_force is not None:
            statement = statement.where((_cp.status == _ACCEPTED) if in_force else (_cp.status != _ACCEPTED))
        return [_stored_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def end_lapsed(self, *, station_id: StationId, now: datetime, remote_start_since: datetime) -> None:
        mine = and_(_cp.station_id == station_id, _cp.status == _ACCEPTED)
        remote_start = and_(mine, _cp.via == str(Via.REMOTE_START), _cp.transaction_id.is_(None))
        started = select(_tx.station_transaction_id).where(_started).scalar_subquery()
        evse = select(_tx.evse_id).where(_started).scalar_subquery()
        await self._c.execute(
            update(t.charging_profiles)
            .where(remote_start, exists().where(_started))
            .values(transaction_id=started, evse_id=evse)
        )
        await self._c.execute(
            update(t.charging_profiles)
            .where(remote_start, _cp.set_at < remote_start_since)
            .values(**_expire("no transaction took up its remote start", now))
        )
        await self._c.execute(
            update(t.charging_profiles)
            .where(mine, _cp.valid_to.is_not(None), _cp.valid_to <= now)
            .values(**_expire("valid_to passed", now))
        )
        await self._c.execute(
            update(t.charging_profiles)
            .where(mine, _cp.transaction_id.is_not(None), exists().where(_ended))
            .values(**_expire("its transaction ended", now))
        )

    async def end(self, *, record_ids: Sequence[int], status: ProfileStatus, at: datetime, by: str, why: str) -> None:
        if not record_ids:
            return
        await self._c.execute(
            update(t.charging_profiles)
            .where(_cp.id.in_(list(record_ids)), _cp.status == _ACCEPTED)
            .values(status=str(status), ended_at=at, ended_by=by, end_reason=why[:200])
        )

    async def configuration_keys(
        self, *, station_id: StationId, keys: Sequence[str]
    ) -> tuple[dict[str, str | None], datetime | None]:
        c = t.command_log.c
        statement = (
            select(c.response, c.finished_at)
            .where(
                c.station_id == station_id, c.command == GetSettings.name, c.outcome == str(CommandOutcomeKind.ANSWERED)
            )
            .order_by(c.id.desc())
            .limit(CONFIGURATION_ANSWERS_READ)
        )
        found: dict[str, str | None] = {}
        answered_at: datetime | None = None
        for response, finished_at in await self._c.execute(statement):
            for setting in (response or {}).get("settings", []):
                name = setting.get("name")
                if name in keys and name not in found and setting.get("status") == "Accepted":
                    found[name] = setting.get("value")
                    answered_at = answered_at or finished_at
        return found, answered_at
