"""The queries behind the access pages and the API's lists: search, count and paging in the database (SQLite and
PostgreSQL), so ten thousand tokens are never loaded to show fifty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evscada.core.access.audit import AuditFilter
from evscada.core.errors import InvalidArgument, UnknownVehicle
from evscada.core.notifications.deliveries import Delivery, DeliveryFilter
from evscada.storage import tables as t
from tests.support import Csms


async def add_many(csms: Csms, *, tokens: int, vehicles: int) -> None:
    """Tokens TAG-00001 ... and vehicles Bus 0001 ... (fleet number = the number), written in two statements: the
    fast way to a realistic fleet; token i belongs to vehicle i while there are vehicles."""
    now = datetime.now(UTC)
    async with csms.app.database.transaction() as connection:
        if vehicles:
            await connection.execute(
                t.vehicles.insert(),
                [
                    {
                        "name": f"Bus {i:04d}",
                        "fleet_number": str(i),
                        "plate": f"M-EV {i}",
                        "fleet": "city",
                        "created_at": now,
                    }
                    for i in range(1, vehicles + 1)
                ],
            )
        ids = {row.name: row.id for row in await connection.execute(t.vehicles.select())}
        if tokens:
            await connection.execute(
                t.tokens.insert(),
                [
                    {
                        "value": f"TAG-{i:05d}",
                        "type": "ISO14443",
                        "status": "Accepted",
                        "created_at": now,
                        "updated_at": now,
                        "vehicle_id": ids.get(f"Bus {i:04d}"),
                    }
                    for i in range(1, tokens + 1)
                ],
            )


async def test_tokens_are_searched_counted_and_paged_in_the_database(csms: Csms) -> None:
    await add_many(csms, tokens=300, vehicles=20)
    authorization = csms.app.core.authorization
    assert await authorization.count_tokens() == 300
    second = await authorization.tokens(limit=50, offset=50)
    assert [tok.value for tok in (second[0], second[-1])] == ["TAG-00051", "TAG-00100"]
    assert [tok.value for tok in await authorization.tokens(limit=50, offset=0, search="tag-00123")] == ["TAG-00123"]
    # By its vehicle's name too: Bus 0007's token.
    assert [tok.value for tok in await authorization.tokens(limit=50, offset=0, search="bus 0007")] == ["TAG-00007"]
    assert await authorization.count_tokens(search="TAG-001") == 100  # TAG-00100 ... TAG-00199
    assert await authorization.tokens(limit=50, offset=0, search="100%") == []  # a % is a character, not a pattern


async def test_vehicles_are_searched_paged_and_resolved_by_name_or_fleet_number(csms: Csms) -> None:
    await add_many(csms, tokens=0, vehicles=120)
    vehicles = csms.app.core.vehicles
    assert await vehicles.count() == 120 and await vehicles.count(search="M-EV 11") == 11  # 11, 110 ... 119
    page = await vehicles.list(limit=25, offset=100)
    assert [v.name for v in page] == [f"Bus {i:04d}" for i in range(101, 121)]
    assert len(await vehicles.list()) == 120  # without paging: every vehicle, as before
    assert (await vehicles.resolve(reference="bus 0042")).fleet_number == "42"  # a name, any case
    assert (await vehicles.resolve(reference="77")).name == "Bus 0077"  # a fleet number
    with pytest.raises(UnknownVehicle, match="no vehicle named 'Bus 9999'"):
        await vehicles.resolve(reference="Bus 9999")
    await vehicles.create(name="Spare", fleet_number="42", fleet="airport")
    with pytest.raises(InvalidArgument, match="fits 2 vehicles"):
        await vehicles.resolve(reference="42")


async def test_the_audit_log_is_searched_by_text_and_paged_newest_first(csms: Csms) -> None:
    for value in ("CARD-A", "CARD-B", "OTHER-C"):
        await csms.add_token(value)
    audit = csms.app.core.audit
    found = await audit.entries(where=AuditFilter(text="card-", limit=10))
    assert [e.target_id for e in found] == ["CARD-B", "CARD-A"]
    older = await audit.entries(where=AuditFilter(action="token", limit=1, offset=1))
    assert [e.target_id for e in older] == ["CARD-B"]


async def test_the_delivery_log_pages_with_an_offset(csms: Csms) -> None:
    now = datetime.now(UTC)
    async with csms.app.store.unit() as uow:
        for i in range(5):
            delivery = Delivery(
                id=0,
                recipient=f"p{i}",
                channel="email",
                address="a@b.c",
                kind="test",
                subject="s",
                body="b",
                created_at=now + timedelta(seconds=i),
                next_attempt_at=now + timedelta(days=1),
            )
            await uow.deliveries.add(delivery=delivery)
    page = await csms.app.notifier.deliveries(where=DeliveryFilter(limit=2, offset=2))
    assert [d.recipient for d in page] == ["p2", "p1"]
