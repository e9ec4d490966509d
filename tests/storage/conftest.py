"""Fixtures for the storage tests: a migrated database of each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from evscada.storage.db import Database


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """SQLite, and PostgreSQL where configured (its database is shared by the run: use fresh station ids)."""
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.close()
