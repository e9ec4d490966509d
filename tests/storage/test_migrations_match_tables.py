"""The migrations build exactly the schema storage/tables.py describes, so code and database cannot drift."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from evscada.storage import tables as t
from evscada.storage.db import Database


def _differences(connection: Any) -> list[Any]:
    # Column lengths are compared on PostgreSQL only: SQLite keeps a declared VARCHAR length but never enforces it.
    compare_type = connection.dialect.name == "postgresql"
    context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
    return list(compare_metadata(context, t.metadata))


async def test_the_migrated_schema_is_the_one_the_code_uses(database: Database) -> None:
    async with database.transaction() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []
