"""Values the schemas allow at their very edges: stored when a station may really send them, refused by name when
no station clock could have produced them, and never a failure of the CSMS."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.support import BOOT, Csms, exchange, open_socket


async def _booted(ws: ClientConnection, version: str) -> None:
    assert (await exchange(ws, [2, "boot", "BootNotification", BOOT[version]]))[2]["status"] == "Accepted"


def _meter_values(version: str, at: str, **sampled: Any) -> dict[str, Any]:
    value: Any = "1500" if version == "ocpp1.6" else 1500
    where = {"connectorId": 1} if version == "ocpp1.6" else {"evseId": 1}
    return {**where, "meterValue": [{"timestamp": at, "sampledValue": [{"value": value, **sampled}]}]}


async def test_a_unit_of_20_characters_from_a_2_0_1_station_is_stored(csms: Csms) -> None:
    """UnitOfMeasureType allows 20 characters; PostgreSQL refused more than 16, with the commit of every station."""
    await csms.add_station("CP-UNIT")
    unit = "kWh_per_100km_avg_20"
    async with open_socket(csms.url("CP-UNIT"), "ocpp2.0.1") as ws:
        await _booted(ws, "ocpp2.0.1")
        payload = _meter_values("ocpp2.0.1", "2026-12-05T10:00:00Z", unitOfMeasure={"unit": unit})
        answer = await exchange(ws, [2, "mv", "MeterValues", payload])
    assert answer == [3, "mv", {}]
    (sample,) = await csms.rows("meter_samples", station_id="CP-UNIT")
    assert (sample["unit"], sample["value"]) == (unit, 1500)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize(
    "at",
    [
        "9999-12-31T23:00:00-05:00",  # the year 10000 in UTC: beyond what a date can hold
        "0001-01-01T00:30:00+01:00",  # before the year 1 in UTC
        "1899-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
    ],
)
async def test_a_time_no_station_clock_can_hold_is_refused_by_name(csms_sqlite: Csms, version: str, at: str) -> None:
    csms = csms_sqlite
    await csms.add_station("CP-CLOCK")
    async with open_socket(csms.url("CP-CLOCK"), version) as ws:
        await _booted(ws, version)
        answer = await exchange(ws, [2, "mv", "MeterValues", _meter_values(version, at)])
        alive = await exchange(ws, [2, "alive", "Heartbeat", {}])
    assert answer[:3] == [4, "mv", "PropertyConstraintViolation"]
    assert at in answer[3] and "clock" in answer[3]
    assert alive[0] == 3
    assert await csms.rows("meter_samples", station_id="CP-CLOCK") == []


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_clock_not_yet_set_after_power_up_is_stored_as_sent(csms_sqlite: Csms, version: str) -> None:
    """Stations that lost their clock report from 1970 until they synchronise: that data is kept."""
    csms = csms_sqlite
    await csms.add_station("CP-1970")
    async with open_socket(csms.url("CP-1970"), version) as ws:
        await _booted(ws, version)
        answer = await exchange(ws, [2, "mv", "MeterValues", _meter_values(version, "1970-01-01T00:00:42Z")])
    assert answer == [3, "mv", {}]
    (sample,) = await csms.rows("meter_samples", station_id="CP-1970")
    assert sample["timestamp"].isoformat() == "1970-01-01T00:00:42+00:00"


async def test_a_multiplier_no_number_survives_is_refused_by_name(csms_sqlite: Csms) -> None:
    await csms_sqlite.add_station("CP-MULT")
    async with open_socket(csms_sqlite.url("CP-MULT"), "ocpp2.0.1") as ws:
        await _booted(ws, "ocpp2.0.1")
        payload = _meter_values("ocpp2.0.1", "2026-12-05T10:00:00Z", unitOfMeasure={"unit": "Wh", "multiplier": 400})
        answer = await exchange(ws, [2, "mv", "MeterValues", payload])
    assert answer[:3] == [4, "mv", "PropertyConstraintViolation"] and "multiplier 400" in answer[3]
    assert await csms_sqlite.rows("meter_samples", station_id="CP-MULT") == []
