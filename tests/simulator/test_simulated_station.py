"""Simulated stations are real OCPP clients: a whole session from one lands in the CSMS's database."""

from __future__ import annotations

import asyncio

import pytest

from evscada.simulator.fleet import run_station
from evscada.simulator.ocpp16.link import Link16
from evscada.simulator.ocpp201.link import Link201
from evscada.simulator.station import SimulatedStation, StationSpec, Timing, cancel_quietly
from tests.simulator.helpers import QUIET, SID, ready
from tests.support import Csms, eventually, open_socket

FAST = Timing(meter_interval=0.05, idle_seconds=(0.0, 0.0), session_seconds=(0.3, 0.3), time_scale=3600.0)
LINKS: dict[str, tuple[str, type[Link16] | type[Link201]]] = {
    "1.6": ("ocpp1.6", Link16),
    "2.0.1": ("ocpp2.0.1", Link201),
}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_simulated_station_charges_one_session_end_to_end(csms_sqlite: Csms, version: str) -> None:
    csms = csms_sqlite
    await csms.add_station("SIM-1")
    await csms.add_token("BUS-001")
    subprotocol, link_class = LINKS[version]
    spec = StationSpec(
        station_id="SIM-1", version=version, vendor="Sim", model="S1", max_power_w=11_000, tokens=("BUS-001",)
    )
    async with open_socket(csms.url("SIM-1"), subprotocol) as ws:
        link = link_class("SIM-1", ws, response_timeout=5)
        reader = asyncio.create_task(link.start())
        try:
            station = SimulatedStation(spec, link, FAST)
            status, _ = await link.boot(spec)
            assert status == "Accepted"
            await station.charge_once(1, "BUS-001")
        finally:
            await cancel_quietly(reader)

    (tx,) = await csms.rows("transactions", station_id="SIM-1")
    assert tx["state"] == "ended" and tx["id_token"] == "BUS-001" and tx["stop_reason"] == "EVDisconnected"
    assert tx["meter_stop"] > tx["meter_start"]  # it charged
    samples = await csms.rows("meter_samples", transaction_pk=tx["pk"])
    measurands = {s["measurand"] for s in samples}
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC"} <= measurands
    assert all(s["value"] <= 11_000 for s in samples if s["measurand"] == "Power.Active.Import")
    history = [row["status"] for row in await csms.rows("status_history", station_id="SIM-1")]
    assert history[0] in ("Preparing", "Occupied") and history[-1] == "Available"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_stopped_simulation_closes_its_stations_as_going_away(csms_sqlite: Csms, version: str) -> None:
    """Ctrl-C on the demo or the simulator: the CSMS logs 1001 (going away), not 1011 (the station failed)."""
    await csms_sqlite.add_station(SID)
    spec = StationSpec(station_id=SID, version=version, connectors=2)
    task = asyncio.create_task(run_station(csms_sqlite.url(SID).rsplit("/", 1)[0], spec, QUIET))
    assert await eventually(lambda: ready(csms_sqlite), timeout=20), "the simulated station never booted"
    await cancel_quietly(task)

    async def offline() -> bool:
        return not (await csms_sqlite.station(SID))["online"]

    assert await eventually(offline)
    assert (await csms_sqlite.station(SID))["disconnect_reason"].startswith("closed with code 1001")
