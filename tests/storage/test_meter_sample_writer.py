"""Meter values of many stations at once: each message stored once, in as many commits as the database allows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import EvseRef, MeterSample, StationId
from evscada.core.ports import MeterWrite
from evscada.storage import tables as t
from evscada.storage.db import Database
from evscada.storage.group_commit import Refused
from evscada.storage.sample_writer import MeterSampleWriter, _Pending

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class _Watched(MeterSampleWriter):
    """The real writer, slowed inside each transaction so that overlapping commits would show."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.in_flight = 0
        self.most_in_flight = 0

    async def write(self, connection: AsyncConnection, items: Sequence[_Pending]) -> list[MeterWrite | Refused]:
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
