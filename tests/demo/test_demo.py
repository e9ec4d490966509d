"""The demo, started as a user would, shows the whole system working within seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from evscada.core.model import StationId
from evscada.demo.run import run_demo
from evscada.simulator.faults import FaultKind, PlannedFault
from evscada.simulator.fleet import run_station
from evscada.simulator.model import Timing
from evscada.simulator.station import StationSpec, cancel_quietly
from evscada.storage import tables
from tests.conftest import test_settings
from tests.simulator.helpers import QUIET, SID, remote_start
from tests.support import Csms, eventually

FAST = Timing(meter_interval=0.2, idle_seconds=(0.1, 0.5), session_seconds=(1.0, 1.5), time_scale=600.0)


async def test_the_demo_brings_both_versions_online_and_charging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = test_settings(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    stop = asyncio.Event()
    plan = [PlannedFault(at=0.5, kind=FaultKind.GROUND_FAILURE, station="DEPOT-01", duration=60)]
    demo = asyncio.create_task(
        run_demo(settings, stations=6, reset=True, timing=FAST, stop=stop, report_every=0.5, plan=plan)
    )
    try:
        figures = await asyncio.wait_for(_until_charging(tmp_path / "demo.db"), 30)
        seeded = await _seeded(tmp_path / "demo.db")
    finally:
        stop.set()
        await asyncio.wait_for(demo, 15)
    versions, ended, samples = figures
    assert versions == {"1.6", "2.0.1"}
    assert ended >= 1 and samples > 0
    sites, placed, buses, faulted = seeded
    assert len(sites) == 3 and all("(demo)" in name and address for name, address in sites)
    assert placed == 6  # every station on its site, with a position for the map
    assert buses and all(number.isdigit() for number, _ in buses)  # buses with fleet numbers
    assert all("(demo)" in fleet for _, fleet in buses)  # in a fleet marked as demo data
    assert faulted  # the plan's fault reached the CSMS
    out = capsys.readouterr().out
    assert "demo login (admin API key): evs_" in out and "/api/docs" in out
    assert "console: http://127.0.0.1:" in out and "password evscada-demo" in out


async def test_restarting_the_demo_keeps_its_history_and_seeds_nothing_twice(tmp_path: Path) -> None:
    settings = test_settings(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    for reset in (True, False):
        stop = asyncio.Event()
        demo = asyncio.create_task(
            run_demo(settings, stations=4, reset=reset, timing=FAST, stop=stop, report_every=0.5, plan=[])
        )
        await asyncio.wait_for(_until_charging(tmp_path / "demo.db"), 30)
        stop.set()
        await asyncio.wait_for(demo, 15)
        assert await _running(tmp_path / "demo.db") == 0  # the drivers ended their sessions before it stopped
    sites, placed, _, _ = await _seeded(tmp_path / "demo.db")
    assert len(sites) == 3 and placed == 4


async def _running(path: Path) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as c:
            query = select(func.count()).where(tables.transactions.c.state == "running")
            return int((await c.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def _seeded(path: Path) -> tuple[list[tuple[str, str]], int, list[str], bool]:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        for _ in range(60):
            async with engine.connect() as c:
                sites = [(r.name, r.address) for r in await c.execute(select(tables.sites))]
                placed = (
                    await c.execute(
                        select(func.count()).where(
                            tables.stations.c.site_id.is_not(None), tables.stations.c.latitude.is_not(None)
                        )
                    )
                ).scalar_one()
                buses = [
                    (number, fleet)
                    for number, fleet in await c.execute(
                        select(tables.vehicles.c.fleet_number, tables.vehicles.c.fleet).where(
                            tables.vehicles.c.fleet_number.is_not(None)
                        )
                    )
                ]
                faulted = (
                    await c.execute(select(func.count()).where(tables.status_history.c.error_code == "GroundFailure"))
                ).scalar_one()
            if faulted:
                break
            await asyncio.sleep(0.25)
        return sites, placed, buses, bool(faulted)
    finally:
        await engine.dispose()


async def _until_charging(path: Path) -> tuple[set[str], int, int]:
    """Poll the demo's own database (a second connection, as any reader would) until sessions have ended."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        while True:
            await asyncio.sleep(0.5)
            try:
                async with engine.connect() as c:
                    versions = set(
                        (
                            await c.execute(select(tables.stations.c.ocpp_version).where(tables.stations.c.online))
                        ).scalars()
                    )
                    ended = (
                        await c.execute(select(func.count()).where(tables.transactions.c.state == "ended"))
                    ).scalar_one()
                    samples = (await c.execute(select(func.count()).select_from(tables.meter_samples))).scalar_one()
            except OperationalError:  # the demo may still be creating its schema
                continue
            if versions == {"1.6", "2.0.1"} and ended >= 2 and samples > 10:
                return versions, ended, samples
    finally:
        await engine.dispose()


async def test_a_vehicle_presenting_its_card_is_recorded_on_its_transaction(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    await csms.add_station(SID)
    await csms.add_token("BUS-4101")
    bus = await csms.app.core.vehicles.create(name="Bus 4101", fleet_number="4101", battery_capacity_wh=396e3)
    await csms.app.core.vehicles.link_token(token_value="BUS-4101", vehicle_id=bus.id)
    spec = StationSpec(station_id=SID, version="1.6", connectors=1)
    task = asyncio.create_task(run_station(csms.url(SID).rsplit("/", 1)[0], spec, QUIET))
    try:
        assert await eventually(lambda: _online(csms))
        outcome = await csms.app.core.commands.send(
            station_id=StationId(SID), command=remote_start(token="BUS-4101"), actor="test"
        )
        assert outcome.outcome == "answered"
        (tx,) = await eventually(lambda: csms.rows("transactions", station_id=SID))
    finally:
        await cancel_quietly(task)
    assert tx["vehicle_id"] == bus.id


async def _online(csms: Csms) -> bool:
    rows = await csms.rows("stations", id=SID)
    return bool(rows and rows[0]["online"])
