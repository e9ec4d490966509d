"""What operators read off the console: state words, chart series, expected end times, exports."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call
from openpyxl import load_workbook

from evscada.console.dispatch import expected_end
from evscada.console.trends import chart_groups
from evscada.console.views import station_state
from evscada.core.access.users import Role
from evscada.core.charging.queries import ConnectorView
from evscada.core.historian.monitoring import LiveReading, reading_of
from evscada.core.historian.samples import SampleAnswer, Series, SeriesKey
from evscada.core.model import (
    EvseRef,
    MeterSample,
    RegistrationStatus,
    Station,
    StationId,
    Transaction,
    TransactionPk,
    TransactionState,
)
from tests.console.conftest import PASSWORD, add_users, http
from tests.support import Csms, station16

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def connector(evse: int, status: str) -> ConnectorView:
    return ConnectorView(
        evse_id=evse, connector_id=0 if evse == 0 else 1, status=status, error_code=None, info=None, status_at=T0
    )


def station(*, online: bool = True, registration: RegistrationStatus = RegistrationStatus.ACCEPTED) -> Station:
    return Station(id=StationId("CP"), registration=registration, online=online)


@pytest.mark.parametrize(
    ("statuses", "state"),
    [
        (["Available", "Available"], "available"),
        (["Charging", "Available"], "charging"),
        (["SuspendedEV", "Available"], "charging"),
        (["Charging", "Faulted"], "faulted"),
        (["Unavailable", "Unavailable"], "unavailable"),
        (["Unavailable", "Available"], "available"),  # one point still charges cars
        ([], "available"),
    ],
)
def test_a_station_takes_the_state_of_its_connectors(statuses: list[str], state: str) -> None:
    connectors = [connector(i + 1, s) for i, s in enumerate(statuses)]
    assert station_state(station(), connectors) == state


def test_a_station_locked_as_a_whole_is_unavailable() -> None:
    assert station_state(station(), [connector(0, "Unavailable"), connector(1, "Available")]) == "unavailable"


def test_offline_and_pending_outrank_what_the_connectors_last_said() -> None:
    assert station_state(station(online=False), [connector(1, "Charging")]) == "offline"
    pending = station(registration=RegistrationStatus.PENDING)
    assert station_state(pending, [connector(1, "Available")]) == "pending"


def sample(minute: int, measurand: str, value: float, phase: str | None = None) -> MeterSample:
    return MeterSample(timestamp=T0 + timedelta(minutes=minute), value=value, measurand=measurand, phase=phase)


def raw(measurand: str, phase: str, *points: tuple[int, float]) -> Series:
    return Series(
        key=SeriesKey(1, 1, measurand, phase),
        unit="A" if measurand.startswith("Current") else "W",
        raw=[(T0 + timedelta(minutes=m), v) for m, v in points],
    )


def test_a_chart_per_measurand_with_a_line_per_phase_on_one_time_axis() -> None:
    answer = SampleAnswer(
        start=T0,
        end=T0 + timedelta(hours=1),
        resolution="raw",
        bucket_seconds=None,
        series=[
            raw("Current.Import", "L1", (0, 10), (1, 12)),
            raw("Current.Import", "L2", (0, 11)),
            raw("Power.Active.Import", "", (0, 7000)),
        ],
    )
    power, current = chart_groups(answer)
    assert power["measurand"] == "Power.Active.Import" and power["series"][0]["values"] == [7000]
    assert current["x"] == [T0.timestamp(), (T0 + timedelta(minutes=1)).timestamp()]
    assert {s["label"]: s["values"] for s in current["series"]} == {"L1": [10, 12], "L2": [11, None]}
    assert "min" not in power["series"][0] and power["resolution"] == "raw"


def test_live_reading_sums_phases_and_counts_energy_from_the_session_start() -> None:
    tx = Transaction(
        pk=TransactionPk(1),
        station_id=StationId("CP"),
        station_transaction_id="1",
        evse=EvseRef(1, 1),
        state=TransactionState.RUNNING,
        meter_start=1000,
    )
    reading = reading_of(
        tx,
        [
            sample(0, "Power.Active.Import", 3000, "L1"),
            sample(0, "Power.Active.Import", 3000, "L2"),
            sample(0, "Energy.Active.Import.Register", 3500),
            sample(0, "SoC", 40),
        ],
    )
    assert (reading.power_w, reading.energy_wh, reading.soc) == (6000, 2500, 40)

    # 60 % of 100 kWh missing at 50 kW: full in 1 h 12 min.
    charging = LiveReading(transaction=tx, power_w=50_000, energy_wh=0, soc=40, current_a=None, at=T0)
    assert expected_end(charging, 100_000) == T0 + timedelta(hours=1.2)
    assert expected_end(charging, None) is None


async def test_the_xlsx_export_holds_the_filtered_rows(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_token("CARD-1")
    for sid in ("CP-1", "CP-2"):
        await csms.add_station(sid)
        async with station16(csms, sid) as cp:
            await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
            start = await cp.call(
                call.StartTransaction(connector_id=1, id_tag="CARD-1", meter_start=1000, timestamp=T0.isoformat())
            )
            await cp.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=4500,
                    timestamp=(T0 + timedelta(hours=1)).isoformat(),
                )
            )
    async with http(csms) as client:
        await client.post("/login", data={"username": str(Role.VIEWER), "password": PASSWORD})
        answer = await client.get("/transactions/export.xlsx?station=CP-1")
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "station_id", "transaction_id")
    assert [(r[1], r[4], r[8]) for r in rows[1:]] == [("CP-1", "CARD-1", 3.5)]  # CP-2's session is filtered out


async def test_a_station_trend_covers_the_range_asked_for(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_station("CP-1")
    async with station16(csms, "CP-1") as cp:
        await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        for minute, watts in ((0, 7000), (10, 11000), (70, 3000)):
            stamp = (T0 + timedelta(minutes=minute)).isoformat()
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    meter_value=[
                        {
                            "timestamp": stamp,
                            "sampledValue": [{"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"}],
                        }
                    ],
                )
            )
    async with http(csms) as client:
        await client.post("/login", data={"username": str(Role.VIEWER), "password": PASSWORD})
        since, until = T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()
        answer = await client.get("/data/trend", params={"station": "CP-1", "since": since, "until": until})
        backwards = await client.get("/data/trend", params={"station": "CP-1", "since": until, "until": since})
        # Two days: the historian answers with 15-minute buckets, each its average, min and max.
        since, until = (T0 - timedelta(hours=1)).isoformat(), (T0 + timedelta(hours=47)).isoformat()
        long = await client.get("/data/trend", params={"station": "CP-1", "since": since, "until": until})
    (power,) = answer.json()["groups"]
    assert power["measurand"] == "Power.Active.Import" and power["unit"] == "W"
    assert power["series"][0]["values"] == [7000, 11000]  # the sample at 09:10 lies outside the hour
    assert answer.json()["resolution"] == "raw" and "min" not in power["series"][0]
    assert backwards.status_code == 422
    assert long.json()["resolution"] == "15m"
    (power,) = long.json()["groups"]
    first, second = T0 + timedelta(minutes=7.5), T0 + timedelta(minutes=67.5)  # bucket middles
    assert power["x"] == [first.timestamp(), second.timestamp()]
    (line,) = power["series"]
    assert (line["values"], line["min"], line["max"]) == ([9000, 3000], [7000, 3000], [11000, 3000])
