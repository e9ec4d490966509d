"""The storage registry: one unit of work per database transaction, its repositories built on first use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import StationId
from evscada.storage import tables as t
from evscada.storage.access.audit import SqlAudit
from evscada.storage.access.places import SqlSites, SqlVehicles
from evscada.storage.access.users import SqlUsers
from evscada.storage.access.web_sessions import SqlWebSessions
from evscada.storage.alarms.repositories import SqlAlarms
from evscada.storage.certificates.repositories import SqlCertificates
from evscada.storage.charging.local_lists import SqlLocalLists
from evscada.storage.charging.meter_samples import SqlMeterSamples
from evscada.storage.charging.queries import SqlReads
from evscada.storage.charging.reservations import SqlReservations
from evscada.storage.charging.sample_writer import MeterSampleWriter
from evscada.storage.charging.tokens import SqlTokens
from evscada.storage.charging.transactions import SqlTransactions
from evscada.storage.control.command_log import SqlCommandLog
from evscada.storage.db import Database
from evscada.storage.energy.feeders import SqlFeeders
from evscada.storage.energy.profiles import SqlChargingProfiles
from evscada.storage.energy.reports import SqlChargingReports
from evscada.storage.energy.site_limits import SqlSiteLimits
from evscada.storage.files.repositories import SqlFiles
from evscada.storage.firmware.repositories import SqlFirmware
from evscada.storage.historian.monitoring import SqlMonitoring
from evscada.storage.historian.samples import SqlAvailability, SqlHistorian
from evscada.storage.notifications.deliveries import SqlDeliveries
from evscada.storage.notifications.webhooks import SqlOutbox, SqlWebhooks
from evscada.storage.reports.repositories import SqlReportReads, SqlReports
from evscada.storage.stations.device_model import SqlDeviceModel
from evscada.storage.stations.frame_log import SqlFrameLog
from evscada.storage.stations.repositories import SqlStationMessages, SqlStations
from evscada.storage.stations.state_writer import StationStateWriter
from evscada.storage.stations.upstream import SqlUpstream

R = TypeVar("R")


class _Repository(Generic[R]):
    """A repository built on first use in a unit: most units touch one or two of the two dozen."""

    def __init__(self, build: Callable[[AsyncConnection], R]) -> None:
        self._build = build
        self._attribute = ""

    def __set_name__(self, owner: type, attribute: str) -> None:
        self._attribute = attribute

    def __get__(self, unit: SqlUnitOfWork, owner: type | None = None) -> R:
        repository = self._build(unit.connection)
        unit.__dict__[self._attribute] = repository  # the instance's own attribute answers from now on
        return repository


class SqlUnitOfWork:
    stations = _Repository(SqlStations)
    tokens = _Repository(SqlTokens)
    transactions = _Repository(SqlTransactions)
    meter_samples = _Repository(SqlMeterSamples)
    messages = _Repository(SqlStationMessages)
    commands = _Repository(SqlCommandLog)
    users = _Repository(SqlUsers)
    reads = _Repository(SqlReads)
    sites = _Repository(SqlSites)
    vehicles = _Repository(SqlVehicles)
    historian = _Repository(SqlHistorian)
    availability = _Repository(SqlAvailability)
    outbox = _Repository(SqlOutbox)
    webhooks = _Repository(SqlWebhooks)
    deliveries = _Repository(SqlDeliveries)
    alarms = _Repository(SqlAlarms)
    local_lists = _Repository(SqlLocalLists)
    reservations = _Repository(SqlReservations)
    device_model = _Repository(SqlDeviceModel)
    web_sessions = _Repository(SqlWebSessions)
    monitoring = _Repository(SqlMonitoring)
    frame_log = _Repository(SqlFrameLog)
    upstream = _Repository(SqlUpstream)
    audit = _Repository(SqlAudit)
    charging_profiles = _Repository(SqlChargingProfiles)
    charging_reports = _Repository(SqlChargingReports)
    site_limits = _Repository(SqlSiteLimits)
    feeders = _Repository(SqlFeeders)
    files = _Repository(SqlFiles)
    reports = _Repository(SqlReports)
    report_reads = _Repository(SqlReportReads)
    certificates = _Repository(SqlCertificates)
    firmware = _Repository(SqlFirmware)

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
