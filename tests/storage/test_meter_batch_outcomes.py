"""One group commit of meter values with every kind of message in it: what each caller is told and what is stored.

On PostgreSQL the batch is one statement (receipts, transaction look-up and readings together), on SQLite several:
both must tell the same story.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from evscada.core.model import EvseRef, MeterSample, StationId
from evscada.storage import tables as t
from evscada.storage.charging.sample_writer import MeterSampleWriter
from evscada.storage.db import Database

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


async def test_each_message_of_a_batch_gets_its_own_outcome_and_transaction(database: Database) -> None:
    run = uuid.uuid4().hex[:8]
    charging, idle, again = (StationId(f"{name}-{run}") for name in ("CHG", "IDL", "AGN"))
    async with database.transaction() as connection:
        created = await connection.execute(
            insert(t.transactions)
            .values(
                station_id=charging,
                station_transaction_id="tx-1",
                state="Active",
                offline=False,
                created_at=T0,
                updated_at=T0,
            )
            .returning(t.transactions.c.pk)
        )
        transaction_pk = created.scalar_one()
    writer = MeterSampleWriter(database)

    def append(station: StationId, key: str | None, transaction: str | None, value: float):  # type: ignore[no-untyped-def]
        return asyncio.ensure_future(
            writer.append(
                station_id=station,
                evse=EvseRef(1, 1),
                station_transaction_id=transaction,
                samples=[MeterSample(timestamp=T0, value=value, unit="Wh")],
                message_key=key,
                at=T0,
            )
        )

    stored_before = await append(again, f"seen-{run}", None, 1.0)  # a message stored in an earlier commit
    tasks = [
        append(charging, f"a-{run}", "tx-1", 10.0),  # in a transaction the CSMS knows
        append(charging, f"a-{run}", "tx-1", 10.0),  # the same frame again, in the same batch
        append(idle, None, None, 20.0),  # no key: always stored
        append(idle, f"b-{run}", "tx-unknown", 21.0),  # a transaction the CSMS never heard of
        append(again, f"seen-{run}", None, 1.0),  # repeated after its first copy was committed
    ]
    outcomes = await asyncio.gather(*tasks)
    await writer.close()

    assert stored_before.stored
    assert [o.stored for o in outcomes] == [True, False, True, True, False]
    assert [o.transaction_pk for o in outcomes] == [transaction_pk, transaction_pk, None, None, None]
    c = t.meter_samples.c
    async with database.transaction() as connection:
        rows = await connection.execute(
            select(c.station_id, c.transaction_pk, c.value)
            .where(c.station_id.in_([charging, idle, again]))
            .order_by(c.station_id, c.value)
        )
        assert [tuple(row) for row in rows] == [
            (again, None, 1.0),
            (charging, transaction_pk, 10.0),
            (idle, None, 20.0),
            (idle, None, 21.0),
        ]
        receipts = await connection.execute(
            select(func.count()).select_from(t.message_receipts).where(t.message_receipts.c.message_key.like(f"%{run}"))
        )
        assert receipts.scalar_one() == 3


@pytest.fixture
async def postgres(postgres_database_url: str) -> AsyncIterator[Database]:
    """PostgreSQL only: SQLite keeps one connection of its own and needs no ping."""
    database = Database(postgres_database_url)
    yield database
    await database.close()


async def test_a_pooled_postgresql_connection_that_died_since_its_last_use_is_replaced_before_it_is_used(
    postgres: Database,
) -> None:
    """A connection is pinged when it is taken from the pool again (in one round trip, not pool_pre_ping's three):
    a PostgreSQL restart (here: its backend terminated) costs no failed write and no reported fault."""
    database = postgres
    async with database.transaction() as connection:
        backend = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    outsider = create_async_engine(database.url)  # as the server's administrator (or a restart) would
    try:
        async with outsider.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    finally:
        await outsider.dispose()

    writer = MeterSampleWriter(database)
    results = [
        await writer.append(
            station_id=StationId(f"PING-{uuid.uuid4().hex[:8]}"),
            evse=EvseRef(1, 1),
            station_transaction_id=None,
            samples=[MeterSample(timestamp=T0, value=float(n), unit="Wh")],
            message_key=uuid.uuid4().hex,
            at=T0,
        )
        for n in range(3)
    ]
    await writer.close()
    assert all(result.stored for result in results)
    assert database.faults.current() is None
