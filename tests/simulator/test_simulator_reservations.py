"""Reservations, the local list and heartbeats: a simulated station keeps what the CSMS sets and acts on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from evscada.core.control import commands as c
from evscada.core.model import StationId
from evscada.simulator.station import StationSpec
from tests.simulator.helpers import SID, VERSIONS, connector_status, raw_call, remote_start, send
from tests.support import Csms, eventually


def reserve_now(version: str, *, seconds: float, token: str = "CARD-2", reservation_id: int = 7) -> dict[str, Any]:
    expiry = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    if version == "1.6":
        return {"connectorId": 1, "expiryDate": expiry, "idTag": token, "reservationId": reservation_id}
    return {
        "id": reservation_id,
        "expiryDateTime": expiry,
        "idToken": {"idToken": token, "type": "ISO14443"},
        "evseId": 1,
    }


def local_list(version: str, number: int, update: str, entries: dict[str, bool]) -> dict[str, Any]:
    """entries: token -> keep it (False: remove it, in a differential update)."""
    if version == "1.6":
        items: list[dict[str, Any]] = [
            {"idTag": token, **({"idTagInfo": {"status": "Accepted"}} if keep else {})}
            for token, keep in entries.items()
        ]
        return {"listVersion": number, "updateType": update, "localAuthorizationList": items}
    items = [
        {"idToken": {"idToken": token, "type": "ISO14443"}, **({"idTokenInfo": {"status": "Accepted"}} if keep else {})}
        for token, keep in entries.items()
    ]
    return {"versionNumber": number, "updateType": update, "localAuthorizationList": items}


@VERSIONS
async def test_a_reserved_connector_starts_only_for_its_token(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    assert (await raw_call(csms, "ReserveNow", reserve_now(version, seconds=60)))["status"] == "Accepted"
    assert await connector_status(csms, 1, "Reserved")
    assert (await raw_call(csms, "ReserveNow", reserve_now(version, seconds=60, reservation_id=8)))[
        "status"
    ] == "Occupied"

    assert (await send(csms, remote_start(evse_id=1, token="CARD-1"))).status == "Rejected"
    assert (await send(csms, remote_start(evse_id=1, token="CARD-2"))).status == "Accepted"


@VERSIONS
async def test_a_reservation_expires_and_a_cancelled_one_ends(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    await raw_call(csms, "ReserveNow", reserve_now(version, seconds=0.3))
    assert await connector_status(csms, 1, "Reserved")
    assert await connector_status(csms, 1, "Available")  # expired

    await raw_call(csms, "ReserveNow", reserve_now(version, seconds=60))
    assert await connector_status(csms, 1, "Reserved")
    assert (await raw_call(csms, "CancelReservation", {"reservationId": 7}))["status"] == "Accepted"
    assert await connector_status(csms, 1, "Available")
    assert (await raw_call(csms, "CancelReservation", {"reservationId": 7}))["status"] == "Rejected"


@VERSIONS
async def test_the_local_list_is_kept_with_its_version(csms_sqlite: Csms, station: StationSpec, version: str) -> None:
    csms = csms_sqlite
    version_key = "listVersion" if version == "1.6" else "versionNumber"
    assert (await raw_call(csms, "GetLocalListVersion", {}))[version_key] == 0

    full = local_list(version, 3, "Full", {"A": True, "B": True})
    assert (await raw_call(csms, "SendLocalList", full))["status"] == "Accepted"
    stale = local_list(version, 3, "Differential", {"C": True})
    assert (await raw_call(csms, "SendLocalList", stale))["status"] == "VersionMismatch"
    newer = local_list(version, 4, "Differential", {"C": True, "A": False})
    assert (await raw_call(csms, "SendLocalList", newer))["status"] == "Accepted"

    assert (await raw_call(csms, "GetLocalListVersion", {}))[version_key] == 4


@VERSIONS
async def test_a_new_heartbeat_interval_takes_effect_at_once(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    heartbeat = c.SettingRef(name="HeartbeatInterval", component="OCPPCommCtrlr")
    assert (await send(csms, c.ChangeSetting(setting=heartbeat, value="0.2"))).status == "Accepted"
    session = csms.app.gateway.registry.get(StationId(SID))
    assert session is not None

    async def heartbeats() -> int:
        return sum(1 for _, way, frame in session.frames if way == "in" and json.loads(frame)[2:3] == ["Heartbeat"])

    assert await eventually(heartbeats, timeout=1.0)  # the CSMS's interval at boot was 60 s
