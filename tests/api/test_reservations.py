"""Reservations over the API: sent to real stations, stored with the answer, cancelled, expired, used, removed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.api.recording_stations import recording_station
from tests.support import Csms

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@VERSIONS
async def test_a_reservation_reaches_the_station_and_is_stored_with_its_answer(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    await csms.add_token("CARD-1", group_id="FLEET")
    async with recording_station(csms, "CP-R", version) as station:
        made = await api.post(
            "/stations/CP-R/commands/reserve_now",
            json={"id_token": "CARD-1", "expires_at": later(600), "evse_id": 2, "reason": "bus 12"},
            headers=headers,
        )
        assert made.status_code == 200, made.text
        body = made.json()
        reservation = body["reservation"]
        assert (body["outcome"], body["status"], reservation["status"], reservation["active"]) == (
            "answered",
            "Accepted",
            "accepted",
            True,
        )
        sent = station.last("ReserveNow")
        if version == "1.6":
            assert (sent["reservation_id"], sent["connector_id"], sent["id_tag"], sent["parent_id_tag"]) == (
                reservation["id"],
                2,
                "CARD-1",
                "FLEET",
            )
        else:
            assert (sent["id"], sent["evse_id"], sent["id_token"]) == (
                reservation["id"],
                2,
                {"id_token": "CARD-1", "type": "Central"},
            )
            assert sent["group_id_token"]["id_token"] == "FLEET"

        station.answers["ReserveNow"] = "Occupied"
        occupied = await api.post(
            "/stations/CP-R/commands/reserve_now",
            json={"id_token": "CARD-1", "expires_at": later(600), "evse_id": 1},
            headers=headers,
        )
        assert occupied.json()["reservation"]["status"] == "occupied"

        cancelled = await api.post(
            "/stations/CP-R/commands/cancel_reservation", json={"reservation_id": reservation["id"]}, headers=headers
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["reservation"]["status"] == "cancelled"
        assert station.last("CancelReservation") == {"reservation_id": reservation["id"]}
        again = await api.post(
            "/stations/CP-R/commands/cancel_reservation", json={"reservation_id": reservation["id"]}, headers=headers
        )
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]

    one = (await api.get(f"/reservations/{reservation['id']}", headers=headers)).json()
    assert (one["status"], one["created_by"], one["reason"], one["evse_id"]) == (
        "cancelled",
        "operator-user",
        "bus 12",
        2,
    )
    listed = (await api.get("/reservations", params={"station_id": "CP-R"}, headers=headers)).json()
    assert [r["status"] for r in listed] == ["occupied", "cancelled"]  # newest first
    log = (await api.get("/commands", params={"station_id": "CP-R"}, headers=headers)).json()
    assert sorted(e["command"] for e in log) == ["cancel_reservation", "reserve_now", "reserve_now"]
    assert one["command_id"] in [e["id"] for e in log]


@VERSIONS
async def test_a_reservation_expires_on_time_and_leaves_the_active_list(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    await csms.add_token("CARD-1")
    async with recording_station(csms, "CP-R", version):
        made = await api.post(
            "/stations/CP-R/commands/reserve_now",
            json={"id_token": "CARD-1", "expires_at": later(1.0), "evse_id": 1},
            headers=headers,
        )
        rid = made.json()["reservation"]["id"]
        active = (await api.get("/reservations", params={"active": "true"}, headers=headers)).json()
        assert [r["id"] for r in active] == [rid]
        await asyncio.sleep(1.2)
        assert (await api.get("/reservations", params={"active": "true"}, headers=headers)).json() == []
        ended = (await api.get("/reservations", params={"active": "false"}, headers=headers)).json()
        assert [(r["id"], r["status"]) for r in ended] == [(rid, "expired")]
        (row,) = await csms.rows("reservations", id=rid)
        assert row["status"] == "expired"  # stored as shown
        late = await api.post(
            "/stations/CP-R/commands/cancel_reservation", json={"reservation_id": rid}, headers=headers
        )
        assert late.status_code == 409


@VERSIONS
async def test_a_transaction_started_with_a_reservation_uses_it(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    await csms.add_token("CARD-1")
    async with recording_station(csms, "CP-R", version) as station:
        made = await api.post(
            "/stations/CP-R/commands/reserve_now",
            json={"id_token": "CARD-1", "expires_at": later(600), "evse_id": 1},
            headers=headers,
        )
        rid = made.json()["reservation"]["id"]
        if version == "1.6":
            await station.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="CARD-1", meter_start=0, timestamp=later(0), reservation_id=rid
                )
            )
        else:
            await station.call(
                call201.TransactionEvent(
                    event_type="Started",
                    timestamp=later(0),
                    trigger_reason="Authorized",
                    seq_no=0,
                    transaction_info={"transaction_id": "T-1"},
                    evse={"id": 1, "connector_id": 1},
                    id_token={"id_token": "CARD-1", "type": "Central"},
                    reservation_id=rid,
                )
            )
    used = (await api.get(f"/reservations/{rid}", headers=headers)).json()
    (tx,) = await csms.rows("transactions", station_id="CP-R")
    assert (used["status"], used["active"], used["transaction_id"]) == ("used", False, tx["pk"])
    assert tx["reservation_id"] == rid


async def test_a_2_0_1_station_removing_or_expiring_a_reservation_ends_it(csms: Csms, api: httpx.AsyncClient) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    await csms.add_token("CARD-1")
    ids = []
    async with recording_station(csms, "CP-R", "2.0.1") as station:
        for _ in range(2):
            made = await api.post(
                "/stations/CP-R/commands/reserve_now",
                json={"id_token": "CARD-1", "expires_at": later(600)},
                headers=headers,
            )
            ids.append(made.json()["reservation"]["id"])
        assert "evse_id" not in station.last("ReserveNow")  # any EVSE
        await station.call(call201.ReservationStatusUpdate(reservation_id=ids[0], reservation_update_status="Removed"))
        await station.call(call201.ReservationStatusUpdate(reservation_id=ids[1], reservation_update_status="Expired"))
    statuses = [(await api.get(f"/reservations/{rid}", headers=headers)).json()["status"] for rid in ids]
    assert statuses == ["removed", "expired"]
    assert len(await csms.rows("station_messages", station_id="CP-R", kind="reservation_status")) == 2


async def test_bad_reservations_get_clear_errors(csms: Csms, api: httpx.AsyncClient) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    await csms.add_token("CARD-1")
    await csms.add_token("STOLEN", status="Blocked")
    url = "/stations/CP-R/commands/reserve_now"
    async with recording_station(csms, "CP-R", "1.6") as station:
        past = await api.post(url, json={"id_token": "CARD-1", "expires_at": later(-60)}, headers=headers)
        assert past.status_code == 422 and "expires_at" in past.json()["detail"]
        naive = await api.post(url, json={"id_token": "CARD-1", "expires_at": "2030-01-01T00:00:00"}, headers=headers)
        assert naive.status_code == 422 and naive.json()["detail"][0]["loc"][-1] == "expires_at"
        unknown = await api.post(url, json={"id_token": "NOBODY", "expires_at": later(60)}, headers=headers)
        assert unknown.status_code == 422 and "NOBODY" in unknown.json()["detail"]
        blocked = await api.post(url, json={"id_token": "STOLEN", "expires_at": later(60)}, headers=headers)
        assert blocked.status_code == 422 and "Blocked" in blocked.json()["detail"]
        typed = await api.post(
            url, json={"id_token": "CARD-1", "expires_at": later(60), "connector_type": "cType2"}, headers=headers
        )
        assert typed.status_code == 400 and "1.6" in typed.json()["detail"]
        assert station.received == []  # none of these reached the station
    gone = await api.post(
        "/stations/NOPE/commands/reserve_now", json={"id_token": "CARD-1", "expires_at": later(60)}, headers=headers
    )
    assert gone.status_code == 404
    assert (await api.get("/reservations/999", headers=headers)).status_code == 404
    failed = await api.get("/reservations", params={"status": "failed"}, headers=headers)
    assert [r["connector_type"] for r in failed.json()] == ["cType2"]  # kept, with why it failed in the log
    assert (await api.get("/reservations", params={"status": "nonsense"}, headers=headers)).status_code == 422
