"""A cluster's processes start at once and each migrates on start: one does the work, the others wait for it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from evscada.storage.db import Database
from tests.conftest import _scratch_postgres_database


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """PostgreSQL only: a SQLite file belongs to one process."""
    with _scratch_postgres_database() as url:
        yield url


async def test_processes_migrating_at_once_all_start_on_one_schema(fresh_postgres: str) -> None:
    databases = [Database(fresh_postgres) for _ in range(4)]
    try:
        await asyncio.gather(*(database.migrate() for database in databases))  # without the lock: duplicate tables
        async with databases[0].transaction() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert len(versions) == 1, versions
    finally:
        for database in databases:
            await database.close()
