"""Departure-aware charging end to end: simulated buses of each version, a site too small for all, real sockets.

Small batteries make minutes of a depot night pass in seconds: each bus's SoC, capacity and departure are known to
the CSMS (its vehicle) and to the simulated car (its battery), so the plan and the physics must agree.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from evscada.core.access.users import Role
from evscada.core.energy.limit_profiles import FAILSAFE_PROFILE_ID, FAILSAFE_STACK_LEVEL, STACK_LEVEL
from evscada.core.model import StationId, Supply
from evscada.simulator.fleet import run_station
from evscada.simulator.model import Timing, dc_station
from evscada.simulator.station import cancel_quietly
from evscada.simulator.vehicles import EvSpec
from tests.conftest import start_csms, test_settings
from tests.console.conftest import add_users, logged_in
from tests.simulator.helpers import VERSIONS, remote_start, send
from tests.support import Csms, eventually

LIMIT_W = 60e3
STATION_W = 50e3
LEASE_S = 120.0
TICK = 0.2
TIMING = Timing(meter_interval=TICK, tick=TICK, idle_seconds=(1e6, 1e6), session_seconds=(600, 600), reboot_seconds=0.0)


@pytest.fixture
async def csms(sqlite_url: str) -> AsyncIterator[Csms]:
    settings = test_settings(
        sqlite_url,
        load_management_interval_seconds=1.0,
        load_management_send_interval_seconds=0.5,
        load_management_lease_seconds=LEASE_S,
    )
    async for running in start_csms(settings):
        yield running


BUSES = {
    # station: (battery Wh, SoC at arrival, the bus's own maximum W, target SoC, seconds to departure)
    "BAY-1": (200.0, 20.0, 150e3, 80.0, 35),
    "BAY-2": (200.0, 20.0, 150e3, 80.0, 40),
    # cannot make it: 180 Wh at 3 kW take over 3 minutes, it leaves in 25 s
    "BAY-3": (200.0, 10.0, 3e3, 100.0, 25),
}


@contextlib.asynccontextmanager
async def depot(
    csms: Csms, version: str, now: datetime, buses: dict[str, tuple[float, float, float, float, int]] | None = None
) -> AsyncIterator[int]:
    """50 kW DC bays on a 60 kW site (BUSES by default), each with a bus whose vehicle the CSMS knows; all online."""
    buses = BUSES if buses is None else buses
    core = csms.app.core
    site = await core.sites.create(name="Depot", grid_capacity_w=LIMIT_W)
    tasks = []
    for n, (sid, (battery, soc, bus_max, target, leaves_in)) in enumerate(buses.items(), 1):
        await csms.add_station(sid)
        await core.sites.place_station(
            station_id=StationId(sid), name=None, site_id=site.id, latitude=None, longitude=None
        )
        await core.layout.set_station_supply(
            station_id=StationId(sid), feeder_id=None, max_power_w=STATION_W, supply=Supply.DC, phases=None
        )
        card = f"BUS-{n}"
        await csms.add_token(card)
        vehicle = await core.vehicles.create(
            name=f"Bus {n}",
            battery_capacity_wh=battery,
            next_departure=now + timedelta(seconds=leaves_in),
            target_soc_pct=target,
            max_power_w=bus_max,
        )
        await core.vehicles.link_token(token_value=card, vehicle_id=vehicle.id)
        bus = EvSpec(name=f"bus {n}", battery_wh=battery, arrival_soc=(soc, soc), dc_max_w=bus_max)
        spec = dc_station(sid, version, kw=STATION_W / 1e3, tokens=(card,), vehicles={card: bus})
        tasks.append(asyncio.create_task(run_station(csms.url(sid).rsplit("/", 1)[0], spec, TIMING)))
    try:
        for sid in buses:
            assert await eventually(lambda sid=sid: _available(csms, sid), timeout=10), f"{sid} never booted"
        yield site.id
    finally:
        for task in tasks:
            await cancel_quietly(task)


async def _available(csms: Csms, sid: str) -> bool:
    rows = await csms.rows("connectors", station_id=sid, evse_id=1)
    return bool(rows) and rows[0]["status"] == "Available"


async def _soc(csms: Csms, sid: str) -> list[tuple[datetime, float]]:
    txs = {row["pk"] for row in await csms.rows("transactions", station_id=sid)}
    rows = await csms.rows("meter_samples", measurand="SoC")
    return sorted((row["timestamp"], float(row["value"])) for row in rows if row["transaction_pk"] in txs)


@VERSIONS
async def test_every_bus_that_can_make_its_departure_does_and_the_one_that_cannot_is_flagged_at_once(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    now = datetime.now(UTC)
    async with depot(csms, version, now) as site_id:
        # Fail-safe first: each bay holds a station-wide TxDefault of its share of the site, a third of 60 kW.
        async def fail_safes() -> list[dict[str, Any]]:
            rows = await csms.rows("charging_profiles", profile_id=FAILSAFE_PROFILE_ID, status="accepted")
            return rows if len(rows) == len(BUSES) else []

        rows = await eventually(fail_safes, timeout=10)
        assert rows, "the fail-safe limits were not all accepted"
        for row in rows:
            assert (row["evse_id"], row["stack_level"], row["valid_to"]) == (0, FAILSAFE_STACK_LEVEL, None)
            assert row["profile"]["schedule"]["periods"][0]["limit"] == pytest.approx(LIMIT_W / 3, abs=1)

        for n, sid in enumerate(BUSES, 1):
            assert (await send(csms, remote_start(token=f"BUS-{n}"), station_id=sid)).status == "Accepted"

        async def late_alarms() -> list[dict[str, Any]]:
            return await csms.rows("alarms", source="departure_at_risk")

        alarms = await eventually(late_alarms, timeout=10)
        flagged_at = datetime.now(UTC)
        assert [a["station_id"] for a in alarms] == ["BAY-3"]
        assert "Bus 3" in alarms[0]["message"] and "kWh short" in alarms[0]["message"]
        assert flagged_at < now + timedelta(seconds=BUSES["BAY-3"][4]), "flagged only at departure"

        draw = (await api.get(f"/sites/{site_id}/draw")).json()
        plans = {s["station_id"]: s["plan"] for s in draw["sessions"]}
        assert plans["BAY-3"]["late"] and plans["BAY-3"]["short_kwh"] > 0.1
        assert plans["BAY-3"]["expected_soc_pct"] < 100
        assert not plans["BAY-1"]["late"] and not plans["BAY-2"]["late"]
        assert {s["vehicle"] for s in draw["sessions"]} == {"Bus 1", "Bus 2", "Bus 3"}

        # The dispatcher sees it too, while the bus is still in the depot.
        await add_users(csms)
        async with logged_in(csms, Role.VIEWER) as (client, _):
            page = (await client.get("/dispatch")).text
        bus3 = page[page.index('data-vehicle="3"') :].split("</tr>", 1)[0]
        assert 'class="plan late"' in bus3 and "kWh short" in bus3
        bus1 = page[page.index('data-vehicle="1"') :].split("</tr>", 1)[0]
        assert "on time" in bus1 and "late" not in bus1

        # Allocation profiles hold for the lease, then lapse to the fail-safe unless renewed.
        allocations = await csms.rows("charging_profiles", stack_level=STACK_LEVEL, status="accepted")
        assert allocations
        for row in allocations:
            lease = (row["valid_to"] - row["set_at"]).total_seconds()
            assert lease == pytest.approx(LEASE_S, abs=1)

        # The two that can make it reach their target before they leave, on a site that never gives them more
        # than 60 kW together.
        for sid in ("BAY-1", "BAY-2"):
            _, _, _, target, leaves_in = BUSES[sid]
            departure = now + timedelta(seconds=leaves_in)

            async def reached(sid: str = sid, target: float = target) -> list[tuple[datetime, float]]:
                return [(at, soc) for at, soc in await _soc(csms, sid) if soc >= target - 0.2]

            timeout = (departure - datetime.now(UTC)).total_seconds()
            there = await eventually(reached, timeout=max(timeout, 1))
            assert there, f"{sid} did not reach {target} % before its departure"
            assert there[0][0] <= departure


async def test_with_a_tariff_a_bus_with_time_waits_for_the_cheap_hours(csms: Csms, api: httpx.AsyncClient) -> None:
    """A bus leaving in three hours on a site whose energy is dear until the next quarter hour is over: it waits
    (its limit 0, because of its plan); when the price now falls, it charges."""
    now = datetime.now(UTC)
    async with depot(csms, "2.0.1", now, {"BAY-1": (200.0, 20.0, 150e3, 80.0, 3 * 3600)}) as site_id:
        quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)
        dear = {"start": (now - timedelta(minutes=1)).isoformat(), "end": (quarter + timedelta(minutes=15)).isoformat()}
        cheap = {"start": dear["end"], "end": (now + timedelta(days=1)).isoformat()}
        tariff = {"periods": [{**dear, "price_per_kwh": 0.5}, {**cheap, "price_per_kwh": 0.1}]}
        answer = await api.put(f"/sites/{site_id}/tariff", json=tariff)
        assert answer.status_code == 200, answer.text
        assert [p["price_per_kwh"] for p in (await api.get(f"/sites/{site_id}/limits")).json()["tariff"]] == [0.5, 0.1]
        assert (await send(csms, remote_start(token="BUS-1"), station_id="BAY-1")).status == "Accepted"

        async def session() -> dict[str, Any] | None:
            sessions = (await api.get(f"/sites/{site_id}/draw")).json()["sessions"]
            return sessions[0] if sessions and sessions[0]["plan"] else None

        waiting = await eventually(session, timeout=10)
        assert waiting is not None
        assert (waiting["allocated_kw"], waiting["reason"], waiting["plan"]["planned_kw"]) == (0, "departure_plan", 0)
        assert not waiting["plan"]["late"]

        cheap_now = {"start": (now - timedelta(minutes=1)).isoformat(), "end": (now + timedelta(days=1)).isoformat()}
        answer = await api.put(f"/sites/{site_id}/tariff", json={"periods": [{**cheap_now, "price_per_kwh": 0.1}]})
        assert answer.status_code == 200, answer.text

        async def charging() -> bool:
            soc = await _soc(csms, "BAY-1")
            return bool(soc) and soc[-1][1] > 25

        assert await eventually(charging, timeout=10), "the bus did not charge once the energy was cheap"
        overlapping = [{**cheap_now, "price_per_kwh": 0.1}, {**dear, "price_per_kwh": 0.5}]
        assert (await api.put(f"/sites/{site_id}/tariff", json={"periods": overlapping})).status_code == 422
        actions = [row["action"] for row in await csms.rows("audit_log", target_type="site")]
        assert actions.count("site.tariff") == 2
