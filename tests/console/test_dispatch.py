"""The dispatch page: each vehicle's departures, target SoC and priority, shown and set by operators (audited)."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from evscada.console.dispatch import DispatchRow, Verdict, group_rows
from evscada.core.access.audit import AuditFilter
from evscada.core.access.users import Role
from evscada.core.model import AlarmPriority, EvseRef, StationId, Vehicle
from evscada.settings import Settings
from tests.conftest import start_csms, test_settings
from tests.console.conftest import add_users, logged_in, logged_in_page, screenshot
from tests.e2e.test_site_planning import depot as night_depot
from tests.simulator.helpers import remote_start, send
from tests.support import Csms, eventually

BERLIN = ZoneInfo("Europe/Berlin")


def on_berlin_time(database_url: str) -> Settings:
    # No tiles in tests (as console_settings); the operator's clock is Berlin's.
    return test_settings(database_url, console={"tile_url": None}, operator_timezone="Europe/Berlin")


@pytest.fixture
async def depot(database_url: str) -> AsyncIterator[Csms]:
    """A CSMS on Berlin time with a viewer, an operator and an admin, a bus on the timetable and a car without one."""
    async for csms in start_csms(on_berlin_time(database_url)):
        await add_users(csms)
        vehicles = csms.app.core.vehicles
        await vehicles.create(
            name="Bus 4101", fleet_number="4101", departure_time=time(4, 30), target_soc_pct=95, priority=5
        )
        await vehicles.create(name="Pool car")
        yield csms


async def vehicle(csms: Csms, name: str) -> Vehicle:
    (found,) = [v for v in await csms.app.core.vehicles.list() if v.name == name]
    return found


def in_two_days_at(hour: int, minute: int) -> datetime:
    """A one-off departure ahead, on the operator's clock."""
    return (datetime.now(BERLIN) + timedelta(days=2)).replace(hour=hour, minute=minute, second=0, microsecond=0)


async def test_an_operator_sets_departures_and_needs_and_a_viewer_only_reads_them(depot: Csms) -> None:
    bus = await vehicle(depot, "Bus 4101")
    async with logged_in(depot, Role.VIEWER) as (viewer, viewer_csrf):
        page = (await viewer.get("/dispatch")).text
        row = re.search(rf'<tr id="vehicle-{bus.id}".*?</tr>', page, flags=re.DOTALL)
        assert row and "04:30" in row.group(0) and "daily" in row.group(0) and "95 %" in row.group(0)
        assert "Europe/Berlin" in page
        assert 'data-edit="' not in page and 'action="/dispatch/' not in page  # no edit for a viewer
        refused = await viewer.post(f"/dispatch/{bus.id}", data={"csrf": viewer_csrf, "priority": "50"})
        assert refused.status_code == 403

    one_off = in_two_days_at(22, 15)
    async with logged_in(depot, Role.OPERATOR) as (operator, csrf):
        stale = await operator.post(f"/dispatch/{bus.id}", data={"csrf": "0" * 64, "priority": "50"})
        assert stale.status_code == 403  # a form from elsewhere
        saved = await operator.post(
            f"/dispatch/{bus.id}",
            data={
                "csrf": csrf,
                "departure_time": "05:10",
                "next_departure": one_off.strftime("%Y-%m-%dT%H:%M"),
                "target_soc_pct": "80",
                "priority": "20",
            },
        )
        assert saved.status_code == 303 and "failed" not in saved.headers["location"], saved.headers
        assert saved.headers["location"].endswith(f"#vehicle-{bus.id}")
        page = (await operator.get("/dispatch")).text
        row = re.search(rf'<tr id="vehicle-{bus.id}".*?</tr>', page, flags=re.DOTALL)
        assert row and one_off.strftime("%H:%M") in row.group(0) and "one-off" in row.group(0)

        # Out of range or not a number: refused with the reason, nothing changed.
        for fields, reason in [
            ({"target_soc_pct": "150"}, "target_soc_pct"),
            ({"priority": "101"}, "priority"),
            ({"priority": "1.5"}, "whole number"),
            ({"departure_time": "25:00"}, "time of day"),
            ({"next_departure": "tomorrow"}, "date and time"),
        ]:
            answer = await operator.post(f"/dispatch/{bus.id}", data={"csrf": csrf, "priority": "20"} | fields)
            assert answer.status_code == 303 and "failed=1" in answer.headers["location"], fields
            assert reason in unquote(answer.headers["location"]), (fields, answer.headers["location"])
        unknown = await operator.post("/dispatch/99999", data={"csrf": csrf})
        assert "failed=1" in unknown.headers["location"]

    changed = await vehicle(depot, "Bus 4101")
    assert (changed.departure_time, changed.target_soc_pct, changed.priority) == (time(5, 10), 80.0, 20)
    assert changed.next_departure == one_off.astimezone(UTC)  # the operator's clock, stored in UTC
    assert changed.fleet_number == "4101"  # what the form does not show is kept
    (entry,) = await depot.app.core.audit.entries(where=AuditFilter(action="vehicle.update"))
    assert entry.actor == "operator" and entry.details["priority"] == {"from": 5, "to": 20}

    # Empty fields clear; an empty priority is the default, 0.
    async with logged_in(depot, Role.OPERATOR) as (operator, csrf):
        fields = {"departure_time": "", "next_departure": "", "target_soc_pct": "", "priority": ""}
        await operator.post(f"/dispatch/{bus.id}", data={"csrf": csrf} | fields)
    cleared = await vehicle(depot, "Bus 4101")
    assert (cleared.departure_time, cleared.next_departure, cleared.target_soc_pct, cleared.priority) == (
        None,
        None,
        None,
        0,
    )


async def test_the_row_has_a_plan_slot_that_shows_only_when_set() -> None:
    """The energy planner's verdict goes into `plan`; until it is set the page shows nothing for it."""
    from evscada.console.web import templates

    bus = Vehicle(id=1, name="Bus 4101", departure_time=time(4, 30))  # type: ignore[arg-type]
    departs = datetime(2026, 6, 11, 2, 30, tzinfo=UTC)
    context = {"zone": BERLIN, "can_operate": False, "csrf": "", "view": "", "shown": 1, "total": 1}
    context |= {"tally": dict.fromkeys(Verdict, 0), "verdicts": list(Verdict)}
    template = templates.env.get_template("dispatch_rows.html")

    unplanned = template.render(groups=group_rows([DispatchRow(bus, None, None, [], None, departs)]), **context)
    planned = template.render(
        groups=group_rows([DispatchRow(bus, None, None, [], None, departs, plan="ready 03:55 (95 %)")]), **context
    )

    assert 'data-slot="plan"' not in unplanned and "Thu 11 Jun 04:30" in unplanned
    assert 'data-slot="plan">ready 03:55 (95 %)<' in planned


async def edit_in_browser(page: Any, bus_id: int, one_off: datetime) -> None:
    await page.goto("/dispatch")
    edit = page.locator(f"#edit-{bus_id}")
    assert await edit.is_hidden()
    await page.click(f'button[data-edit="{bus_id}"]')
    await edit.wait_for(state="visible")
    form = edit.locator("form")
    assert await form.locator('input[name="departure_time"]').input_value() == "04:30"
    assert await form.locator('input[name="target_soc_pct"]').input_value() == "95"
    await form.locator('input[name="departure_time"]').fill("05:40")
    await form.locator('input[name="next_departure"]').fill(one_off.strftime("%Y-%m-%dT%H:%M"))
    await form.locator('input[name="target_soc_pct"]').fill("90")
    await form.locator('input[name="priority"]').fill("3")
    await form.locator('button[type="submit"]').click()
    await page.wait_for_url(f"**/dispatch?message=*#vehicle-{bus_id}")
    assert "saved" in await page.inner_text(".flash")
    row = await page.inner_text(f"#vehicle-{bus_id}")
    assert one_off.strftime("%H:%M") in row and "one-off" in row and "90 %" in row and "3" in row


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
async def test_an_operator_edits_a_bus_on_the_dispatch_page(sqlite_url: str, browser: Any, phone: bool) -> None:
    async for csms in start_csms(on_berlin_time(sqlite_url)):
        await add_users(csms)
        bus = await csms.app.core.vehicles.create(
            name="Bus 4101", fleet_number="4101", departure_time=time(4, 30), target_soc_pct=95
        )
        await csms.app.core.vehicles.create(name="Pool car")
        page = await logged_in_page(browser, csms, Role.OPERATOR, mobile=phone)
        if phone:  # the edit button and the whole form are on screen without scrolling sideways
            await page.goto("/dispatch")
            await page.click(f'button[data-edit="{bus.id}"]')
            width = page.viewport_size["width"]
            for part in ("input[name=departure_time]", "input[name=priority]", "button[type=submit]"):
                box = await page.locator(f"#edit-{bus.id} {part}").bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (part, box)
            assert "04:30" in await page.inner_text(f"#vehicle-{bus.id} td.departs")
            await screenshot(page, "dispatch-form-phone")
        one_off = in_two_days_at(21, 5)
        await edit_in_browser(page, bus.id, one_off)
        await screenshot(page, "dispatch-edit-phone" if phone else "dispatch-edit")

        saved = await vehicle(csms, "Bus 4101")
        assert (saved.departure_time, saved.target_soc_pct, saved.priority) == (time(5, 40), 90.0, 3)
        assert saved.next_departure == one_off.astimezone(UTC)
        await page.context.close()

        viewer = await logged_in_page(browser, csms, Role.VIEWER, mobile=phone)
        await viewer.goto("/dispatch")
        assert "one-off" in await viewer.inner_text(f"#vehicle-{bus.id}")
        assert await viewer.locator("button[data-edit]").count() == 0
        await viewer.context.close()


# Three buses plugged into 50 kW DC bays of one 60 kW depot (the e2e planning depot): Bus 3 cannot reach 100 % at
# 3 kW before it leaves, Bus 1 and Bus 2 can; departures far enough ahead to look at the page before anyone leaves.
NIGHT = {
    "BAY-1": (200.0, 20.0, 150e3, 80.0, 900),
    "BAY-2": (200.0, 20.0, 150e3, 80.0, 900),
    "BAY-3": (200.0, 10.0, 3e3, 100.0, 240),
}
FAULT = "Connector 1 Faulted: GroundFailure"


async def one_late_of_three(csms: Csms) -> bool:
    """Whether the planner has planned the three buses, with Bus 3 late."""
    assert csms.app.load_manager is not None
    plans = csms.app.load_manager.vehicle_plans()
    return len(plans) == len(NIGHT) and [p.late for p in plans.values()].count(True) == 1


@pytest.fixture
async def planned(sqlite_url: str) -> AsyncIterator[Csms]:
    """The depot charging with its plan made: fleets North (Bus 1, Bus 2) and South (Bus 3, Bus 9 not plugged), a
    pool car in no fleet, and an active alarm on Bus 1's bay."""
    settings = test_settings(
        sqlite_url,
        console={"tile_url": None},
        load_management_interval_seconds=1.0,
        load_management_send_interval_seconds=0.5,
        load_management_lease_seconds=120.0,
    )
    async for csms in start_csms(settings):
        await add_users(csms)
        core = csms.app.core
        async with night_depot(csms, "1.6", datetime.now(UTC), NIGHT):
            for n, sid in enumerate(NIGHT, 1):
                assert (await send(csms, remote_start(token=f"BUS-{n}"), station_id=sid)).status == "Accepted"

            made = functools.partial(one_late_of_three, csms)
            assert await eventually(made, timeout=15), "the planner never planned the three buses"
            for name, fleet in (("Bus 1", "North"), ("Bus 2", "North"), ("Bus 3", "South")):
                await core.vehicles.update(vehicle=replace(await vehicle(csms, name), fleet=fleet))
            await core.vehicles.create(name="Bus 9", fleet="South", fleet_number="9")
            await core.vehicles.create(name="Pool car")
            await core.alarms.raise_alarm(
                key="fault:BAY-1:1",
                source="station_fault",
                station_id=StationId("BAY-1"),
                evse=EvseRef(evse_id=1, connector_id=1),
                priority=AlarmPriority.HIGH,
                message=FAULT,
            )
            yield csms


def rows_of(page: str) -> dict[str, dict[str, str]]:
    """Each vehicle row's name, verdict, state, its text (tags removed) and its HTML."""
    found = {}
    for row in re.findall(r'<tr id="vehicle-\d+".*?</tr>', page, flags=re.DOTALL):
        name = re.search(r"<b>([^<]+)</b>", row)
        verdict = re.search(r'data-verdict="([^"]+)"', row)
        state = re.search(r'data-state="([^"]+)"', row)
        assert name and verdict and state, row
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
        found[name.group(1)] = {"verdict": verdict.group(1), "state": state.group(1), "text": text, "html": row}
    return found


async def test_the_plan_and_the_alarms_colour_each_bus_and_the_filters_narrow_the_view(planned: Csms) -> None:
    async with logged_in(planned, Role.VIEWER) as (client, _):
        page = await client.get("/dispatch")
        assert page.status_code == 200
        rows = rows_of(page.text)
        assert rows["Bus 3"]["verdict"] == "late" and "kWh short" in rows["Bus 3"]["text"]
        assert 'class="verdict-mark late"' in rows["Bus 3"]["html"]  # coloured as late
        # On time by the plan, but its bay has an active alarm: at risk, and the alarm is in its row.
        assert rows["Bus 1"]["verdict"] == "at-risk" and FAULT in rows["Bus 1"]["text"]
        assert rows["Bus 2"]["verdict"] == "on-time" and FAULT not in rows["Bus 2"]["text"]
        assert (rows["Bus 9"]["verdict"], rows["Bus 9"]["state"]) == ("no-plan", "not-plugged")

        async def shown(**filters: str) -> set[str]:
            answer = await client.get("/dispatch", params=filters)
            assert answer.status_code == 200, (filters, answer.text)
            return set(rows_of(answer.text))

        assert await shown(fleet="North") == {"Bus 1", "Bus 2"}
        assert await shown(fleet="-") == {"Pool car"}
        assert await shown(site="-") == {"Bus 9", "Pool car"}
        assert await shown(status="late") == {"Bus 3"}
        assert await shown(status="at-risk") == {"Bus 1"}
        assert await shown(status="not-plugged") == {"Bus 9", "Pool car"}
        assert await shown(q="pool") == {"Pool car"}
        assert await shown(q="bay-2") == {"Bus 2"}  # by the station it charges at
        assert await shown(fleet="South", status="late") == {"Bus 3"}
        assert await shown(fleet="", site="", status="", q="") == {"Bus 1", "Bus 2", "Bus 3", "Bus 9", "Pool car"}

        for filters, field, reason in [
            ({"fleet": "Nowhere"}, "fleet", "there is no fleet 'Nowhere'"),
            ({"site": "999"}, "site", "there is no site '999'"),
            ({"status": "lost"}, "status", "status 'lost' is not one of late, at-risk"),
            ({"q": "x" * 101}, "q", "at most 100 characters"),
        ]:
            answer = await client.get("/dispatch", params=filters)
            assert answer.status_code == 422, filters
            error = re.search(r'id="dispatch-error" data-field="([^"]*)">([^<]*)<', answer.text)
            assert error and error.group(1) == field and reason in html.unescape(error.group(2)), answer.text
            assert not rows_of(answer.text)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
async def test_the_depot_by_fleet_and_site_in_the_browser(planned: Csms, browser: Any, phone: bool) -> None:
    page = await logged_in_page(browser, planned, Role.OPERATOR, mobile=phone)
    if not phone:
        await page.set_viewport_size({"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    await page.goto("/dispatch")
    sections = await page.evaluate(
        """() => [...document.querySelectorAll(".dispatch-fleet")].map((f) => [
            f.querySelector("h2").firstChild.textContent.trim(), Number(f.querySelector("h2 [data-count]").textContent),
            [...f.querySelectorAll(".dispatch-site")].map((s) => [s.firstChild.textContent.trim(),
                Number(s.querySelector("[data-count]").textContent)])])"""
    )
    assert sections == [
        ["North", 2, [["Depot", 2]]],
        ["South", 2, [["Depot", 1], ["Not at a site", 1]]],
        ["No fleet", 1, [["Not at a site", 1]]],
    ]
    wide = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert wide[0] <= wide[1], f"the page scrolls sideways: {wide}"
    late = page.locator('tr[data-vehicle]:has(b:text-is("Bus 3")) .verdict-mark')
    assert await late.inner_text() == "late"
    assert await late.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(211, 47, 47)"  # the alarm red
    assert FAULT in await page.inner_text('tr[data-vehicle]:has(b:text-is("Bus 1")) td.faults')
    await screenshot(page, "dispatch-depot-phone" if phone else "dispatch-depot")

    # The filters are a plain form: the view is a bookmarkable URL.
    await page.select_option('#dispatch-filters select[name="status"]', "late")
    await page.click('#dispatch-filters button[type="submit"]')
    await page.wait_for_url("**/dispatch?*status=late*")
    assert await page.locator("tr[data-vehicle]").count() == 1
    assert "Bus 3" in await page.inner_text("tr[data-vehicle]")
    await page.goto("/dispatch?fleet=North")
    assert await page.eval_on_selector_all("tr[data-vehicle] b", "bs => bs.map(b => b.textContent)") == [
        "Bus 1",
        "Bus 2",
    ]
    assert await page.input_value('#dispatch-filters select[name="fleet"]') == "North"
    wide = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert wide[0] <= wide[1], f"the page scrolls sideways: {wide}"
    assert errors == []
    await page.context.close()
