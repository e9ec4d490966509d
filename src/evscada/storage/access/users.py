"""SQL for users and API keys, and the read queries behind the API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.access.users import ApiKey, Role, User
from evscada.core.charging.queries import CommandLogView, ConnectorView, ExportCursor, StationFilter, TransactionFilter
from evscada.core.model import MeterSample, Station, StationId, Transaction, TransactionPk, TransactionState
from evscada.storage import tables as t
from evscada.storage.store import SqlStations, transaction_from


def _user_from(row: Mapping[str, Any]) -> User:
    return User(id=row["id"], username=row["username"], role=Role(row["role"]), disabled=row["disabled"])


class SqlUsers:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, username: str, password_hash: str | None, role: Role) -> User:
        result = await self._c.execute(
            insert(t.users)
            .values(
                username=username, password_hash=password_hash, role=str(role), disabled=False, created_at=func.now()
            )
            .returning(t.users.c.id)
        )
        return User(id=int(result.scalar_one()), username=username, role=role)

    async def by_username(self, *, username: str) -> User | None:
        row = (await self._c.execute(select(t.users).where(t.users.c.username == username))).mappings().first()
        return _user_from(row) if row else None

    async def add_key(self, *, user_id: int, name: str, prefix: str, key_hash: str) -> int:
        result = await self._c.execute(
            insert(t.api_keys)
            .values(user_id=user_id, name=name, prefix=prefix, key_hash=key_hash, created_at=func.now())
            .returning(t.api_keys.c.id)
        )
        return int(result.scalar_one())

    async def by_key_hash(self, *, key_hash: str) -> User | None:
        k = t.api_keys.c
        row = (
            (
                await self._c.execute(
                    select(t.users)
                    .join(t.api_keys, k.user_id == t.users.c.id)
                    .where(k.key_hash == key_hash, k.revoked_at.is_(None))
                )
            )
            .mappings()
            .first()
        )
        return _user_from(row) if row else None

    async def update(
        self, *, user_id: int, role: Role | None = None, disabled: bool | None = None, password_hash: str | None = None
    ) -> None:
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = str(role)
        if disabled is not None:
            values["disabled"] = disabled
        if password_hash is not None:
            values["password_hash"] = password_hash
        if values:
            await self._c.execute(update(t.users).where(t.users.c.id == user_id).values(**values))

    async def enabled_admins(self) -> int:
        c = t.users.c
        result = await self._c.execute(
            select(func.count()).select_from(t.users).where(c.role == str(Role.ADMIN), c.disabled.is_(False))
        )
        return int(result.scalar_one())

    async def keys(self, *, user_id: int) -> list[ApiKey]:
        c = t.api_keys.c
        rows = await self._c.execute(select(t.api_keys).where(c.user_id == user_id).order_by(c.id))
        return [_key_from(row) for row in rows.mappings()]

    async def key(self, *, key_id: int) -> ApiKey | None:
        row = (await self._c.execute(select(t.api_keys).where(t.api_keys.c.id == key_id))).mappings().first()
        return _key_from(row) if row else None

    async def revoke_key(self, *, key_id: int, at: datetime) -> None:
        await self._c.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(revoked_at=at))

    async def list(self) -> list[User]:  # last: after it, `list` in this class body means the method
        rows = await self._c.execute(select(t.users).order_by(t.users.c.username))
        return [_user_from(row) for row in rows.mappings()]


def _key_from(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class SqlReads:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def connectors(self, *, station_ids: list[StationId]) -> dict[StationId, list[ConnectorView]]:
        if not station_ids:
            return {}
        c = t.connectors.c
        rows = await self._c.execute(
            select(t.connectors).where(c.station_id.in_(station_ids)).order_by(c.station_id, c.evse_id, c.connector_id)
        )
        found: dict[StationId, list[ConnectorView]] = {}
        for row in rows.mappings():
            found.setdefault(StationId(row["station_id"]), []).append(
                ConnectorView(
                    evse_id=row["evse_id"],
                    connector_id=row["connector_id"],
                    status=row["status"],
                    error_code=row["error_code"],
                    info=row["info"],
                    status_at=row["status_at"],
                )
            )
        return found

    async def stations(self, *, where: StationFilter) -> list[Station]:
        c = t.stations.c
        statement = select(t.stations).order_by(c.id)
        if where.status is not None:
            k = t.connectors.c
            statement = statement.where(
                select(k.station_id).where(k.station_id == c.id, k.status == where.status).exists()
            )
        if where.online is not None:
            statement = statement.where(c.online.is_(where.online))
        if where.site_id is not None:
            statement = statement.where(c.site_id == where.site_id)
        if where.model is not None:
            statement = statement.where(func.lower(c.model) == where.model.lower())
        if where.search:
            needle = where.search
            statement = statement.where(
                c.id.icontains(needle, autoescape=True)
                | c.name.icontains(needle, autoescape=True)
                | c.vendor.icontains(needle, autoescape=True)
                | c.serial_number.icontains(needle, autoescape=True)
            )
        return [SqlStations._station_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def transactions(self, *, where: TransactionFilter) -> list[Transaction]:
        c = t.transactions.c
        statement = select(t.transactions)
        if where.site_id is not None:
            at_site = select(t.stations.c.id).where(t.stations.c.site_id == where.site_id)
            statement = statement.where(c.station_id.in_(at_site))
        if where.vehicle_id is not None:
            statement = statement.where(c.vehicle_id == where.vehicle_id)
        if where.station_id is not None:
            statement = statement.where(c.station_id == where.station_id)
        if where.state is not None:
            statement = statement.where(c.state == str(where.state))
        if where.id_token is not None:
            statement = statement.where(c.id_token == where.id_token)
        if where.station_ids is not None:
            statement = statement.where(c.station_id.in_(list(where.station_ids)))
        if where.started_since is not None:
            statement = statement.where(c.started_at >= where.started_since)
        if where.started_until is not None:
            statement = statement.where(c.started_at < where.started_until)
        statement = statement.order_by(c.pk.desc()).limit(where.limit).offset(where.offset)
        return [transaction_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def transaction(self, *, pk: TransactionPk) -> Transaction | None:
        row = (await self._c.execute(select(t.transactions).where(t.transactions.c.pk == pk))).mappings().first()
        return transaction_from(row) if row else None

    async def samples(self, *, transaction_pk: TransactionPk) -> list[MeterSample]:
        c = t.meter_samples.c
        rows = await self._c.execute(
            select(t.meter_samples).where(c.transaction_pk == transaction_pk).order_by(c.timestamp, c.id)
        )
        return [
            MeterSample(
                timestamp=r["timestamp"],
                value=r["value"],
                measurand=r["measurand"],
                unit=r["unit"],
                phase=r["phase"],
                location=r["location"],
                context=r["context"],
                raw=r["raw"],
            )
            for r in rows.mappings()
        ]

    async def changed_transactions(
        self, *, after: ExportCursor | None, settled_before: datetime, state: TransactionState | None, limit: int
    ) -> list[Transaction]:
        c = t.transactions.c
        statement = select(t.transactions).where(c.updated_at < settled_before)
        if after is not None:
            statement = statement.where(tuple_(c.updated_at, c.pk) > tuple_(after.updated_at, after.pk))
        if state is not None:
            statement = statement.where(c.state == str(state))
        statement = statement.order_by(c.updated_at, c.pk).limit(limit)
        return [transaction_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def command_outcomes(self) -> list[tuple[str, str, int]]:
        c = t.command_log.c
        rows = await self._c.execute(
            select(c.command, c.outcome, func.count()).where(c.outcome.is_not(None)).group_by(c.command, c.outcome)
        )
        return [(command, outcome, int(count)) for command, outcome, count in rows]

    async def ping(self) -> None:
        await self._c.execute(select(literal(1)))

    async def commands(self, *, station_id: StationId | None, limit: int) -> list[CommandLogView]:
        c = t.command_log.c
        statement = select(t.command_log).order_by(c.id.desc()).limit(limit)
        if station_id is not None:
            statement = statement.where(c.station_id == station_id)
        return [
            CommandLogView(
                id=r["id"],
                station_id=r["station_id"],
                command=r["command"],
                arguments=r["arguments"],
                actor=r["actor"],
                reason=r["reason"],
                requested_at=r["requested_at"],
                finished_at=r["finished_at"],
                outcome=r["outcome"],
                status=r["status"],
                error=r["error"],
            )
            for r in (await self._c.execute(statement)).mappings()
        ]
