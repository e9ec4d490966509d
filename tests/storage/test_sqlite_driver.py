"""The one-trip SQLite connection keeps SQLAlchemy's contract: results, row counts, commits and rollbacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from evscada.storage.db import Database


@pytest.fixture
async def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.transaction() as c:
        await c.execute(text("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    return database


async def test_rows_counts_and_returning_come_back_as_with_aiosqlite(database: Database) -> None:
    async with database.transaction() as c:
        many = await c.execute(text("INSERT INTO things (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(5)])
        returned = await c.execute(text("INSERT INTO things (name) VALUES ('last') RETURNING id, name"))
        assert returned.all() == [(6, "last")]
        assert many.rowcount == 5
        updated = await c.execute(text("UPDATE things SET name = name || '!' WHERE id <= 3"))
        assert updated.rowcount == 3
        result = await c.execute(text("SELECT id, name FROM things ORDER BY id"))
        assert result.fetchone() == (1, "n0!")
        assert result.fetchmany(2) == [(2, "n1!"), (3, "n2!")]
        assert result.fetchall() == [(4, "n3"), (5, "n4"), (6, "last")]
        assert (await c.execute(text("SELECT name FROM things WHERE id = 99"))).first() is None
    await database.close()


async def test_a_failed_statement_rolls_back_its_whole_transaction_and_the_connection_goes_on(
    database: Database,
) -> None:
    async with database.transaction() as c:
        await c.execute(text("INSERT INTO things (name) VALUES ('kept')"))
    with pytest.raises(Exception, match="UNIQUE"):
        async with database.transaction() as c:
            await c.execute(text("INSERT INTO things (name) VALUES ('lost')"))
            await c.execute(text("INSERT INTO things (name) VALUES ('kept')"))
    async with database.transaction() as c:
        names = (await c.execute(text("SELECT name FROM things ORDER BY id"))).scalars().all()
    assert names == ["kept"]
    await database.close()


async def test_committed_data_is_on_disk_for_the_next_process(database: Database, tmp_path: Path) -> None:
    async with database.transaction() as c:
        await c.execute(text("INSERT INTO things (name) VALUES ('durable')"))
    async with database.transaction() as c:  # a read-only transaction ends without a trip; nothing is lost
        assert (await c.execute(text("SELECT count(*) FROM things"))).scalar_one() == 1
    await database.close()

    reopened = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with reopened.transaction() as c:
        assert (await c.execute(text("SELECT name FROM things"))).scalars().all() == ["durable"]
        assert (await c.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
    await reopened.close()


async def test_writes_left_in_an_open_transaction_never_reach_the_next_commit(database: Database) -> None:
    async with database.transaction() as c:
        await c.execute(text("INSERT INTO things (name) VALUES ('committed')"))
    # As a request cancelled while ending its transaction would leave it: written, neither committed nor rolled back.
    await c.execute(text("INSERT INTO things (name) VALUES ('orphan')"))

    async with database.transaction() as c:
        await c.execute(text("INSERT INTO things (name) VALUES ('next')"))
    async with database.transaction() as c:
        names = (await c.execute(text("SELECT name FROM things ORDER BY id"))).scalars().all()
    assert names == ["committed", "next"]
    await database.close()
