"""SQL implementations of the core's repository Protocols (SQLAlchemy Core, one connection per unit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import String, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.control.commands import CommandLogEntry, CommandOutcome
from evscada.core.model import (
    AuthorizationStatus,
    EvseRef,
    MeterSample,
    RegistrationStatus,
    SecurityProfile,
    Station,
    StationId,
    StationMessage,
    Token,
    Transaction,
    TransactionPk,
    TransactionState,
)
from evscada.storage import tables as t
from evscada.storage.charging.sample_writer import MeterSampleWriter, insert_readings
from evscada.storage.db import Database
from evscada.storage.stations.state_writer import StationStateWriter

# Statements on the paths every connecting station takes, built once: SQLAlchemy memoizes a statement's cache
# key, so a prebuilt statement skips rebuilding the expression and its key on every call (docs/performance.md).
_GET_STATION = select(t.stations).where(t.stations.c.id == bindparam("station_id"))
_FIND_TRANSACTION = select(t.transactions).where(
    t.transactions.c.station_id == bindparam("station_id"),
    t.transactions.c.station_transaction_id == bindparam("station_transaction_id"),
)
# The transaction path too: building `update(...).where(...).values(**row)` per message cost more than SQLite's
# own work (docs/performance.md, "Load mode").
_tx = t.transactions.c
_GET_TOKEN = select(t.tokens).where(t.tokens.c.value == bindparam("p_value"))
_INSERT_TRANSACTION = insert(t.transactions).returning(_tx.pk)
_SAVE_TRANSACTION = update(t.transactions).where(_tx.pk == bindparam("p_pk"))
_NAME_TRANSACTION = (
    update(t.transactions).where(_tx.pk == bindparam("p_pk")).values(station_transaction_id=bindparam("p_number"))
)
_RELEASE_NUMBER = (
    update(t.transactions)
    .where(
        _tx.station_id == bindparam("p_station_id"),
        _tx.station_transaction_id == bindparam("p_number"),
        _tx.state == "ended",
        _tx.pk != bindparam("p_pk"),
    )
    .values(station_transaction_id=_tx.station_transaction_id + "/orphan-" + cast(_tx.pk, String))
)
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
_claimed_starts = select(_tx.remote_start_command_id).where(
    _tx.remote_start_command_id.is_not(None), _tx.station_id == bindparam("p_station_id")
)
_ACCEPTED_REMOTE_STARTS = (
    select(t.command_log.c.id, t.command_log.c.arguments)
    .where(
        t.command_log.c.station_id == bindparam("p_station_id"),
        t.command_log.c.command == "remote_start",
        t.command_log.c.status == "Accepted",
        t.command_log.c.requested_at >= bindparam("p_since"),
        t.command_log.c.id.not_in(_claimed_starts),
    )
    .order_by(t.command_log.c.id)
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


class SqlStations:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, *, station_id: StationId) -> Station | None:
        row = (await self._c.execute(_GET_STATION, {"station_id": station_id})).mappings().first()
        return None if row is None else self._station_from(row)

    async def delete(self, *, station_id: StationId) -> bool:
        result = await self._c.execute(t.stations.delete().where(t.stations.c.id == station_id))
        return bool(result.rowcount)

    async def list(self) -> list[Station]:
        result = await self._c.execute(select(t.stations).order_by(t.stations.c.id))
        return [self._station_from(row) for row in result.mappings()]

    @staticmethod
    def _station_from(row: Mapping[str, Any]) -> Station:
        return Station(
            id=StationId(row["id"]),
            registration=RegistrationStatus(row["registration"]),
            security_profile=SecurityProfile(row["security_profile"]),
            password_hash=row["password_hash"],
            ocpp_version=row["ocpp_version"],
            vendor=row["vendor"],
            model=row["model"],
            serial_number=row["serial_number"],
            firmware_version=row["firmware_version"],
            modem_iccid=row["modem_iccid"],
            modem_imsi=row["modem_imsi"],
            online=row["online"],
            connected_since=row["connected_since"],
            last_seen=row["last_seen"],
            last_boot=row["last_boot"],
            disconnect_reason=row["disconnect_reason"],
            name=row["name"],
            site_id=row["site_id"],
            latitude=row["latitude"],
            longitude=row["longitude"],
        )

    async def add(self, *, station: Station) -> None:
        await self._c.execute(insert(t.stations).values(**self._values(station), created_at=func.now()))

    async def save(self, *, station: Station) -> None:
        await self._c.execute(update(t.stations).where(t.stations.c.id == station.id).values(**self._values(station)))

    @staticmethod
    def _values(station: Station) -> dict[str, Any]:
        return {
            "id": station.id,
            "registration": str(station.registration),
            "security_profile": int(station.security_profile),
            "password_hash": station.password_hash,
            "ocpp_version": station.ocpp_version,
            "vendor": station.vendor,
            "model": station.model,
            "serial_number": station.serial_number,
            "firmware_version": station.firmware_version,
            "modem_iccid": station.modem_iccid,
            "modem_imsi": station.modem_imsi,
            "online": station.online,
            "connected_since": station.connected_since,
            "last_seen": station.last_seen,
            "last_boot": station.last_boot,
            "disconnect_reason": station.disconnect_reason,
            "name": station.name,
            "site_id": station.site_id,
            "latitude": station.latitude,
            "longitude": station.longitude,
        }


class SqlTokens:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, *, value: str) -> Token | None:
        row = (await self._c.execute(_GET_TOKEN, {"p_value": value})).mappings().first()
        return None if row is None else _token_from(row)

    async def list(self, *, limit: int, offset: int) -> list[Token]:
        rows = await self._c.execute(select(t.tokens).order_by(t.tokens.c.value).limit(limit).offset(offset))
        return [_token_from(row) for row in rows.mappings()]

    async def delete(self, *, value: str) -> bool:
        result = await self._c.execute(t.tokens.delete().where(t.tokens.c.value == value))
        return bool(result.rowcount)

    async def upsert(self, *, token: Token) -> None:
        values = {
            "type": token.type,
            "status": str(token.status),
            "expires_at": token.expires_at,
            "group_id": token.group_id,
            "vehicle_id": token.vehicle_id,
            "updated_at": func.now(),
        }
        result = await self._c.execute(update(t.tokens).where(t.tokens.c.value == token.value).values(**values))
        if result.rowcount == 0:
            await self._c.execute(insert(t.tokens).values(value=token.value, created_at=func.now(), **values))


def _token_from(row: Mapping[str, Any]) -> Token:
    return Token(
        value=row["value"],
        type=row["type"],
        status=AuthorizationStatus(row["status"]),
        expires_at=row["expires_at"],
        group_id=row["group_id"],
        vehicle_id=row["vehicle_id"],
    )


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
        seq_no: int,
        event_type: str,
        trigger_reason: str | None,
        timestamp: datetime,
        received_at: datetime,
    ) -> bool:
        result = await self._c.execute(
            _insert_event(self._c),
            {
                "transaction_pk": transaction_pk,
                "seq_no": seq_no,
                "event_type": str(event_type),
                "trigger_reason": trigger_reason,
                "timestamp": timestamp,
                "received_at": received_at,
            },
        )
        return result.rowcount == 1


class SqlMeterSamples:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(
        self,
        *,
        station_id: StationId,
        evse: EvseRef,
        transaction_pk: TransactionPk | None,
        samples: Sequence[MeterSample],
    ) -> None:
        if not samples:
            return
        await insert_readings(self._c, station_id=station_id, evse=evse, transaction_pk=transaction_pk, samples=samples)


class SqlStationMessages:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, station_id: StationId, message: StationMessage, received_at: datetime) -> None:
        await self._c.execute(
            insert(t.station_messages).values(
                station_id=station_id,
                kind=message.kind,
                timestamp=message.timestamp,
                received_at=received_at,
                summary=(message.summary or "")[:500] or None,
                payload=message.payload,
            )
        )


class SqlCommandLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, entry: CommandLogEntry) -> int:
        result = await self._c.execute(
            insert(t.command_log)
            .values(
                station_id=entry.station_id,
                command=entry.command,
                arguments=entry.arguments,
                actor=entry.actor,
                reason=entry.reason,
                requested_at=entry.requested_at,
            )
            .returning(t.command_log.c.id)
        )
        return int(result.scalar_one())

    async def accepted_remote_starts(
        self, *, station_id: StationId, since: datetime
    ) -> list[tuple[int, dict[str, Any]]]:
        """(id, arguments) of remote starts the station accepted since then that no transaction claims yet."""
        rows = await self._c.execute(_ACCEPTED_REMOTE_STARTS, {"p_station_id": station_id, "p_since": since})
        return [(int(row.id), dict(row.arguments)) for row in rows]

    async def finish(self, *, outcome: CommandOutcome) -> None:
        await self._c.execute(
            update(t.command_log)
            .where(t.command_log.c.id == outcome.command_id)
            .values(
                finished_at=outcome.finished_at,
                outcome=str(outcome.outcome),
                status=outcome.status,
                response=outcome.data or None,
                error=(outcome.error or "")[:500] or None,
            )
        )


if TYPE_CHECKING:
    from evscada.storage.access.audit import SqlAudit
    from evscada.storage.access.places import SqlSites, SqlVehicles
    from evscada.storage.access.users import SqlReads, SqlUsers
    from evscada.storage.access.web_sessions import SqlWebSessions
    from evscada.storage.alarms.repositories import SqlAlarms
    from evscada.storage.charging.command_repositories import SqlDeviceModel, SqlLocalLists, SqlReservations
    from evscada.storage.historian.monitoring import SqlMonitoring
    from evscada.storage.historian.samples import SqlAvailability, SqlHistorian
    from evscada.storage.notifications.deliveries import SqlDeliveries
    from evscada.storage.notifications.webhooks import SqlOutbox, SqlWebhooks
    from evscada.storage.stations.frame_log import SqlFrameLog


R = TypeVar("R")


class _Repository(Generic[R]):
    """A repository built on first use in a unit: most units touch one or two of the two dozen."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name
        self._attribute = ""
        self._class: Callable[[AsyncConnection], R] | None = None

    def __set_name__(self, owner: type, attribute: str) -> None:
        self._attribute = attribute

    def __get__(self, unit: SqlUnitOfWork, owner: type | None = None) -> R:
        if self._class is None:  # imported late: several of these modules build on this one
            self._class = getattr(import_module(self._module), self._name)
        repository = self._class(unit.connection)
        unit.__dict__[self._attribute] = repository  # the instance's own attribute answers from now on
        return repository


_HERE = __name__


class SqlUnitOfWork:
    stations: _Repository[SqlStations] = _Repository(_HERE, "SqlStations")
    tokens: _Repository[SqlTokens] = _Repository(_HERE, "SqlTokens")
    transactions: _Repository[SqlTransactions] = _Repository(_HERE, "SqlTransactions")
    meter_samples: _Repository[SqlMeterSamples] = _Repository(_HERE, "SqlMeterSamples")
    messages: _Repository[SqlStationMessages] = _Repository(_HERE, "SqlStationMessages")
    commands: _Repository[SqlCommandLog] = _Repository(_HERE, "SqlCommandLog")
    users: _Repository[SqlUsers] = _Repository("evscada.storage.access.users", "SqlUsers")
    reads: _Repository[SqlReads] = _Repository("evscada.storage.access.users", "SqlReads")
    sites: _Repository[SqlSites] = _Repository("evscada.storage.access.places", "SqlSites")
    vehicles: _Repository[SqlVehicles] = _Repository("evscada.storage.access.places", "SqlVehicles")
    historian: _Repository[SqlHistorian] = _Repository("evscada.storage.historian.samples", "SqlHistorian")
    availability: _Repository[SqlAvailability] = _Repository("evscada.storage.historian.samples", "SqlAvailability")
    outbox: _Repository[SqlOutbox] = _Repository("evscada.storage.notifications.webhooks", "SqlOutbox")
    webhooks: _Repository[SqlWebhooks] = _Repository("evscada.storage.notifications.webhooks", "SqlWebhooks")
    deliveries: _Repository[SqlDeliveries] = _Repository("evscada.storage.notifications.deliveries", "SqlDeliveries")
    alarms: _Repository[SqlAlarms] = _Repository("evscada.storage.alarms.repositories", "SqlAlarms")
    local_lists: _Repository[SqlLocalLists] = _Repository(
        "evscada.storage.charging.command_repositories", "SqlLocalLists"
    )
    reservations: _Repository[SqlReservations] = _Repository(
        "evscada.storage.charging.command_repositories", "SqlReservations"
    )
    device_model: _Repository[SqlDeviceModel] = _Repository(
        "evscada.storage.charging.command_repositories", "SqlDeviceModel"
    )
    web_sessions: _Repository[SqlWebSessions] = _Repository("evscada.storage.access.web_sessions", "SqlWebSessions")
    monitoring: _Repository[SqlMonitoring] = _Repository("evscada.storage.historian.monitoring", "SqlMonitoring")
    frame_log: _Repository[SqlFrameLog] = _Repository("evscada.storage.stations.frame_log", "SqlFrameLog")
    audit: _Repository[SqlAudit] = _Repository("evscada.storage.access.audit", "SqlAudit")

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @classmethod
    def on(cls, connection: AsyncConnection) -> SqlUnitOfWork:
        return cls(connection)


class SqlStore:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._samples = MeterSampleWriter(database)
        self._station_state = StationStateWriter(database)

    @property
    def meter_samples(self) -> MeterSampleWriter:
        return self._samples

    @property
    def station_state(self) -> StationStateWriter:
        return self._station_state

    @property
    def writes_waiting(self) -> bool:
        """Stations' messages wait for a group commit: background work should leave the database alone."""
        return self._samples.busy or self._station_state.busy

    async def close(self) -> None:
        await self._station_state.close()
        await self._samples.close()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self._db.transaction() as connection:
            yield SqlUnitOfWork.on(connection)

    async def touch_stations(self, *, last_seen: Mapping[StationId, datetime]) -> None:
        if not last_seen:
            return
        statement = update(t.stations).where(t.stations.c.id == bindparam("sid")).values(last_seen=bindparam("seen"))
        async with self._db.transaction() as connection:
            await connection.execute(statement, [{"sid": sid, "seen": at} for sid, at in last_seen.items()])
