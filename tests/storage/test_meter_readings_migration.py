"""Migration 0014 moves stored meter samples into meter_readings: every sample reads back the same through the view,
the aggregator's watermark stays where it was, new samples get new ids, and the way back loses nothing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import text

from evscada.core.model import EvseRef, MeterSample, StationId
from evscada.storage.charging.sample_writer import insert_readings
from evscada.storage.db import Database, alembic_config

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
FIELDS = "station_id, evse_id, connector_id, transaction_pk, timestamp, measurand, phase, location, context, unit"


def _migrate(sync_connection: Any, url: str, revision: str, down: bool = False) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = sync_connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def _samples(database: Database) -> list[tuple[Any, ...]]:
    async with database.transaction() as c:
        rows = await c.execute(text(f"SELECT {FIELDS}, value, raw FROM meter_samples ORDER BY id"))
        return [tuple(row) for row in rows]


async def test_stored_samples_move_to_readings_and_back(empty_database_url: str) -> None:
    database_url = empty_database_url
    database = Database(database_url)
    async with database.transaction() as c:
        await c.run_sync(_migrate, database_url, "0013")
        old_time = "'2026-12-01 08:00:00.000000'" if c.dialect.name == "sqlite" else "'2026-12-01T08:00:00Z'"
        await c.execute(
            text(
                f"INSERT INTO meter_samples ({FIELDS}, value, raw) VALUES "
                f"('CP-M', 1, 1, NULL, {old_time}, 'Energy.Active.Import.Register', NULL, NULL, "
                "'Sample.Periodic', 'Wh', 1234.5, NULL),"
                f"('CP-M', 1, 2, 7, {old_time}, 'Voltage', 'L1-N', 'Outlet', NULL, 'V', 229.9, NULL),"
                f"('CP-M', 1, 1, NULL, {old_time}, 'Energy.Active.Import.Register', NULL, NULL, NULL, NULL, NULL, "
                "'signed:AB12')"
            )
        )
        await c.execute(text("INSERT INTO historian_watermarks (name, last_id) VALUES ('meter_samples', 2)"))
    async with database.transaction() as c:
        before = [tuple(row) for row in await c.execute(text(f"SELECT {FIELDS}, value, raw FROM meter_samples"))]

    async with database.transaction() as c:
        await c.run_sync(_migrate, database_url, "head")
        watermark = (await c.execute(text("SELECT name, last_id FROM historian_watermarks"))).one()
        readings = (await c.execute(text("SELECT count(*) FROM meter_readings"))).scalar_one()
        # A new message after the move takes an id above the moved ones (PostgreSQL's sequence was moved on).
        fresh = [MeterSample(T0 + timedelta(minutes=1), 7.0, "Power.Active.Import", unit="W")]
        await insert_readings(c, station_id=StationId("CP-M"), evse=EvseRef(1, 1), transaction_pk=None, samples=fresh)
        newest = (await c.execute(text("SELECT max(reading_id) FROM meter_samples"))).scalar_one()
    after = await _samples(database)

    assert tuple(watermark) == ("meter_readings", 2)
    assert readings == 3 and newest == 4
    assert [_comparable(row) for row in after[:3]] == [_comparable(row) for row in before]
    assert _comparable(after[3])[5:] == ("Power.Active.Import", None, None, None, "W", 7.0, None)

    async with database.transaction() as c:
        await c.run_sync(_migrate, database_url, "0013", True)
        back = [tuple(row) for row in await c.execute(text(f"SELECT {FIELDS}, value, raw FROM meter_samples"))]
        watermark = (await c.execute(text("SELECT name, last_id FROM historian_watermarks"))).one()
    assert [_comparable(row) for row in back] == [_comparable(row) for row in after]
    assert tuple(watermark) == ("meter_samples", 3 * 1024 - 1)  # every sample of reading 2, none of reading 3
    await database.close()


def _comparable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Times as instants: SQLite hands back the stored text, PostgreSQL a datetime."""
    at = row[4]
    if isinstance(at, str):
        at = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return (*row[:4], at.astimezone(UTC), *row[5:])


async def test_values_that_are_no_number_move_as_new_readings_hold_them(empty_database_url: str) -> None:
    """Before 0014 a 1.6 value of "1e400" was stored as an infinity (and NaN stayed NaN on PostgreSQL). SQLite would
    write "Inf" into the JSON, which nothing can read back: such values move without a number, their text in raw."""
    database = Database(empty_database_url)
    async with database.transaction() as c:
        await c.run_sync(_migrate, empty_database_url, "0013")
        postgresql = c.dialect.name == "postgresql"
        values = [math.inf, -math.inf, *([math.nan] if postgresql else []), 5.0]
        for n, value in enumerate(values):
            await c.execute(
                text(
                    f"INSERT INTO meter_samples ({FIELDS}, value, raw) "
                    "VALUES ('CP-N', 1, 1, NULL, :at, 'Voltage', NULL, NULL, NULL, 'V', :value, :raw)"
                ),
                {"at": T0 + timedelta(seconds=n), "value": value, "raw": "1e400" if n == 0 else None},
            )
        await c.run_sync(_migrate, empty_database_url, "head")
    moved = await _samples(database)
    await database.close()

    expected = [(None, "1e400"), (None, "-inf"), *([(None, "nan")] if postgresql else []), (5.0, None)]
    assert [row[-2:] for row in moved] == expected
