"""Issue 19: the trends form sends its empty fields (`tx=`); each way of asking draws, and a wrong field says why."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from evscada.console.trends import since_start
from evscada.core.access.users import Role
from tests.console.conftest import base_url, logged_in, logged_in_page, screenshot
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


async def session_name(csms: Csms, pk: int) -> str:
    """How a compared session is named in the legend: its station and the station's id for it."""
    (row,) = await csms.rows("transactions", pk=pk)
    return f"{row['station_id']} session {row['station_transaction_id']}"


async def charts(client: httpx.AsyncClient, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The page's charts, each as its title and the power lines its data URL answers (values by EVSE/label)."""
    page = await client.get("/trends", params=query)
    assert page.status_code == 200, page.text
    assert "trend-error" not in page.text
    found = []
    titles = re.findall(r"<h2>([^<]*)</h2>.*?data-trend-url=\"([^\"]+)\"", page.text, flags=re.DOTALL)
    for title, url in titles:
        data = await client.get(html.unescape(url))
        assert data.status_code == 200, data.text
        (power,) = data.json()["groups"]
        assert (power["measurand"], power["name"], power["shown_unit"], power["scale"]) == (POWER, "Power", "kW", 0.001)
        lines = {s["label"]: [v for v in s["values"] if v is not None] for s in power["series"]}
        times = {
            s["label"]: [x for x, v in zip(power["x"], s["values"], strict=True) if v is not None]
            for s in power["series"]
        }
        found.append({"title": title, "lines": lines, "times": times, "x_axis": data.json()["x_axis"]})
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

        # Two sessions lie over each other on the time since their start: A started at minute 5, B at minute 12.
        (compared,) = await charts(client, form(tx=[a, b]))
        name_a, name_b = await session_name(console_csms, a), await session_name(console_csms, b)
        assert compared["x_axis"] == "since_start"
        assert compared["lines"] == {name_a: [7000, 11000, 9000], name_b: [3000, 4000]}
        assert compared["times"] == {name_a: [300, 900, 1500], name_b: [180, 780]}

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
    await energy.locator(".u-over").hover()  # the readout shows the value at the cursor
    read = await energy.locator(".readout .reading b").first.inner_text()
    assert re.fullmatch(r"2,50\d(\.\d+)? kWh", read), read

    since, until = _local(base + timedelta(minutes=8)), _local(base + timedelta(minutes=22))
    await show(station="CP-1", since=since, until=until)
    assert await points(1) == [3]

    await show(tx=str(a), other=str(b))
    assert await points(1) == [5]  # one chart: both sessions' samples on the time since their start
    await screenshot(page, "trends-compare")

    await show(station="CP-1", since=until, until=since)
    message = await page.inner_text("#trend-error")
    assert "must be before" in message
    assert await page.locator(".trend").count() == 0
    assert await page.input_value('input[name="since"]') == until  # kept as typed, to correct it
    await screenshot(page, "trends-wrong-range")


VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


async def trends_page(browser: Any, csms: Csms, viewport: str) -> tuple[Any, list[str]]:
    """A viewer's page at this size (on a phone: a touch screen), and the list its script errors go to."""
    logged = await logged_in_page(browser, csms, Role.VIEWER, mobile=viewport == "phone")
    if viewport == "phone":  # the log-in's session, in a browser that has a touch screen
        context = await browser.new_context(
            base_url=base_url(csms),
            viewport=VIEWPORTS["phone"],
            has_touch=True,
            is_mobile=True,
            accept_downloads=True,
        )
        await context.add_cookies(await logged.context.cookies())
        await logged.context.close()
        page = await context.new_page()
    else:
        page = logged
        await page.set_viewport_size(VIEWPORTS["desktop"])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return page, errors


async def drawn(page: Any, url: str, charts: int) -> None:
    await page.goto(url)
    await page.wait_for_function(
        "n => document.querySelectorAll('.trend[data-state=\"drawn\"] .chart canvas').length === n", arg=charts
    )


async def no_overflow(page: Any) -> None:
    wide = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert wide[0] <= wide[1], f"the page scrolls sideways: {wide[0]} px wide in {wide[1]} px"


async def point_at(page: Any, measurand: str, seconds: float, touch: bool) -> None:
    """Hover (or touch) the chart of this measurand where its x axis is at `seconds`."""
    where = await page.evaluate(
        """([measurand, x]) => {
            const box = document.querySelector(`.chart[data-measurand="${measurand}"]`);
            const u = document.querySelector(".trend").charts.find((c) => c.root.parentElement === box);
            const rect = u.over.getBoundingClientRect();
            return [rect.left + u.valToPos(x, "x"), rect.top + rect.height / 2];
        }""",
        [measurand, seconds],
    )
    if touch:
        await page.touchscreen.tap(*where)
    else:
        await page.mouse.move(*where)


async def readouts(page: Any) -> dict[str, tuple[float, dict[str, float | None]]]:
    """Each chart's readout: the time it reads at and each line's value then (None: no value at that time)."""
    found: dict[str, list[Any]] = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll(".chart")].map((box) => {
            const out = box.querySelector(".readout");
            const values = [...out.querySelectorAll(".reading")].map((r) => [r.dataset.label, r.dataset.value]);
            return [box.dataset.measurand, [Number(out.dataset.x), values]];
        }))"""
    )
    return {
        measurand: (x, {label: float(v) if v else None for label, v in values})
        for measurand, (x, values) in found.items()
    }


async def charted(page: Any) -> list[tuple[str, str, str, str, float]]:
    """Every point the page's charts draw, as (x, line, measurand, unit, value shown), x as the CSV writes it."""
    points: list[list[Any]] = await page.evaluate(
        """() => document.querySelector(".trend").charts.flatMap((u) => {
            const box = u.root.parentElement;
            return u.series.slice(1).flatMap((s, i) => u.data[0].map((x, n) => [x, s.label, box.dataset.measurand,
                box.dataset.unit, u.data[i + 1][n]]).filter((p) => p[4] != null));
        })"""
    )
    relative = await page.get_attribute(".trend", "data-x-axis") == "since_start"
    return sorted(
        (since_start(x) if relative else datetime.fromtimestamp(x, UTC).isoformat(), line, m, unit, round(v, 6))
        for x, line, m, unit, v in points
    )


async def downloaded(page: Any, click: str) -> tuple[str, bytes]:
    async with page.expect_download() as started:
        await page.click(click)
    download = await started.value
    path = await download.path()
    return download.suggested_filename, await asyncio.to_thread(Path(path).read_bytes)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_one_cursor_reads_every_chart_and_the_page_exports_what_it_draws(
    console_csms: Csms, browser: Any, viewport: str
) -> None:
    base, a, b = await two_sessions(console_csms)
    page, errors = await trends_page(browser, console_csms, viewport)
    touch = viewport == "phone"

    # A station's power and energy: pointing at one chart reads both at the same moment (minute 22:30, between
    # samples: each line's last value then).
    await drawn(page, "/trends?station=CP-1&hours=2", charts=2)
    await no_overflow(page)
    moment = (base + timedelta(minutes=22, seconds=30)).timestamp()
    await point_at(page, POWER, moment, touch)
    read = await readouts(page)
    assert read[POWER][0] == read[ENERGY][0]  # one time on both charts
    assert abs(read[POWER][0] - moment) < 60
    assert read[POWER][1] == {"EVSE 1": 11.0, "EVSE 2": 3.0}  # kW
    assert read[ENERGY][1] == {"EVSE 1": pytest.approx(2500.2)}  # kWh
    shown = await page.locator(f'.chart[data-measurand="{ENERGY}"] .readout').inner_text()
    assert "2,500.2 kWh" in shown and "UTC" in shown
    await screenshot(page, f"trends-cursor-{viewport}")

    name, png = await downloaded(page, f'.chart[data-measurand="{POWER}"] button.png')
    assert name.endswith(".png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 260 and height >= 220 and len(png) > 1000

    # Two sessions compared: both start at 0 on the axis (h:mm since start), each its own colour, named.
    await drawn(page, f"/trends?tx={a}&tx={b}&m={POWER}", charts=1)
    await no_overflow(page)
    name_a, name_b = await session_name(console_csms, a), await session_name(console_csms, b)
    legend = await page.eval_on_selector_all(".chart .u-legend .u-series th", "ts => ts.map(t => t.textContent)")
    assert [label.strip() for label in legend] == [name_a, name_b]
    colours = await page.evaluate("document.querySelector('.trend').charts[0].series.slice(1).map(s => s._stroke)")
    assert len(set(colours)) == 2
    axis = await page.evaluate(
        """() => { const u = document.querySelector('.trend').charts[0];
                   return [u.scales.x.min, u.axes[0].label, u.axes[0]._values[0]]; }"""
    )
    assert axis[0] == 0 and axis[1] == "h:mm since start" and axis[2] == "0:00"  # the first tick
    await point_at(page, POWER, 12 * 60, touch)  # A: 7 kW from 0:05; B: 3 kW from 0:03, 4 kW from 0:13
    assert (await readouts(page))[POWER][1] == {name_a: 7.0, name_b: 3.0}
    await screenshot(page, f"trends-compared-{viewport}")

    name, csv_bytes = await downloaded(page, "#trend-csv")
    assert name == f"trend-sessions-{a}-{b}.csv"
    (header, *rows) = csv.reader(io.StringIO(csv_bytes.decode()))
    assert header == ["since start (h:mm:ss)", "series", "measurand", "unit", "value"]
    exported = sorted((at, line, m, unit, float(value)) for at, line, m, unit, value in rows)
    assert exported == await charted(page)
    assert (f"{name_a}", "0:05:00") in {(line, at) for at, line, *_ in exported}

    # The station's CSV: absolute times in UTC, in the units shown.
    await drawn(page, "/trends?station=CP-1&hours=2", charts=2)
    _, csv_bytes = await downloaded(page, "#trend-csv")
    (header, *rows) = csv.reader(io.StringIO(csv_bytes.decode()))
    assert header[0] == "time (UTC)"
    assert sorted((at, line, m, unit, float(value)) for at, line, m, unit, value in rows) == await charted(page)
    assert errors == []
    await page.context.close()
