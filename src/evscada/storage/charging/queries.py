"""SQL for the read models behind the API: station and transaction views, samples, commands, the export."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, Table, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.charging.queries import (
    CommandLogView,
    ConnectorView,
    ExportCursor,
    StationFilter,
    Totals,
    TransactionFilter,
)
from evscada.core.model import MeterSample, Station, StationId, Transaction, TransactionPk, TransactionState
from evscada.storage import tables as t
from evscada.storage.charging.meter_samples import meter_sample_from
from evscada.storage.charging.transactions import transaction_from
from evscada.storage.stations.repositories import station_from


def _count(table: Table, *where: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(table).where(*where).scalar_subquery()


# One round trip for the four figures.
_TOTALS = select(
    _count(t.stations, t.stations.c.online),
    _count(t.transactions, t.transactions.c.state == str(TransactionState.RUNNING)),
    _count(t.transactions, t.transactions.c.state == str(TransactionState.ENDED)),
    _count(t.meter_samples),
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
        return [station_from(row) for row in (await self._c.execute(statement)).mappings()]

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
        return [meter_sample_from(r) for r in rows.mappings()]

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

    async def totals(self) -> Totals:
        online, running, ended, samples = (await self._c.execute(_TOTALS)).one()
        return Totals(
            stations_online=online, transactions_running=running, transactions_ended=ended, meter_samples=samples
        )

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
