"""Fixtures for the simulator's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from evscada.simulator.fleet import run_station
from evscada.simulator.station import StationSpec, cancel_quietly
from tests.simulator.helpers import LINKS, QUIET, SID, dial, ready
from tests.support import Csms, eventually


@pytest.fixture(params=LINKS)
def links(request: pytest.FixtureRequest) -> str:
    """Every scenario on a station with full links (the ocpp package) and on one with lean links (load mode)."""
    return str(request.param)


@pytest.fixture
async def station(csms_sqlite: Csms, links: str, request: pytest.FixtureRequest) -> AsyncIterator[StationSpec]:
    """A simulated station of the test's version, connected through the fleet's reconnecting loop and booted."""
    csms = csms_sqlite
    await csms.add_station(SID)
    await csms.add_token("CARD-1")
    await csms.add_token("CARD-2")
    spec = StationSpec(station_id=SID, version=request.node.callspec.params["version"], connectors=2)
    task = asyncio.create_task(run_station(csms.url(SID).rsplit("/", 1)[0], spec, QUIET, dial=dial(links)))
    try:
        assert await eventually(lambda: ready(csms), timeout=20), "the simulated station never booted"
        yield spec
    finally:
        await cancel_quietly(task)
