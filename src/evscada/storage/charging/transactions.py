"""SQL for transactions and their events: the writes behind every transaction message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import EvseRef, StationId, Transaction, TransactionPk, TransactionState
from evscada.storage import tables as t

# Statements on the paths every charging station takes, built once: SQLAlchemy memoizes a statement's cache key,
# so a prebuilt statement skips rebuilding the expression and its key on every call; building
# `update(...).where(...).values(**row)` per message cost more than SQLite's own work (docs/performance.md,
# "Load mode").
_tx = t.transactions.c
_FIND_TRANSACTION = select(t.transactions).where(
    t.transactions.c.station_id == bindparam("station_id"),
    t.transactions.c.station_transaction_id == bindparam("station_transaction_id"),
)
_INSERT_TRANSACTION = insert(t.transactions).returning(_tx.pk)
_SAVE_TRANSACTION = update(t.transactions).where(_tx.pk == bindparam("p_pk"))
_NAME_TRANSACTION = (
    update(t.transactions).where(_tx.pk == bindparam("p_pk")).values(station_transaction_id=bindparam("p_number"))
)
_ORPHANED = _tx.station_transaction_id + "/orphan-" + cast(_tx.pk, String)  # a number given up, kept unique
_RELEASE_NUMBER = (
    update(t.transactions)
    .where(
        _tx.station_id == bindparam("p_station_id"),
        _tx.station_transaction_id == bindparam("p_number"),
        _tx.state == "ended",
        _tx.pk != bindparam("p_pk"),
    )
    .values(station_transaction_id=_ORPHANED)
)
# A session whose station transaction id a new session of the station takes (the station's numbering restarted).
_RENAME_NUMBER = update(t.transactions).where(_tx.pk == bindparam("p_pk")).values(station_transaction_id=_ORPHANED)
_FIND_START = select(t.transactions).where(
    _tx.station_id == bindparam("p_station_id"),
    _tx.evse_id == bindparam("p_evse_id"),
    _tx.connector_id == bindparam("p_connector_id"),
    _tx.started_at == bindparam("p_started_at"),
    _tx.id_token == bindparam("p_id_token"),
)
_RUNNING_WITH_TOKEN = (
    select(func.count())
    .select_from(t.transactions)
    .where(_tx.id_token == bindparam("p_id_token"), _tx.state == str(TransactionState.RUNNING))
)
_EVENT_INSERTS: dict[str, Any] = {}  # per dialect: INSERT ... ON CONFLICT DO NOTHING


def _insert_event(connection: AsyncConnection) -> Any:
    name = connection.dialect.name
    statement = _EVENT_INSERTS.get(name)
    if statement is None:
        statement = _EVENT_INSERTS[name] = _insert_ignoring_conflicts(connection, t.transaction_events)
    return statement


def _insert_ignoring_conflicts(connection: AsyncConnection, table: Any) -> Any:
    if connection.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


def transaction_from(row: Mapping[str, Any]) -> Transaction:
    evse = EvseRef(row["evse_id"], row["connector_id"]) if row["evse_id"] is not None else None
    return Transaction(
        pk=TransactionPk(row["pk"]),
        station_id=StationId(row["station_id"]),
        station_transaction_id=row["station_transaction_id"],
        evse=evse,
        state=TransactionState(row["state"]),
        id_token=row["id_token"],
        token_type=row["token_type"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        meter_start=row["meter_start"],
        meter_stop=row["meter_stop"],
        stop_reason=row["stop_reason"],
        offline=row["offline"],
        auth_status=row["auth_status"],
        charging_state=row["charging_state"],
        last_seq_no=row["last_seq_no"],
        reservation_id=row["reservation_id"],
        remote_start_command_id=row["remote_start_command_id"],
        vehicle_id=row["vehicle_id"],
        updated_at=row["updated_at"],
    )


class SqlTransactions:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    @staticmethod
    def _values(tx: Transaction) -> dict[str, Any]:
        return {
            "station_id": tx.station_id,
            "evse_id": tx.evse.evse_id if tx.evse else None,
            "connector_id": tx.evse.connector_id if tx.evse else None,
            "state": str(tx.state),
            "id_token": tx.id_token,
            "token_type": tx.token_type,
            "auth_status": tx.auth_status,
            "started_at": tx.started_at,
            "ended_at": tx.ended_at,
            "meter_start": tx.meter_start,
            "meter_stop": tx.meter_stop,
            "stop_reason": tx.stop_reason,
            "charging_state": tx.charging_state,
            "offline": tx.offline,
            "last_seq_no": tx.last_seq_no,
            "reservation_id": tx.reservation_id,
            "remote_start_command_id": tx.remote_start_command_id,
            "vehicle_id": tx.vehicle_id,
        }

    async def add(self, *, transaction: Transaction) -> Transaction:
        values = self._values(transaction)
        values["station_transaction_id"] = transaction.station_transaction_id or None
        now = datetime.now(UTC)
        result = await self._c.execute(_INSERT_TRANSACTION, {**values, "created_at": now, "updated_at": now})
        transaction.pk = TransactionPk(result.scalar_one())
        if not transaction.station_transaction_id:
            transaction.station_transaction_id = str(transaction.pk)
            await self._release_number(transaction.station_id, transaction.station_transaction_id)
            await self._c.execute(
                _NAME_TRANSACTION, {"p_pk": transaction.pk, "p_number": transaction.station_transaction_id}
            )
        return transaction

    async def _release_number(self, station_id: StationId, number: str) -> None:
        """A 1.6 stop for a transaction this CSMS never started keeps the station's number; if that number is now
        assigned to a new transaction, the old record (ended, never named by the station again) gives it up."""
        await self._c.execute(_RELEASE_NUMBER, {"p_station_id": station_id, "p_number": number, "p_pk": int(number)})

    async def release_number(self, *, pk: TransactionPk) -> None:
        await self._c.execute(_RENAME_NUMBER, {"p_pk": pk})

    async def find(self, *, station_id: StationId, station_transaction_id: str) -> Transaction | None:
        row = (
            (
                await self._c.execute(
                    _FIND_TRANSACTION, {"station_id": station_id, "station_transaction_id": station_transaction_id}
                )
            )
            .mappings()
            .first()
        )
        return transaction_from(row) if row else None

    async def find_start(
        self, *, station_id: StationId, evse: EvseRef, started_at: datetime, id_token: str | None
    ) -> Transaction | None:
        parameters = {
            "p_station_id": station_id,
            "p_evse_id": evse.evse_id,
            "p_connector_id": evse.connector_id,
            "p_started_at": started_at,
            "p_id_token": id_token,
        }
        row = (await self._c.execute(_FIND_START, parameters)).mappings().first()
        return transaction_from(row) if row else None

    async def running_with_token(self, *, id_token: str) -> int:
        result = await self._c.execute(_RUNNING_WITH_TOKEN, {"p_id_token": id_token})
        return int(result.scalar_one())

    async def save(self, *, transaction: Transaction) -> None:
        # Stamped here, inside the write, not when the message arrived: the export cursor follows updated_at, and
        # with one writer (SQLite) commit order must equal timestamp order for no change to be skipped.
        transaction.updated_at = datetime.now(UTC)
        await self._c.execute(
            _SAVE_TRANSACTION,
            {**self._values(transaction), "updated_at": transaction.updated_at, "p_pk": transaction.pk},
        )

    async def add_event(
        self,
        *,
        transaction_pk: TransactionPk,
        digest: str,
        seq_no: int | None,
        event_type: str,
        trigger_reason: str | None,
        timestamp: datetime,
        received_at: datetime,
    ) -> bool:
        result = await self._c.execute(
            _insert_event(self._c),
            {
                "transaction_pk": transaction_pk,
                "digest": digest,
                "seq_no": seq_no,
                "event_type": str(event_type),
                "trigger_reason": trigger_reason,
                "timestamp": timestamp,
                "received_at": received_at,
            },
        )
        return result.rowcount == 1
