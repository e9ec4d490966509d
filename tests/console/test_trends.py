"""Issue 19: the trends form sends its empty fields (`tx=`); each way of asking draws, and a wrong field says why."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from ocpp.v16 import call

from evscada.core.access.users import Role
from tests.console.conftest import logged_in, logged_in_page, screenshot
from tests.support import Csms, station16

POWER = "Power.Active.Import"
ENERGY = "Energy.Active.Import.Register"


def _minute(base: datetime, minutes: int) -> str:
    return (base + timedelta(minutes=minutes)).isoformat()


def _local(moment: datetime) -> str:
    """As a datetime-local field holds it (UTC, to the minute)."""
    return f"{moment:%Y-%m-%dT%H:%M}"


async def two_sessions(csms: Csms) -> tuple[datetime, int, int]:
    """CP-1 charged two sessions in the last hour: A on EVSE 1 (7, 11, 9 kW), B on EVSE 2 (3, 4 kW); their pks."""
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    await csms.add_station("CP-1")
    await csms.add_token("CARD-1")
    async with station16(csms, "CP-1") as cp:
        await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        plan = {1: (5, 40, ((10, 7000), (20, 11000), (30, 9000))), 2: (12, 35, ((15, 3000), (25, 4000)))}
        for connector, (started, stopped, readings) in plan.items():
            start = await cp.call(
                call.StartTransaction(
                    connector_id=connector, id_tag="CARD-1", meter_start=0, timestamp=_minute(base, started)
                )
            )
            for minute, watts in readings:
                value = [{"value": str(watts), "measurand": POWER, "unit": "W"}]
                if connector == 1:  # a meter register in the millions of Wh: shown in kWh, not "2.5M"
                    value.append({"value": str(2_500_000 + 10 * minute), "measurand": ENERGY, "unit": "Wh"})
                await cp.call(
                    call.MeterValues(
                        connector_id=connector,
                        transaction_id=start.transaction_id,
                        meter_value=[{"timestamp": _minute(base, minute), "sampledValue": value}],
                    )
                )
            await cp.call(
                call.StopTransaction(
                    meter_stop=1000, timestamp=_minute(base, stopped), transaction_id=start.transaction_id
                )
            )
    by_evse = {row["evse_id"]: row["pk"] for row in await csms.rows("transactions", station_id="CP-1")}
    return base, by_evse[1], by_evse[2]


def form(**fields: Any) -> list[tuple[str, str]]:
    """The query the trends form sends: every field, the empty ones too (two `tx=` when no session is typed)."""
    tx = list(fields.pop("tx", []))
    query = [(name, str(fields.get(name, ""))) for name in ("station", "hours", "since", "until")]
    query += [("tx", str(pk)) for pk in tx] + [("tx", "")] * (2 - len(tx))
    return [*query, ("m", POWER)]


async def charts(client: httpx.AsyncClient, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The page's charts, each as its title and the power lines its data URL answers (values by EVSE/label)."""
    page = await client.get("/trends", params=query)
    assert page.status_code == 200, page.text
    assert "trend-error" not in page.text
    found = []
    titles = re.findall(r"<h2>([^<]*)</h2><div class=\"trend\" data-trend-url=\"([^\"]+)\"", page.text)
    for title, url in titles:
        data = await client.get(html.unescape(url))
        assert data.status_code == 200, data.text
        (power,) = data.json()["groups"]
        assert (power["measurand"], power["name"], power["shown_unit"], power["scale"]) == (POWER, "Power", "kW", 0.001)
        lines = {s["label"]: [v for v in s["values"] if v is not None] for s in power["series"]}
        found.append({"title": title, "lines": lines})
    return found


async def test_each_way_of_asking_draws_its_samples_and_empty_fields_mean_not_given(console_csms: Csms) -> None:
    base, a, b = await two_sessions(console_csms)
    async with logged_in(console_csms, Role.VIEWER) as (client, _):
        (station,) = await charts(client, form(station="CP-1", hours="2"))
        assert station["title"] == "station CP-1"
        assert station["lines"] == {"EVSE 1": [7000, 11000, 9000], "EVSE 2": [3000, 4000]}

        (single,) = await charts(client, form(tx=[a]))
        assert single["lines"] == {"Power": [7000, 11000, 9000]}

        since, until = _local(base + timedelta(minutes=8)), _local(base + timedelta(minutes=22))
        (window,) = await charts(client, form(station="CP-1", since=since, until=until))
        assert window["lines"] == {"EVSE 1": [7000, 11000], "EVSE 2": [3000]}

        first, second = await charts(client, form(tx=[a, b]))
        assert (first["lines"], second["lines"]) == ({"Power": [7000, 11000, 9000]}, {"Power": [3000, 4000]})

        # The chart's own URL takes empty fields as not given too (the station page and others build such URLs).
        data = await client.get("/data/trend", params={"transaction": "", "station": "CP-1", "since": "", "hours": "2"})
        assert data.status_code == 200 and data.json()["groups"]


async def test_a_wrong_field_answers_a_readable_message_not_raw_json(console_csms: Csms) -> None:
    base, a, _ = await two_sessions(console_csms)
    later, earlier = _local(base + timedelta(minutes=30)), _local(base + timedelta(minutes=10))
    wrong = {
        "backwards": (form(station="CP-1", since=later, until=earlier), "since", "must be before"),
        "not a number": (form(tx=["abc"]), "tx", "'abc' is not a session id"),
        "unknown session": (form(tx=[a + 1000]), "tx", f"no session {a + 1000}"),
        "hours": (form(station="CP-1", hours="-3"), "hours", "must be a number above 0"),
        "garbled time": (form(station="CP-1", since="yesterday"), "since", "'yesterday' is not a date and time"),
        "too long": (form(station="CP-1", since="2026-01-01T00:00", until="2026-03-01T00:00"), "since", "at most 31"),
    }
    async with logged_in(console_csms, Role.VIEWER) as (client, _):
        for case, (query, field, message) in wrong.items():
            page = await client.get("/trends", params=query)
            assert page.status_code == 422, case
            assert page.headers["content-type"].startswith("text/html"), case
            shown = re.search(r'id="trend-error" data-field="([^"]*)">([^<]*)</p>', page.text)
            assert shown, case
            assert shown.group(1) == field and message in html.unescape(shown.group(2)), (case, shown.group(2))
            assert "data-trend-url" not in page.text, case
            assert f'value="{html.escape(dict(query)["since"])}"' in page.text, case  # the form keeps what was typed

        # A chart's data URL with a wrong field: a message the chart shows, never FastAPI's list of errors.
        data = await client.get("/data/trend", params={"station": "CP-1", "since": later, "until": earlier})
        assert data.status_code == 422
        assert isinstance(data.json()["detail"], str) and data.json()["field"] == "since"
        nothing = await client.get("/data/trend", params={"station": "", "transaction": ""})
        assert (nothing.status_code, nothing.json()["field"]) == (422, "station")


async def test_an_operator_asks_each_way_through_the_form(console_csms: Csms, browser: Any) -> None:
    base, a, b = await two_sessions(console_csms)
    page = await logged_in_page(browser, console_csms, Role.VIEWER)

    async def show(
        *, station: str = "", hours: str = "6", since: str = "", until: str = "", tx: str = "", other: str = ""
    ) -> None:
        await page.goto("/trends")
        await page.select_option('select[name="station"]', station)
        await page.fill('input[name="hours"]', hours)
        await page.fill('input[name="since"]', since)
        await page.fill('input[name="until"]', until)
        await page.locator('input[name="tx"]').nth(0).fill(tx)
        await page.locator('input[name="tx"]').nth(1).fill(other)
        await page.click('#trend-form button[type="submit"]')
        await page.wait_for_load_state()

    async def points(count: int) -> list[int]:
        drawn = f'.trend[data-state="drawn"] .chart[data-measurand="{POWER}"]'
        await page.wait_for_function("([s, n]) => document.querySelectorAll(s).length === n", arg=[drawn, count])
        shown = await page.eval_on_selector_all(
            f'.chart[data-measurand="{POWER}"]', "cs => cs.map(c => c.dataset.points)"
        )
        return [int(p) for p in shown]

    await show(station="CP-1", hours="2")
    assert "tx=&tx=" in page.url  # the form sends its empty sessions, as in the issue
    assert await points(1) == [5]  # both EVSEs' samples on one time axis

    await show(tx=str(a))
    assert await points(1) == [3]
    # In words and in kW / kWh: never "Energy.Active.Import.Register (Wh)" with ticks like "2.5M".
    titles = await page.eval_on_selector_all(".chart .u-title", "ts => ts.map(t => t.textContent)")
    assert titles == ["Power (kW)", "Energy (meter) (kWh)"]
    energy = page.locator(f'.chart[data-measurand="{ENERGY}"]')
    await energy.locator(".u-over").hover()  # the legend shows the value under the cursor
    read = await energy.locator(".u-legend .u-series:not(:first-child) .u-value").first.inner_text()
    assert re.fullmatch(r"2,50\d(\.\d+)? kWh", read), read

    since, until = _local(base + timedelta(minutes=8)), _local(base + timedelta(minutes=22))
    await show(station="CP-1", since=since, until=until)
    assert await points(1) == [3]

    await show(tx=str(a), other=str(b))
    assert await points(2) == [3, 2]
    await screenshot(page, "trends-compare")

    await show(station="CP-1", since=until, until=since)
    message = await page.inner_text("#trend-error")
    assert "must be before" in message
    assert await page.locator(".trend").count() == 0
    assert await page.input_value('input[name="since"]') == until  # kept as typed, to correct it
    await screenshot(page, "trends-wrong-range")
