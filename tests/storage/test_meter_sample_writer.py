"""Meter values of many stations at once: each message stored once, in as many commits as the database allows."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.charging.repositories import MeterWrite
from evscada.core.model import EvseRef, MeterSample, StationId
from evscada.storage import tables as t
from evscada.storage.charging.sample_writer import MeterSampleWriter, PendingSamples
from evscada.storage.db import Database
from evscada.storage.group_commit import Refused

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class _Watched(MeterSampleWriter):
    """The real writer, slowed inside each transaction so that overlapping commits would show."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.in_flight = 0
        self.most_in_flight = 0

    async def write(self, connection: AsyncConnection, items: Sequence[PendingSamples]) -> list[MeterWrite | Refused]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.05)
            return list(await super().write(connection, items))
        finally:
            self.in_flight -= 1


def _message(writer: MeterSampleWriter, station: StationId, key: str, n: int) -> asyncio.Task[MeterWrite]:
    at = T0 + timedelta(seconds=n)
    samples = [
        MeterSample(timestamp=at, value=1000.0 + n, unit="Wh"),
        MeterSample(timestamp=at, value=7000.0, measurand="Power.Active.Import", unit="W"),
    ]
    return asyncio.ensure_future(
        writer.append(
            station_id=station,
            evse=EvseRef(1, 1),
            station_transaction_id=None,
            samples=samples,
            message_key=key,
            at=at,
        )
    )


async def test_each_message_is_stored_once_even_when_repeated_while_its_first_copy_is_committing(
    database: Database,
) -> None:
    writer = _Watched(database)
    stations = [StationId(f"MSW-{uuid.uuid4().hex[:8]}") for _ in range(60)]
    first: list[asyncio.Task[MeterWrite]] = []
    repeats: list[asyncio.Task[MeterWrite]] = []
    for n, station in enumerate(stations):
        first.append(_message(writer, station, f"key-{n}", n))
        await asyncio.sleep(0)  # arrivals spread over the event loop's turns, as from the network
        if n % 3 == 0:  # a station that reconnected and sent the same message again
            repeats.append(_message(writer, station, f"key-{n}", n))
    results = await asyncio.gather(*first, *repeats)
    await writer.close()

    assert sum(result.stored for result in results) == len(stations)  # each message once, whichever copy won
    async with database.transaction() as c:
        stored = await c.execute(
            select(t.meter_samples.c.station_id, func.count())
            .where(t.meter_samples.c.station_id.in_(stations))
            .group_by(t.meter_samples.c.station_id)
        )
        per_station = {row[0]: row[1] for row in stored}
    assert per_station == {station: 2 for station in stations}


async def test_commits_overlap_on_postgresql_and_never_on_sqlite(database: Database) -> None:
    writer = _Watched(database)
    station = StationId(f"MSW-{uuid.uuid4().hex[:8]}")
    pending = []
    for n in range(40):
        pending.append(_message(writer, station, f"overlap-{uuid.uuid4().hex}", n))
        await asyncio.sleep(0.005)  # new messages arrive while earlier batches are being committed
    assert all(result.stored for result in await asyncio.gather(*pending))
    await writer.close()

    if database.engine.dialect.name == "sqlite":
        assert writer.most_in_flight == 1  # one writer: batches follow each other
    else:
        assert writer.most_in_flight > 1


async def test_a_message_the_database_refuses_fails_alone_not_the_stations_that_shared_its_commit(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    writer = MeterSampleWriter(database)
    run = uuid.uuid4().hex[:8]
    good = [StationId(f"OK-{run}-{n}") for n in range(3)]
    poison = StationId(f"BAD-{run}")
    at = T0

    def append(station: StationId, evse_id: int) -> asyncio.Task[MeterWrite]:
        samples = [MeterSample(timestamp=at, value=1.0, unit="Wh")]
        return asyncio.ensure_future(
            writer.append(
                station_id=station,
                evse=EvseRef(evse_id, 1),  # 2**64 fits no INTEGER column of either database
                station_transaction_id=None,
                samples=samples,
                message_key=uuid.uuid4().hex,
                at=at,
            )
        )

    with caplog.at_level(logging.WARNING, logger="evscada.storage.group_commit"):
        tasks = [append(good[0], 1), append(poison, 2**64), append(good[1], 1), append(good[2], 1)]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    await writer.close()

    assert "writing 4 meter value messages failed" in caplog.text  # they did share one commit
    assert isinstance(outcomes[1], Exception)
    assert [o.stored for o in (outcomes[0], outcomes[2], outcomes[3])] == [True, True, True]  # type: ignore[union-attr]
    async with database.transaction() as connection:
        stored = await connection.execute(
            select(t.meter_samples.c.station_id).where(t.meter_samples.c.station_id.like(f"%-{run}%"))
        )
        assert sorted(row.station_id for row in stored) == sorted(good)


async def test_a_message_reads_back_value_by_value_in_the_order_sent_however_many_values_share_a_time(
    database: Database,
) -> None:
    """More values of one time than a reading holds (1,024) are split over readings; every value reads back once,
    in order, with an id of its own; one that is no number keeps its text and has no value."""
    writer = MeterSampleWriter(database)
    station = StationId(f"MANY-{uuid.uuid4().hex[:8]}")
    later = T0 + timedelta(seconds=1)
    samples = [MeterSample(timestamp=T0, value=float(n), measurand="Voltage", unit="V") for n in range(1500)]
    samples.insert(700, MeterSample(timestamp=later, value=float("inf"), measurand="Power.Active.Import", unit="W"))
    result = await writer.append(
        station_id=station,
        evse=EvseRef(1, 2),
        station_transaction_id=None,
        samples=samples,
        message_key=None,
        at=T0,
    )
    await writer.close()

    assert result.stored
    c = t.meter_samples.c
    async with database.transaction() as connection:
        rows = (await connection.execute(select(t.meter_samples).where(c.station_id == station).order_by(c.id))).all()
    voltages = [row for row in rows if row.measurand == "Voltage"]
    assert [row.value for row in voltages] == [float(n) for n in range(1500)]
    assert len({row.id for row in rows}) == 1501 and len({row.reading_id for row in rows}) == 3
    assert {(row.evse_id, row.connector_id) for row in rows} == {(1, 2)}
    (power,) = (row for row in rows if row.measurand == "Power.Active.Import")
    assert (power.value, power.raw, power.timestamp) == (None, "inf", later)
