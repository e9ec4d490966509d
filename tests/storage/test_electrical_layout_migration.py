"""Migration 0019 adds feeders and each station's supply in place: nothing that hangs from a station is lost on the
way up (on SQLite, copying the stations table would delete every row that cascades from it), nor on the way back."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import text

from evscada.storage.db import Database, alembic_config


def _migrate(sync_connection: Any, url: str, revision: str, down: bool = False) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = sync_connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def _kept(database: Database) -> tuple[Any, ...]:
    async with database.transaction() as c:
        stations = (await c.execute(text("SELECT id, name, site_id FROM stations ORDER BY id"))).all()
        connectors = (await c.execute(text("SELECT station_id, evse_id, status FROM connectors"))).all()
        return tuple(map(tuple, stations)), tuple(map(tuple, connectors))


async def test_stations_and_what_hangs_from_them_survive_the_way_up_and_back(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        async with database.transaction() as c:
            await c.run_sync(_migrate, empty_database_url, "0018")
            await c.execute(text("INSERT INTO sites (name, created_at) VALUES ('Depot', CURRENT_TIMESTAMP)"))
            await c.execute(
                text(
                    "INSERT INTO stations (id, registration, security_profile, online, created_at, name, site_id) "
                    "VALUES ('CP-1', 'Accepted', 0, false, CURRENT_TIMESTAMP, 'Bay 1', 1)"
                )
            )
            await c.execute(
                text(
                    "INSERT INTO connectors (station_id, evse_id, connector_id, status, status_at) "
                    "VALUES ('CP-1', 1, 1, 'Available', CURRENT_TIMESTAMP)"
                )
            )
        before = await _kept(database)
        assert before == ((("CP-1", "Bay 1", 1),), (("CP-1", 1, "Available"),))

        async with database.transaction() as c:
            await c.run_sync(_migrate, empty_database_url, "0019")
            await c.execute(text("INSERT INTO site_feeders (site_id, name, max_w) VALUES (1, 'Feeder A', 5e5)"))
            await c.execute(text("UPDATE stations SET feeder_id = 1, supply = 'DC', max_power_w = 150000"))
        assert await _kept(database) == before
        async with database.transaction() as c:  # the feeder goes with its site; the station stays, without it
            await c.execute(text("DELETE FROM sites"))
            assert (await c.execute(text("SELECT feeder_id, site_id, supply FROM stations"))).one() == (
                None,
                None,
                "DC",
            )

        async with database.transaction() as c:
            await c.run_sync(_migrate, empty_database_url, "0018", True)
        assert await _kept(database) == ((("CP-1", "Bay 1", None),), before[1])
    finally:
        await database.close()
