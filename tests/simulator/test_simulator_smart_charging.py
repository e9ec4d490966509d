"""Simulated stations honour the charging limits the CSMS sets: the metered power stays below them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evscada.core.control import commands as c
from evscada.simulator.station import StationSpec
from tests.simulator.helpers import (
    VERSIONS,
    connector_status,
    frames_in,
    raw_call,
    remote_start,
    running_transaction,
    send,
)
from tests.support import Csms, eventually

LIMIT_W = 4_000.0


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def schedule(version: str, limit: float, unit: str = "W") -> dict[str, Any]:
    started = _iso(datetime.now(UTC) - timedelta(minutes=1))
    periods = [{"startPeriod": 0, "limit": limit}]
    if version == "1.6":
        return {"startSchedule": started, "chargingRateUnit": unit, "chargingSchedulePeriod": periods}
    return {"id": 1, "startSchedule": started, "chargingRateUnit": unit, "chargingSchedulePeriod": periods}


def profile(version: str, *, profile_id: int, purpose: str, limit: float) -> dict[str, Any]:
    if version == "1.6":
        purpose = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}.get(purpose, purpose)
        return {
            "chargingProfileId": profile_id,
            "stackLevel": 0,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": schedule(version, limit),
        }
    return {
        "id": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [schedule(version, limit)],
    }


def set_profile(version: str, connector: int, **fields: Any) -> dict[str, Any]:
    if version == "1.6":
        return {"connectorId": connector, "csChargingProfiles": profile(version, **fields)}
    return {"evseId": connector, "chargingProfile": profile(version, **fields)}


async def power_samples(csms: Csms, tx: dict[str, Any], *, since: datetime) -> list[float]:
    rows = await csms.rows("meter_samples", transaction_pk=tx["pk"], measurand="Power.Active.Import")
    return [float(r["value"]) for r in rows if r["timestamp"].replace(tzinfo=UTC) >= since]


async def samples_after(csms: Csms, tx: dict[str, Any], since: datetime, count: int = 3) -> list[float]:
    async def enough() -> list[float] | None:
        values = await power_samples(csms, tx, since=since)
        return values if len(values) >= count else None

    values: list[float] = await eventually(enough)
    return values


@VERSIONS
async def test_a_charging_limit_caps_the_metered_power_until_it_is_cleared(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    assert (await send(csms, remote_start())).status == "Accepted"
    tx = await running_transaction(csms)
    before = await samples_after(csms, tx, datetime.now(UTC) - timedelta(minutes=1), count=2)
    assert max(before) > LIMIT_W  # unlimited, the vehicle draws more than the limit to come

    answer = await raw_call(
        csms, "SetChargingProfile", set_profile(version, 0, profile_id=1, purpose="TxDefaultProfile", limit=LIMIT_W)
    )
    assert answer["status"] == "Accepted"
    limited = await samples_after(csms, tx, datetime.now(UTC))
    assert 0 < max(limited) <= LIMIT_W

    composite = {"duration": 300, "chargingRateUnit": "W"}
    composite |= {"connectorId": 1} if version == "1.6" else {"evseId": 1}
    answer = await raw_call(csms, "GetCompositeSchedule", composite)
    assert answer["status"] == "Accepted"
    reported = answer["chargingSchedule"] if version == "1.6" else answer["schedule"]
    assert reported["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": LIMIT_W}]

    clear = {"id": 1} if version == "1.6" else {"chargingProfileId": 1}
    assert (await raw_call(csms, "ClearChargingProfile", clear))["status"] == "Accepted"
    assert (await raw_call(csms, "ClearChargingProfile", clear))["status"] == "Unknown"
    lifted = await samples_after(csms, tx, datetime.now(UTC), count=2)
    assert max(lifted) > LIMIT_W

    await send(csms, c.RemoteStop(station_transaction_id=tx["station_transaction_id"]))


async def suspended(csms: Csms, version: str, tx: dict[str, Any], held: bool) -> bool:
    """What the CSMS was told: 1.6 by the connector's status, 2.0.1 by the transaction's chargingState."""
    if version == "1.6":
        return await connector_status(csms, 1, "SuspendedEVSE" if held else "Charging")

    async def told() -> list[dict[str, Any]]:
        return await csms.rows("transactions", pk=tx["pk"], charging_state="SuspendedEVSE" if held else "Charging")

    return bool(await eventually(told))


@VERSIONS
async def test_a_limit_of_zero_suspends_the_charge_and_its_clearing_resumes_it(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    assert (await send(csms, remote_start())).status == "Accepted"
    tx = await running_transaction(csms)
    zero = set_profile(version, 1, profile_id=2, purpose="TxDefaultProfile", limit=0)
    assert (await raw_call(csms, "SetChargingProfile", zero))["status"] == "Accepted"
    assert await suspended(csms, version, tx, held=True)
    assert set(await samples_after(csms, tx, datetime.now(UTC), count=2)) == {0.0}

    clear = {"connectorId": 1} if version == "1.6" else {"chargingProfileCriteria": {"evseId": 1}}
    assert (await raw_call(csms, "ClearChargingProfile", clear))["status"] == "Accepted"
    assert await suspended(csms, version, tx, held=False)
    assert max(await samples_after(csms, tx, datetime.now(UTC), count=2)) > 0.0
    await send(csms, c.RemoteStop(station_transaction_id=tx["station_transaction_id"]))


@VERSIONS
async def test_a_tx_profile_needs_a_transaction_and_a_station_maximum_the_whole_station(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    tx_profile = set_profile(version, 2, profile_id=5, purpose="TxProfile", limit=LIMIT_W)
    assert (await raw_call(csms, "SetChargingProfile", tx_profile))["status"] == "Rejected"
    station_max = set_profile(version, 1, profile_id=6, purpose="ChargingStationMaxProfile", limit=LIMIT_W)
    assert (await raw_call(csms, "SetChargingProfile", station_max))["status"] == "Rejected"
    unknown = set_profile(version, 9, profile_id=7, purpose="TxDefaultProfile", limit=LIMIT_W)
    assert (await raw_call(csms, "SetChargingProfile", unknown))["status"] == "Rejected"
    composite = {"duration": 60} | ({"connectorId": 9} if version == "1.6" else {"evseId": 9})
    assert (await raw_call(csms, "GetCompositeSchedule", composite))["status"] == "Rejected"


@VERSIONS
async def test_a_remote_start_with_a_tx_profile_charges_within_it(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    tx_profile = profile(version, profile_id=3, purpose="TxProfile", limit=3_000)
    default = profile(version, profile_id=4, purpose="TxDefaultProfile", limit=3_000)
    if version == "1.6":
        start: dict[str, Any] = {"idTag": "CARD-1", "connectorId": 1}
    else:
        start = {"idToken": {"idToken": "CARD-1", "type": "ISO14443"}, "remoteStartId": 41, "evseId": 1}
    key = "chargingProfile"
    assert (await raw_call(csms, _start_action(version), start | {key: default}))["status"] == "Rejected"
    assert (await raw_call(csms, _start_action(version), start | {key: tx_profile}))["status"] == "Accepted"
    tx = await running_transaction(csms)
    limited = await samples_after(csms, tx, datetime.now(UTC) - timedelta(minutes=1))
    assert 0 < max(limited) <= 3_000

    await send(csms, c.RemoteStop(station_transaction_id=tx["station_transaction_id"]))

    async def ended() -> list[dict[str, Any]]:
        return await csms.rows("transactions", pk=tx["pk"], state="ended")

    await eventually(ended)
    clear = {"id": 3} if version == "1.6" else {"chargingProfileId": 3}
    assert (await raw_call(csms, "ClearChargingProfile", clear))["status"] == "Unknown"  # it ended with its session


@pytest.mark.parametrize("version", ["2.0.1"])
async def test_get_charging_profiles_reports_what_is_installed(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    query = {"requestId": 12, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}
    assert (await raw_call(csms, "GetChargingProfiles", query))["status"] == "NoProfiles"
    installed = set_profile("2.0.1", 2, profile_id=8, purpose="TxDefaultProfile", limit=LIMIT_W)
    assert (await raw_call(csms, "SetChargingProfile", installed))["status"] == "Accepted"

    assert (await raw_call(csms, "GetChargingProfiles", query))["status"] == "Accepted"

    async def reports() -> list[list[Any]]:
        return frames_in(csms, "ReportChargingProfiles")

    (report,) = await eventually(reports)
    payload = report[3]
    assert (payload["requestId"], payload["evseId"]) == (12, 2)
    assert [p["id"] for p in payload["chargingProfile"]] == [8]


def _start_action(version: str) -> str:
    return "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"


@VERSIONS
async def test_a_remote_start_refused_for_its_profile_keeps_the_reservation_it_would_have_used(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    expiry = _iso(datetime.now(UTC) + timedelta(minutes=10))
    if version == "1.6":
        reserve: dict[str, Any] = {"connectorId": 1, "expiryDate": expiry, "idTag": "CARD-1", "reservationId": 7}
        start: dict[str, Any] = {"idTag": "CARD-1", "connectorId": 1}
        other: dict[str, Any] = {"idTag": "CARD-2", "connectorId": 1}
    else:
        card = {"idToken": "CARD-1", "type": "ISO14443"}
        reserve = {"id": 7, "expiryDateTime": expiry, "idToken": card, "evseId": 1}
        start = {"idToken": card, "remoteStartId": 42, "evseId": 1}
        other = {"idToken": {"idToken": "CARD-2", "type": "ISO14443"}, "remoteStartId": 43, "evseId": 1}
    assert (await raw_call(csms, "ReserveNow", reserve))["status"] == "Accepted"
    too_deep = profile(version, profile_id=3, purpose="TxProfile", limit=3_000) | {"stackLevel": 99}

    refused = await raw_call(csms, _start_action(version), start | {"chargingProfile": too_deep})

    assert refused["status"] == "Rejected"
    assert (await raw_call(csms, _start_action(version), other))["status"] == "Rejected"  # still held for CARD-1
    assert (await raw_call(csms, _start_action(version), start))["status"] == "Accepted"
    tx = await running_transaction(csms)
    await send(csms, c.RemoteStop(station_transaction_id=tx["station_transaction_id"]))
