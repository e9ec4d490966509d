"""Simulated charging is physically believable: what the stations report, as the CSMS stored it, adds up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evscada.core.control import commands as c
from evscada.simulator.fleet import run_station
from evscada.simulator.model import StationSpec, Timing, ac_station, dc_station
from evscada.simulator.station import cancel_quietly
from evscada.simulator.vehicles import EvSpec
from tests.simulator.helpers import SID, VERSIONS, connector_status, raw_call, remote_start, running_transaction, send
from tests.support import Csms, eventually

TICK = 0.2  # every tick a sample: MeterValueSampleInterval = Timing.tick


def timing(time_scale: float = 1.0) -> Timing:
    return Timing(
        meter_interval=TICK,
        tick=TICK,
        idle_seconds=(1e6, 1e6),  # nothing starts by itself
        session_seconds=(60, 60),
        reboot_seconds=0.0,
        time_scale=time_scale,
    )


def car(**fields: Any) -> EvSpec:
    arrival = fields.pop("arrival", 20.0)
    return EvSpec(**{"name": "Test car", "battery_wh": 77e3, "arrival_soc": (arrival, arrival), **fields})


@dataclass
class Sample:
    at: datetime
    energy_wh: float = 0.0
    power_w: float | None = None
    soc: float = 0.0
    currents: dict[str | None, float] = field(default_factory=dict)  # by phase (None: DC)
    voltages: dict[str | None, float] = field(default_factory=dict)

    @property
    def volt_amperes(self) -> float:
        """Sum over the phases carrying current of voltage x current."""
        return sum(self.voltages[_line(phase)] * amps for phase, amps in self.currents.items())


def _line(phase: str | None) -> str | None:
    return None if phase is None else f"{phase}-N"


@contextlib.asynccontextmanager
async def charging(csms: Csms, spec: StationSpec, time_scale: float = 1.0) -> AsyncIterator[dict[str, Any]]:
    """The station online, a remote-started session on connector 1; yields its transaction row."""
    await csms.add_station(spec.station_id)
    await csms.add_token("CARD-1")
    task = asyncio.create_task(run_station(csms.url(SID).rsplit("/", 1)[0], spec, timing(time_scale)))
    try:
        assert await eventually(lambda: available(csms)), "the station never booted"
        assert (await send(csms, remote_start())).status == "Accepted"
        tx = await running_transaction(csms)
        yield tx
        await send(csms, c.RemoteStop(station_transaction_id=tx["station_transaction_id"]))
    finally:
        await cancel_quietly(task)


async def available(csms: Csms) -> bool:
    rows = await csms.rows("connectors", station_id=SID, evse_id=1)
    return bool(rows) and rows[0]["status"] == "Available"


async def samples(csms: Csms, tx: dict[str, Any]) -> list[Sample]:
    """The transaction's periodic samples (with power), oldest first."""
    by_time: dict[datetime, Sample] = {}
    for row in await csms.rows("meter_samples", transaction_pk=tx["pk"]):
        sample = by_time.setdefault(row["timestamp"], Sample(row["timestamp"]))
        measurand, value = row["measurand"], float(row["value"])
        if measurand == "Energy.Active.Import.Register":
            sample.energy_wh = value
        elif measurand == "Power.Active.Import":
            sample.power_w = value
        elif measurand == "SoC":
            sample.soc = value
        elif measurand == "Current.Import":
            sample.currents[row["phase"]] = value
        elif measurand == "Voltage":
            sample.voltages[row["phase"]] = value
    return sorted((s for s in by_time.values() if s.power_w is not None), key=lambda s: s.at)


async def at_least(csms: Csms, tx: dict[str, Any], count: int, *, timeout: float = 6.0) -> list[Sample]:
    async def enough() -> list[Sample] | None:
        found = await samples(csms, tx)
        return found if len(found) >= count else None

    found: list[Sample] | None = await eventually(enough, timeout=timeout)
    assert found, f"fewer than {count} samples"
    return found


def close(value: float, expected: float, share: float = 0.01) -> bool:
    return abs(value - expected) <= share * abs(expected)


@VERSIONS
async def test_a_150_kw_dc_station_reports_150_kw_at_the_batterys_voltage(csms_sqlite: Csms, version: str) -> None:
    ev = car(dc_max_w=270e3, dc_volts=800.0)
    spec = dc_station(SID, version, kw=150, tokens=("CARD-1",), vehicles={"CARD-1": ev})
    async with charging(csms_sqlite, spec) as tx:
        found = await at_least(csms_sqlite, tx, 5)
    for sample in found:
        assert sample.power_w is not None and close(sample.power_w, 150e3)
        assert list(sample.currents) == [None] and list(sample.voltages) == [None]  # DC: no phases
        assert close(sample.volt_amperes, sample.power_w)
        assert 740 < sample.voltages[None] < 780  # an 800 V battery at 20 %: 92 % + 0.14 * 20 % of nominal


@VERSIONS
async def test_the_energy_reported_is_the_integral_of_the_power_reported(csms_sqlite: Csms, version: str) -> None:
    spec = dc_station(SID, version, kw=150, tokens=("CARD-1",), vehicles={"CARD-1": car(dc_max_w=150e3)})
    async with charging(csms_sqlite, spec) as tx:
        found = await at_least(csms_sqlite, tx, 10)
    integral = sum(
        (later.power_w or 0.0) * (later.at - earlier.at).total_seconds() / 3600.0
        for earlier, later in itertools.pairwise(found)
    )
    assert integral > 50.0  # Wh in about two seconds at 150 kW
    assert close(found[-1].energy_wh - found[0].energy_wh, integral)


@VERSIONS
async def test_a_compact_car_stops_at_full_and_takes_no_more_than_its_capacity(csms_sqlite: Csms, version: str) -> None:
    compact = car(name="Compact", battery_wh=40e3, dc_max_w=100e3, arrival=10.0)
    spec = dc_station(SID, version, kw=150, tokens=("CARD-1",), vehicles={"CARD-1": compact})
    async with charging(csms_sqlite, spec, time_scale=3600.0) as tx:  # a tick is 12 minutes of charging
        if version == "1.6":
            assert await connector_status(csms_sqlite, 1, "SuspendedEV")  # full: it takes nothing more
        else:
            assert await eventually(lambda: csms_sqlite.rows("transactions", pk=tx["pk"], charging_state="SuspendedEV"))

        async def drawing_nothing() -> list[Sample] | None:
            found = await samples(csms_sqlite, tx)
            return found if found and found[-1].power_w == 0.0 else None

        found = await eventually(drawing_nothing)
    assert found, "no sample after it was full"
    assert all(s.soc <= 100.0 for s in found) and found[-1].soc == 100.0
    delivered = found[-1].energy_wh - tx["meter_start"]
    assert 0.99 * 36e3 <= delivered <= 36e3 + 1.0  # from 10 % to 100 % of 40 kWh (meterStart is whole Wh)
    for sample in found:  # the SoC follows the energy over the capacity
        assert abs(sample.soc - (10.0 + 100.0 * (sample.energy_wh - tx["meter_start"]) / 40e3)) <= 0.1


@VERSIONS
async def test_the_power_tapers_above_80_percent(csms_sqlite: Csms, version: str) -> None:
    ev = car(battery_wh=60e3, dc_max_w=120e3, arrival=70.0)
    spec = dc_station(SID, version, kw=150, tokens=("CARD-1",), vehicles={"CARD-1": ev})
    async with charging(csms_sqlite, spec, time_scale=300.0) as tx:  # a tick is a minute of charging: +3.3 %

        async def past_95() -> list[Sample] | None:
            found = await samples(csms_sqlite, tx)
            return found if found and found[-1].soc > 95.0 else None

        found = await eventually(past_95, timeout=8.0)
    assert found, "the battery never got past 95 %"
    # Each sample's power flowed from the SoC of the one before.
    powers = [(before.soc, after.power_w or 0.0) for before, after in itertools.pairwise(found)]
    assert any(soc < 80.0 for soc, _ in powers) and any(soc > 90.0 for soc, _ in powers)
    for soc, power in powers:
        assert abs(power - ev.accepts_w(soc)) <= 0.01 * ev.accepts_w(soc) + 300.0  # SoC is reported to 0.1 %
        if soc > 90.0:
            assert power < 0.6 * 120e3
    tapering = [power for soc, power in powers if soc > 80.0]
    assert tapering == sorted(tapering, reverse=True)


@VERSIONS
async def test_a_one_phase_car_on_a_three_phase_station_draws_on_one_phase(csms_sqlite: Csms, version: str) -> None:
    leaf = car(name="Nissan Leaf", battery_wh=40e3, ac_max_w=6.6e3, ac_phases=1)
    spec = ac_station(SID, version, phases=3, amps=32, tokens=("CARD-1",), vehicles={"CARD-1": leaf})
    async with charging(csms_sqlite, spec) as tx:
        found = await at_least(csms_sqlite, tx, 3)
    for sample in found:
        assert list(sample.currents) == ["L1"] and list(sample.voltages) == ["L1-N"]
        assert sample.power_w is not None and close(sample.power_w, 6.6e3, 0.03)  # 28.69 A at 230 V, +- the grid's
        assert close(sample.volt_amperes, sample.power_w)


def _profile(version: str, unit: str, limit: float) -> dict[str, Any]:
    started = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    schedule: dict[str, Any] = {
        "startSchedule": started,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
    }
    kind = {"stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute"}
    if version == "1.6":
        return {"connectorId": 0, "csChargingProfiles": {"chargingProfileId": 1, **kind, "chargingSchedule": schedule}}
    return {"evseId": 0, "chargingProfile": {"id": 1, **kind, "chargingSchedule": [{"id": 1, **schedule}]}}


@VERSIONS
@pytest.mark.parametrize(("unit", "limit"), [("A", 10.0), ("W", 4_000.0)])
async def test_a_limit_in_amperes_or_watts_holds_from_the_stations_next_tick(
    csms_sqlite: Csms, version: str, unit: str, limit: float
) -> None:
    zoe = car(name="Renault Zoe", battery_wh=52e3, ac_max_w=22e3)
    spec = ac_station(SID, version, phases=3, amps=32, tokens=("CARD-1",), vehicles={"CARD-1": zoe})
    async with charging(csms_sqlite, spec) as tx:
        before = await at_least(csms_sqlite, tx, 2)
        assert all((s.power_w or 0.0) > 20e3 for s in before)  # 3 x 32 A
        answer = await raw_call(csms_sqlite, "SetChargingProfile", _profile(version, unit, limit))
        accepted = datetime.now(UTC)
        assert answer["status"] == "Accepted"
        found = await at_least(csms_sqlite, tx, len(before) + 8)
    after = [s for s in found if s.at > accepted]
    assert after and (after[0].at - accepted).total_seconds() <= TICK + 1.0  # the next tick (plus a loaded machine)
    for sample in after:
        if unit == "A":
            assert all(amps <= limit for amps in sample.currents.values()) and len(sample.currents) == 3
            assert min(sample.currents.values()) >= 0.99 * limit  # and it takes what it may
        else:
            assert sample.power_w is not None and 0.99 * limit <= sample.power_w <= limit
        assert close(sample.volt_amperes, sample.power_w or 0.0)
