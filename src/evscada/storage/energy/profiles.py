"""SQL for the charging profiles the CSMS set: stored with the answer, ended by clears, replacements and lapses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, RowMapping, and_, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.access.audit import SYSTEM
from evscada.core.control.commands import CommandOutcomeKind, GetSettings
from evscada.core.energy.service import ProfileEnd, ProfileStatus, StoredProfile, Via
from evscada.core.model import StationId, TransactionState
from evscada.storage import tables as t
from evscada.storage.energy.codec import profile_json, profile_of

# How many of a station's answered GetConfiguration commands are read for its smart charging keys, newest first.
CONFIGURATION_ANSWERS_READ = 20
# Stations per statement of the batch reads and updates: their ids are bound one parameter each (SQLite allows
# 32,766 parameters, asyncpg 32,767).
STATIONS_PER_STATEMENT = 2000

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


# The transaction a remote start's profile was for: the one that took up that remote start.
_started = and_(_tx.station_id == _cp.station_id, _tx.remote_start_command_id == _cp.command_id)
_ended = and_(
    _tx.station_id == _cp.station_id,
    _tx.station_transaction_id == _cp.transaction_id,
    _tx.state == str(TransactionState.ENDED),
)


# Built once (docs/performance.md, "Energy: a curtailment across 5,000 stations"): the batch path and the single
# one run the same statements, for one station or for thousands.
_stations: BindParameter[Any] = bindparam("p_stations", expanding=True)
_mine = and_(_cp.station_id.in_(_stations), _cp.status == _ACCEPTED)
_remote_start = and_(_mine, _cp.via == str(Via.REMOTE_START), _cp.transaction_id.is_(None))


def _expire_at(why: str) -> dict[str, Any]:
    return {"status": _EXPIRED, "ended_at": bindparam("p_now"), "ended_by": SYSTEM, "end_reason": why}


_END_LAPSED = (
    update(t.charging_profiles)
    .where(_remote_start, exists().where(_started))
    .values(
        transaction_id=select(_tx.station_transaction_id).where(_started).scalar_subquery(),
        evse_id=select(_tx.evse_id).where(_started).scalar_subquery(),
    ),
    update(t.charging_profiles)
    .where(_remote_start, _cp.set_at < bindparam("p_remote_start_since"))
    .values(**_expire_at("no transaction took up its remote start")),
    update(t.charging_profiles)
    .where(_mine, _cp.valid_to.is_not(None), _cp.valid_to <= bindparam("p_now"))
    .values(**_expire_at("valid_to passed")),
    update(t.charging_profiles)
    .where(_mine, _cp.transaction_id.is_not(None), exists().where(_ended))
    .values(**_expire_at("its transaction ended")),
)
_IN_FORCE = select(t.charging_profiles).where(_mine).order_by(_cp.id.desc())
_ADD = insert(t.charging_profiles).returning(_cp.id, sort_by_parameter_order=True)
_SAVE_ANSWER = (
    update(t.charging_profiles)
    .where(_cp.id == bindparam("p_id"))
    .values(
        status=bindparam("p_status"),
        answer=bindparam("p_answer"),
        command_id=bindparam("p_command_id"),
        answered_at=bindparam("p_answered_at"),
    )
)
_END = (
    update(t.charging_profiles)
    .where(_cp.id == bindparam("p_id"), _cp.status == _ACCEPTED)
    .values(
        status=bindparam("p_status"),
        ended_at=bindparam("p_at"),
        ended_by=bindparam("p_by"),
        end_reason=bindparam("p_why"),
    )
)
_log = t.command_log.c
_answers_ranked = (
    select(
        _log.station_id,
        _log.response,
        _log.finished_at,
        func.row_number().over(partition_by=_log.station_id, order_by=_log.id.desc()).label("n"),
    )
    .where(
        _log.station_id.in_(_stations),
        _log.command == GetSettings.name,
        _log.outcome == str(CommandOutcomeKind.ANSWERED),
    )
    .subquery()
)
_CONFIGURATION_ANSWERS = (
    select(_answers_ranked.c.station_id, _answers_ranked.c.response, _answers_ranked.c.finished_at)
    .where(_answers_ranked.c.n <= CONFIGURATION_ANSWERS_READ)
    .order_by(_answers_ranked.c.station_id, _answers_ranked.c.n)
)


def _chunks(station_ids: Sequence[StationId]) -> list[list[StationId]]:
    unique = list(dict.fromkeys(station_ids))
    return [unique[i : i + STATIONS_PER_STATEMENT] for i in range(0, len(unique), STATIONS_PER_STATEMENT)]


class SqlChargingProfiles:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, profile: StoredProfile) -> StoredProfile:
        result = await self._c.execute(insert(t.charging_profiles).values(**_values(profile)).returning(_cp.id))
        profile.id = int(result.scalar_one())
        return profile

    async def add_many(self, *, profiles: Sequence[StoredProfile]) -> None:
        if not profiles:
            return
        result = await self._c.execute(_ADD, [_values(p) for p in profiles])
        for profile, record_id in zip(profiles, result.scalars(), strict=True):
            profile.id = int(record_id)

    async def save_answers(self, *, profiles: Sequence[StoredProfile]) -> None:
        if not profiles:
            return
        rows = [
            {
                "p_id": p.id,
                "p_status": str(p.status),
                "p_answer": p.answer,
                "p_command_id": p.command_id,
                "p_answered_at": p.answered_at,
            }
            for p in profiles
        ]
        await self._c.execute(_SAVE_ANSWER, rows)

    async def save(self, *, profile: StoredProfile) -> None:
        await self._c.execute(update(t.charging_profiles).where(_cp.id == profile.id).values(**_values(profile)))

    async def get(self, *, record_id: int) -> StoredProfile | None:
        row = (await self._c.execute(select(t.charging_profiles).where(_cp.id == record_id))).mappings().first()
        return None if row is None else _stored_from(row)

    async def in_force(self, *, station_ids: Sequence[StationId]) -> dict[StationId, list[StoredProfile]]:
        found: dict[StationId, list[StoredProfile]] = {sid: [] for sid in station_ids}
        for chunk in _chunks(station_ids):
            for row in (await self._c.execute(_IN_FORCE, {"p_stations": chunk})).mappings():
                found[StationId(row["station_id"])].append(_stored_from(row))
        return found

    async def list(self, *, station_id: StationId, in_force: bool | None, limit: int) -> list[StoredProfile]:
        statement = select(t.charging_profiles).where(_cp.station_id == station_id).order_by(_cp.id.desc()).limit(limit)
        if in_force is not None:
            statement = statement.where((_cp.status == _ACCEPTED) if in_force else (_cp.status != _ACCEPTED))
        return [_stored_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def end_lapsed(self, *, station_id: StationId, now: datetime, remote_start_since: datetime) -> None:
        await self.end_lapsed_many(station_ids=[station_id], now=now, remote_start_since=remote_start_since)

    async def end_lapsed_many(
        self, *, station_ids: Sequence[StationId], now: datetime, remote_start_since: datetime
    ) -> None:
        for chunk in _chunks(station_ids):
            params = {"p_stations": chunk, "p_now": now, "p_remote_start_since": remote_start_since}
            for statement in _END_LAPSED:
                await self._c.execute(statement, params)

    async def end(self, *, record_ids: Sequence[int], status: ProfileStatus, at: datetime, by: str, why: str) -> None:
        if not record_ids:
            return
        await self._c.execute(
            update(t.charging_profiles)
            .where(_cp.id.in_(list(record_ids)), _cp.status == _ACCEPTED)
            .values(status=str(status), ended_at=at, ended_by=by, end_reason=why[:200])
        )

    async def end_many(self, *, ends: Sequence[ProfileEnd]) -> None:
        if not ends:
            return
        rows = [
            {"p_id": e.record_id, "p_status": str(e.status), "p_at": e.at, "p_by": e.by, "p_why": e.why[:200]}
            for e in ends
        ]
        await self._c.execute(_END, rows)

    async def configuration_keys_many(
        self, *, station_ids: Sequence[StationId], keys: Sequence[str]
    ) -> dict[StationId, tuple[dict[str, str | None], datetime | None]]:
        answers: dict[StationId, list[tuple[Any, datetime | None]]] = {}
        for chunk in _chunks(station_ids):
            for sid, response, finished_at in await self._c.execute(_CONFIGURATION_ANSWERS, {"p_stations": chunk}):
                answers.setdefault(StationId(sid), []).append((response, finished_at))
        return {sid: _keys(answers.get(sid, []), keys) for sid in station_ids}

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
        return _keys(list(await self._c.execute(statement)), keys)


def _keys(answers: Sequence[Any], keys: Sequence[str]) -> tuple[dict[str, str | None], datetime | None]:
    """The newest accepted value of each key in (response, finished_at) answers, newest first, and when the newest
    answer that gave one came."""
    found: dict[str, str | None] = {}
    answered_at: datetime | None = None
    for response, finished_at in answers:
        for setting in (response or {}).get("settings", []):
            name = setting.get("name")
            if name in keys and name not in found and setting.get("status") == "Accepted":
                found[name] = setting.get("value")
                answered_at = answered_at or finished_at
    return found, answered_at
