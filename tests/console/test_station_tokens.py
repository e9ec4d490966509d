"""Reservations and the local list on the station page, against a real station answering (SQLite and PG)."""

from __future__ import annotations

from evscada.core.access.users import Role
from tests.api.recording_stations import recording_station
from tests.console.conftest import add_users, logged_in
from tests.support import Csms


async def test_an_operator_reserves_cancels_and_sends_the_local_list_from_the_station_page(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_token("CARD-1")
    async with recording_station(csms, "CP-R", "1.6") as station:
        async with logged_in(csms, Role.VIEWER) as (viewer, viewer_csrf):
            page = (await viewer.get("/stations/CP-R")).text
            assert "Reserve now" not in page and "Send full list" not in page  # operators only
            refused = await viewer.post(
                "/stations/CP-R/reservations", data={"csrf": viewer_csrf, "id_token": "CARD-1", "minutes": "30"}
            )
            assert refused.status_code == 403
            assert (await viewer.post("/stations/CP-R/local-list", data={"csrf": viewer_csrf})).status_code == 403
        assert station.received == []  # nothing reached the station

        async with logged_in(csms, Role.OPERATOR) as (operator, csrf):
            page = (await operator.get("/stations/CP-R")).text
            assert "no active reservations" in page and 'id="local-list-version">0<' in page
            made = await operator.post(
                "/stations/CP-R/reservations",
                data={"csrf": csrf, "id_token": "CARD-1", "evse_id": "1", "minutes": "30"},
            )
            assert made.status_code == 303 and "accepted" in made.headers["location"]
            sent = station.last("ReserveNow")
            assert (sent["connector_id"], sent["id_tag"]) == (1, "CARD-1")
            page = (await operator.get("/stations/CP-R")).text
            rid = sent["reservation_id"]
            assert f'data-reservation="{rid}"' in page
            unknown = await operator.post(
                "/stations/CP-R/reservations", data={"csrf": csrf, "id_token": "NOPE", "minutes": "30"}
            )
            assert "failed=1" in unknown.headers["location"]

            cancelled = await operator.post(f"/stations/CP-R/reservations/{rid}/cancel", data={"csrf": csrf})
            assert "failed" not in cancelled.headers["location"]
            assert station.last("CancelReservation")["reservation_id"] == rid
            assert f'data-reservation="{rid}"' not in (await operator.get("/stations/CP-R")).text

            full = await operator.post("/stations/CP-R/local-list", data={"csrf": csrf, "update": "full"})
            assert "failed" not in full.headers["location"] and "version%201" in full.headers["location"]
            assert station.last("SendLocalList")["update_type"] == "Full"
            await csms.add_token("CARD-2")
            diff = await operator.post("/stations/CP-R/local-list", data={"csrf": csrf, "update": "differential"})
            assert "version%202" in diff.headers["location"] and "1%20set" in diff.headers["location"]
            assert station.last("SendLocalList")["update_type"] == "Differential"
            assert 'id="local-list-version">2<' in (await operator.get("/stations/CP-R")).text
