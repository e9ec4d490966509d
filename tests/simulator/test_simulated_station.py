"""Simulated stations are real OCPP clients: a whole session from one lands in the CSMS's database."""

from __future__ import annotations

import asyncio

import pytest

from evscada.simulator.ocpp16 import Link16
from evscada.simulator.ocpp201 import Link201
from evscada.simulator.station import SimulatedStation, StationSpec, Timing, cancel_quietly
from tests.support import Csms, open_socket

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
