"""The alarms page over plain HTTP: real alarms raised by a station, operators' actions, the history (SQLite and PG)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta

from ocpp.v16 import call

from evscada.core.access.users import Role
from tests.console.conftest import add_users, logged_in
from tests.support import Csms, eventually, station16


async def active_alarm(csms: Csms) -> dict[str, object]:
    async def raised() -> list[dict[str, object]]:
        return await csms.rows("alarms", state="active")

    (alarm,) = await eventually(raised)
    return alarm


async def test_operators_see_a_stations_fault_and_handle_it_while_a_viewer_may_only_look(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_station("CP-1")
    async with station16(csms, "CP-1") as cp:
        await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        alarm = await active_alarm(csms)
        aid = alarm["id"]
        async with logged_in(csms, Role.VIEWER) as (viewer, viewer_csrf):
            page = await viewer.get("/alarms")
            assert page.status_code == 200
            row = re.search(rf'<tr class="alarm priority-1[^"]*" data-alarm="{aid}">(.*?)</tr>', page.text, re.S)
            assert row, page.text
            assert "GroundFailure" in row.group(1) and 'href="/stations/CP-1"' in row.group(1)
            assert "station_fault" in row.group(1) and "critical" in row.group(1)
            assert "/acknowledge" not in page.text and "<form" not in row.group(1)  # a viewer gets no buttons ...
            assert (await viewer.get("/data/alarms/attention")).json() == {"count": 1}
            refused = await viewer.post(f"/alarms/{aid}/acknowledge", data={"csrf": viewer_csrf})
            assert refused.status_code == 403  # ... and the server refuses the hand-made form
            assert (await csms.rows("alarms", id=aid))[0]["acknowledged_at"] is None

        async with logged_in(csms, Role.OPERATOR) as (operator, csrf):
            assert (await operator.post(f"/alarms/{aid}/acknowledge", data={"comment": "x"})).status_code == 403
            done = await operator.post(
                f"/alarms/{aid}/acknowledge", data={"csrf": csrf, "comment": "crew on the way", "back": "/alarms"}
            )
            assert done.status_code == 303 and "acknowledged" in done.headers["location"]
            again = await operator.post(f"/alarms/{aid}/acknowledge", data={"csrf": csrf})
            assert again.status_code == 303 and "failed=1" in again.headers["location"]  # a conflict, shown
            shelved = await operator.post(
                f"/alarms/{aid}/shelve", data={"csrf": csrf, "minutes": "60", "reason": "known sensor fault"}
            )
            assert "failed" not in shelved.headers["location"]
            no_reason = await operator.post(f"/alarms/{aid}/shelve", data={"csrf": csrf, "minutes": "60"})
            assert "failed=1" in no_reason.headers["location"]
            await operator.post(f"/alarms/{aid}/comment", data={"csrf": csrf, "text": "replaced the RCD"})
            text = (await operator.get("/alarms")).text
            assert "operator" in text and "crew on the way" in text and "replaced the RCD" in text
            assert "known sensor fault" in text and "Unshelve" in text
            assert (await operator.get("/data/alarms/attention")).json() == {"count": 0}  # seen: not counted
            await operator.post(f"/alarms/{aid}/unshelve", data={"csrf": csrf})
            (stored,) = await csms.rows("alarms", id=aid)
            assert stored["acknowledged_by"] == "operator" and stored["shelved_until"] is None
            assert (
                (await operator.post("/alarms/999999/unshelve", data={"csrf": csrf}))
                .headers["location"]
                .endswith("failed=1")
            )

        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        async def cleared() -> bool:
            return (await csms.rows("alarms", id=aid))[0]["state"] == "cleared"

        assert await eventually(cleared)
    await history_shows_and_exports(csms, aid)


async def history_shows_and_exports(csms: Csms, aid: object) -> None:
    async with logged_in(csms, Role.VIEWER) as (viewer, _):
        assert "no active alarms" in (await viewer.get("/alarms")).text
        history = await viewer.get("/alarms", params={"tab": "history", "station": "CP-1", "state": "cleared"})
        assert f'data-alarm="{aid}"' in history.text and "GroundFailure" in history.text
        other = await viewer.get("/alarms", params={"tab": "history", "priority": "4"})
        assert f'data-alarm="{aid}"' not in other.text
        export = re.search(r'href="(/api/v1/alarms/export[^"]*)" id="alarms-export"', history.text)
        assert export and export.group(1)
        rows = list(csv.DictReader(io.StringIO((await viewer.get(export.group(1).replace("&amp;", "&"))).text)))
        assert [(r["id"], r["station_id"], r["state"]) for r in rows] == [(str(aid), "CP-1", "cleared")]


async def test_the_live_fragment_holds_just_the_rows(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_station("CP-1")
    async with station16(csms, "CP-1") as cp:
        await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        await cp.call(call.StatusNotification(connector_id=2, error_code="HighTemperature", status="Faulted"))
        await active_alarm(csms)
        async with logged_in(csms, Role.OPERATOR) as (client, _):
            fragment = (await client.get("/alarms?fragment=rows")).text
    assert "<html" not in fragment and "HighTemperature" in fragment and "Acknowledge" in fragment


async def test_the_station_page_shows_its_alarms_maintenance_and_availability(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_station("CP-1")
    async with station16(csms, "CP-1") as cp:
        await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await asyncio.sleep(0.3)
        await cp.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        await asyncio.sleep(0.3)
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await cp.call(call.StatusNotification(connector_id=2, error_code="OverVoltage", status="Faulted"))
        alarm = await active_alarm(csms)

        async with logged_in(csms, Role.VIEWER) as (viewer, viewer_csrf):
            page = (await viewer.get("/stations/CP-1")).text
            alarms = (await viewer.get("/stations/CP-1?fragment=alarms")).text
            assert f'data-alarm="{alarm["id"]}"' in alarms and "OverVoltage" in alarms and "<html" not in alarms
            assert "In service" in page and 'action="/stations/CP-1/maintenance"' not in page
            refused = await viewer.post(
                "/stations/CP-1/maintenance",
                data={"csrf": viewer_csrf, "until": "2099-01-01T00:00", "reason": "x"},
            )
            assert refused.status_code == 403
            measured = (await viewer.get("/api/v1/stations/CP-1/availability")).json()
            assert measured["availability"] is not None
            row = re.search(
                r'<tr data-days="30"><td>[^<]*</td><td class="percent">([\d.]+) %</td><td>(\d+) outage', page
            )
            assert row, page
            assert abs(float(row.group(1)) - measured["availability"] * 100) < 1  # the same service, a moment apart
            assert int(row.group(2)) == measured["outage_count"]

        async with logged_in(csms, Role.OPERATOR) as (operator, csrf):
            assert 'action="/stations/CP-1/maintenance"' in (await operator.get("/stations/CP-1")).text
            until = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
            started = await operator.post(
                "/stations/CP-1/maintenance", data={"csrf": csrf, "until": until, "reason": "replacing the RCD"}
            )
            assert started.status_code == 303 and "failed" not in started.headers["location"]
            page = (await operator.get("/stations/CP-1")).text
            assert "In maintenance" in page and "replacing the RCD" in page
            rest = (await operator.get("/api/v1/stations/CP-1/maintenance")).json()
            assert rest["reason"] == "replacing the RCD" and rest["started_by"] == "operator"
            past = await operator.post(
                "/stations/CP-1/maintenance", data={"csrf": csrf, "until": "2001-01-01T00:00", "reason": "x"}
            )
            garbage = await operator.post(
                "/stations/CP-1/maintenance", data={"csrf": csrf, "until": "soon", "reason": "x"}
            )
            assert "failed=1" in past.headers["location"] and "failed=1" in garbage.headers["location"]
            ended = await operator.post("/stations/CP-1/maintenance", data={"csrf": csrf, "action": "end"})
            assert "failed" not in ended.headers["location"]
            assert (await operator.get("/api/v1/stations/CP-1/maintenance")).json() is None
            again = await operator.post("/stations/CP-1/maintenance", data={"csrf": csrf, "action": "end"})
            assert "failed=1" in again.headers["location"]
