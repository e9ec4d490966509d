"""Live events reach a subscriber over server-sent events, filtered as asked."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from evscada.core.access.users import Role
from evscada.core.model import StationId
from tests.api.conftest import key_for as _key
from tests.support import Csms, station16


async def _events(response: httpx.Response, wanted: int) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            received.append(json.loads(line[6:]))
            if len(received) == wanted:
                return received
    return received


async def test_a_status_change_reaches_a_filtered_subscriber(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await _key(csms, Role.VIEWER)
    for station in ("CP-A", "CP-B"):
        await csms.add_station(station)
    params = {"station_id": "CP-A", "type": "connector_status_changed"}
    async with api.stream("GET", "/events", params=params, headers=viewer) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = asyncio.create_task(_events(response, 1))
        await asyncio.sleep(0.1)
        async with station16(csms, "CP-B") as other:  # another station's change is not delivered
            await other.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Faulted"))
        async with station16(csms, "CP-A") as cp:
            await cp.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        (event,) = await asyncio.wait_for(reader, 5)
    assert event["type"] == "connector_status_changed" and event["station_id"] == "CP-A"
    assert (event["status"], event["error_code"], event["evse"]) == (
        "Faulted",
        "GroundFailure",
        {"evse_id": 1, "connector_id": 1},
    )


async def test_the_event_stream_needs_a_key(csms: Csms, api: httpx.AsyncClient) -> None:
    assert (await api.get("/events")).status_code == 401


async def test_an_open_event_stream_does_not_hold_up_shutdown(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await _key(csms, Role.VIEWER)
    assert csms.app.http is not None
    async with api.stream("GET", "/events", headers=viewer) as response:
        assert response.status_code == 200
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(csms.app.http.stop(), 10)
        assert asyncio.get_running_loop().time() - started < 3  # the stream ends at once, not at the 5 s backstop


async def test_a_subscriber_of_a_site_gets_only_that_sites_stations(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await _key(csms, Role.VIEWER)
    depot = await csms.app.core.sites.create(name="Depot")
    for station in ("DEPOT-1", "ELSEWHERE-1"):
        await csms.add_station(station)
    await csms.app.core.sites.place_station(
        station_id=StationId("DEPOT-1"), name=None, site_id=depot.id, latitude=None, longitude=None
    )
    params = {"site_id": str(depot.id), "type": "connector_status_changed"}
    async with api.stream("GET", "/events", params=params, headers=viewer) as response:
        assert response.status_code == 200
        reader = asyncio.create_task(_events(response, 1))
        await asyncio.sleep(0.1)
        async with station16(csms, "ELSEWHERE-1") as other:
            await other.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Faulted"))
        async with station16(csms, "DEPOT-1") as cp:
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Unavailable"))
        (event,) = await asyncio.wait_for(reader, 5)
    assert (event["station_id"], event["status"]) == ("DEPOT-1", "Unavailable")


async def test_a_browser_leaving_a_stream_logs_no_error(
    csms: Csms, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Leaving a console page drops its stream: normal, so no "Task was destroyed but it is pending!" errors."""
    viewer = await _key(csms, Role.VIEWER)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        for _ in range(5):
            async with api.stream("GET", "/events", headers=viewer) as response:
                assert await anext(response.aiter_lines()) == ": connected"
            # The client is gone; the server notices, ends the stream, and must leave no task behind.
        await asyncio.sleep(0.3)
        gc.collect()  # a pending task nobody owns complains when it is collected
        await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
