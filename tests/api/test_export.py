"""The billing export: incremental, complete and duplicate-free, also while stations keep writing."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from evscada.core.access.users import Role
from evscada.core.model import EvseRef, IdToken, StationId, TransactionEventKind, TransactionReport
from tests.conftest import start_csms, test_settings
from tests.support import Csms

SETTLE = 0.3


@pytest.fixture
async def csms_export(database_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(database_url, export_settle_seconds=SETTLE)):
        yield running


@pytest.fixture
async def billing(csms_export: Csms) -> AsyncIterator[httpx.AsyncClient]:
    app = csms_export.app
    await app.core.access.add_user(username="billing", role=Role.VIEWER)
    key = await app.core.access.create_api_key(username="billing", name="billing-system")
    assert app.http is not None
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{app.http.port}/api/v1", timeout=10, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield client


async def _session(csms: Csms, station: str, n: int) -> None:
    """A whole session through the core, as the gateway would report it."""
    core = csms.app.core
    start = datetime(2026, 11, 25, 8, tzinfo=UTC) + timedelta(minutes=n)
    started = await core.transactions.report(
        station_id=StationId(station),
        report=TransactionReport(
            kind=TransactionEventKind.STARTED,
            timestamp=start,
            evse=EvseRef(1, 1),
            id_token=IdToken(f"CARD-{n}"),
            meter_value=1000.0 * n,
        ),
    )
    await core.transactions.report(
        station_id=StationId(station),
        report=TransactionReport(
            kind=TransactionEventKind.ENDED,
            timestamp=start + timedelta(minutes=30),
            station_transaction_id=started.transaction.station_transaction_id,
            meter_value=1000.0 * n + 500,
            stop_reason="EVDisconnected",
        ),
    )


async def _page(client: httpx.AsyncClient, cursor: str | None, **params: object) -> tuple[list[dict], str | None]:
    query = {"format": "jsonl", "limit": 7, **params}
    if cursor:
        query["cursor"] = cursor
    response = await client.get("/transactions/export", params=query)
    assert response.status_code == 200, response.text
    rows = [json.loads(line) for line in response.text.splitlines()]
    return rows, response.headers.get("x-next-cursor", cursor)


async def test_the_export_is_incremental_with_a_cursor(csms_export: Csms, billing: httpx.AsyncClient) -> None:
    await csms_export.add_station("CP-B")
    for n in range(3):
        await _session(csms_export, "CP-B", n)
    await asyncio.sleep(SETTLE)
    rows, cursor = await _page(billing, None)
    assert [(r["id_token"], r["state"], r["energy_wh"]) for r in rows] == [
        ("CARD-0", "ended", 500),
        ("CARD-1", "ended", 500),
        ("CARD-2", "ended", 500),
    ]
    again, cursor = await _page(billing, cursor)
    assert again == []  # nothing changed since
    await _session(csms_export, "CP-B", 3)
    await asyncio.sleep(SETTLE)
    rows, _ = await _page(billing, cursor)
    assert [r["id_token"] for r in rows] == ["CARD-3"]


async def test_the_export_as_csv_has_the_documented_columns(csms_export: Csms, billing: httpx.AsyncClient) -> None:
    await csms_export.add_station("CP-B")
    await _session(csms_export, "CP-B", 1)
    await asyncio.sleep(SETTLE)
    response = await billing.get("/transactions/export", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert list(row) == [
        "id",
        "station_id",
        "station_transaction_id",
        "evse_id",
        "connector_id",
        "id_token",
        "token_type",
        "started_at",
        "ended_at",
        "meter_start_wh",
        "meter_stop_wh",
        "energy_wh",
        "stop_reason",
        "state",
        "updated_at",
        "vehicle_id",
        "vehicle_name",
    ]
    assert (row["station_id"], row["energy_wh"], row["stop_reason"]) == ("CP-B", "500.0", "EVDisconnected")


async def test_a_bad_cursor_is_a_clear_422(csms_export: Csms, billing: httpx.AsyncClient) -> None:
    response = await billing.get("/transactions/export", params={"cursor": "yesterday"})
    assert response.status_code == 422 and "X-Next-Cursor" in response.json()["detail"]


async def test_paging_while_stations_write_misses_and_repeats_nothing(
    csms_export: Csms, billing: httpx.AsyncClient
) -> None:
    stations = [f"CP-{i}" for i in range(10)]
    for station in stations:
        await csms_export.add_station(station)

    async def station_writes(station: str, first: int) -> None:
        for n in range(first, first + 10):
            await _session(csms_export, station, n)
            await asyncio.sleep(0.03)  # spread the writes so that pages are read between them

    writers = asyncio.gather(*(station_writes(s, i * 100) for i, s in enumerate(stations)))
    seen: list[int] = []
    cursor = None
    during = 0
    while not writers.done():
        rows, cursor = await _page(billing, cursor, state="ended")
        seen += [r["id"] for r in rows]
        during += bool(rows)
        await asyncio.sleep(0.01)
    await writers
    await asyncio.sleep(SETTLE)
    while True:
        rows, cursor = await _page(billing, cursor, state="ended")
        if not rows:
            break
        seen += [r["id"] for r in rows]
    ended = {row["pk"] for row in await csms_export.rows("transactions", state="ended")}
    assert len(ended) == 100
    assert during >= 2, "the pages must have been read while the stations were writing"
    assert sorted(seen) == sorted(ended)  # every ended transaction exactly once


async def test_a_first_export_can_start_at_a_time_instead_of_a_cursor(
    csms_export: Csms, billing: httpx.AsyncClient
) -> None:
    await csms_export.add_station("CP-T")
    await _session(csms_export, "CP-T", 0)
    await asyncio.sleep(SETTLE)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await _session(csms_export, "CP-T", 1)
    await asyncio.sleep(SETTLE)
    rows, cursor = await _page(billing, None, updated_since=cut.isoformat())
    assert [r["id_token"] for r in rows] == ["CARD-1"]  # changed after the cut; CARD-0 before it
    again, _ = await _page(billing, cursor)
    assert again == []
    both = await billing.get("/transactions/export", params={"cursor": cursor, "updated_since": cut.isoformat()})
    assert both.status_code == 422 and "either cursor or updated_since" in both.text
    naive = await billing.get("/transactions/export", params={"updated_since": "2026-11-25T08:00:00"})
    assert naive.status_code == 422
