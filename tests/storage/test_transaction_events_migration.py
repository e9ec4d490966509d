"""Migration 0016 keys transaction events by their digest: stored events keep their seqNo under a digest no event has,
events that share a seqNo can then be stored, and the way back keeps one event per seqNo."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from evscada.storage.db import Database, alembic_config

AT = "'2026-12-07 10:00:00.000000'"


def _migrate(sync_connection: Any, url: str, revision: str, down: bool = False) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = sync_connection
    (command.downgrade if down else command.upgrade)(config, revision)


def _event(seq_no: int | None, digest: str | None = None) -> str:
    columns = "transaction_pk, seq_no, event_type, timestamp, received_at" + (", digest" if digest else "")
    values = f"1, {'NULL' if seq_no is None else seq_no}, 'Updated', {AT}, {AT}" + (f", '{digest}'" if digest else "")
    return f"INSERT INTO transaction_events ({columns}) VALUES ({values})"


async def _events(database: Database) -> list[tuple[Any, ...]]:
    async with database.transaction() as c:
        return [tuple(row) for row in await c.execute(text("SELECT seq_no, event_type FROM transaction_events"))]


async def test_events_keep_their_seq_no_and_the_way_back_keeps_one_per_seq_no(empty_database_url: str) -> None:
    url = empty_database_url
    database = Database(url)
    async with database.transaction() as c:
        await c.run_sync(_migrate, url, "0015")
        await c.execute(
            text(
                "INSERT INTO transactions (pk, station_id, state, offline, created_at, updated_at) "
                f"VALUES (1, 'CP-M', 'running', false, {AT}, {AT})"
            )
        )
        for seq_no in (0, 1):
            await c.execute(text(_event(seq_no)))
    async with database.transaction() as c:
        await c.run_sync(_migrate, url, "head")
        digests = sorted((await c.execute(text("SELECT digest FROM transaction_events"))).scalars())
        await c.execute(text(_event(0, "a" * 32)))  # seqNo 0 again, another event: kept
        await c.execute(text(_event(None, "b" * 32)))  # a 1.6 event: no seqNo
    assert digests == ["seq-0", "seq-1"]
    assert len(await _events(database)) == 4
    with pytest.raises(IntegrityError):
        async with database.transaction() as c:
            await c.execute(text(_event(5, "a" * 32)))  # the same event again

    async with database.transaction() as c:
        await c.run_sync(_migrate, url, "0015", True)
    assert sorted(await _events(database)) == [(0, "Updated"), (1, "Updated")]
    with pytest.raises(IntegrityError):
        async with database.transaction() as c:
            await c.execute(text(_event(1)))  # one event per seqNo, as before
    await database.close()
