"""Migrations 0021 (a site's prices) and 0022 (its connection in A) add a column in place and drop it in place on
the way back: a site and the stations placed on it are kept both ways (a copy of `sites` would unplace them)."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import text

from evscada.storage.db import Database, alembic_config


def _migrate(sync_connection: Any, url: str, revision: str, down: bool = False) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = sync_connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_sites_and_their_stations_survive_the_way_up_and_back(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        async with database.transaction() as c:
            await c.run_sync(_migrate, empty_database_url, "0020")
            await c.execute(
                text("INSERT INTO sites (name, grid_capacity_w, created_at) VALUES ('Depot', 9e5, CURRENT_TIMESTAMP)")
            )
            await c.execute(
                text(
                    "INSERT INTO stations (id, registration, security_profile, online, created_at, site_id) "
                    "VALUES ('CP-1', 'Accepted', 0, false, CURRENT_TIMESTAMP, 1)"
                )
            )
        async with database.transaction() as c:
            await c.run_sync(_migrate, empty_database_url, "0022")
            await c.execute(text("UPDATE sites SET grid_capacity_a = 1250"))
            await c.execute(
                text(
                    "INSERT INTO site_limits (site_id, kind, starts_at, ends_at, price, set_by, set_at) VALUES "
                    "(1, 'price', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0.3, 'test', CURRENT_TIMESTAMP)"
                )
            )
            assert (await c.execute(text("SELECT grid_capacity_w, grid_capacity_a FROM sites"))).one() == (9e5, 1250)
        async with database.transaction() as c:
            await c.run_sync(_migrate, empty_database_url, "0020", True)
            assert (await c.execute(text("SELECT name, grid_capacity_w FROM sites"))).one() == ("Depot", 9e5)
            assert (await c.execute(text("SELECT id, site_id FROM stations"))).one() == ("CP-1", 1)
            assert (await c.execute(text("SELECT count(*) FROM site_limits"))).scalar() == 0  # prices went with 0021
    finally:
        await database.close()
