"""Every console page, opened as an admin in Chromium at desktop and phone sizes, loads clean.

Clean is what an operator would notice: no script error, no error in the browser's console, no request that failed
or was answered with an error, and nothing wider than the screen. One test walks the whole console, so a page added
without being listed here is caught by the last assertion: every link in the navigation must have been visited.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from evscada.core.access.users import Role
from evscada.core.control import commands as c
from evscada.core.model import StationId
from tests.console.conftest import logged_in_page
from tests.console.test_browser import remote_start
from tests.support import Csms, eventually

# Pages that take a query to show more than their empty form, each with one.
WITH_QUERIES = ("/trends?station=SIM-16&hours=1", "/stations?q=SIM&sort=-state", "/transactions?station=SIM-201")


@dataclass
class Trouble:
    """What went wrong on a page, in the browser's words."""

    problems: list[str] = field(default_factory=list)
    page_url: str = ""  # the page being visited, as path and query

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: self.problems.append(f"console error: {message.text}") if message.type == "error" else None,
        )
        page.on("requestfailed", self._failed)
        page.on("response", self._answered)

    def _failed(self, request: Any) -> None:
        # Leaving a page cuts its live event stream, and any refresh the previous page had under way: the browser
        # reports those as aborted requests, which is no fault of the page being visited.
        if "ERR_ABORTED" in (request.failure or ""):
            referer = urlsplit(request.headers.get("referer") or "")
            asked_by = referer.path + (f"?{referer.query}" if referer.query else "")
            if "/api/v1/events" in request.url or (referer.path and asked_by != self.page_url):
                return
        self.problems.append(f"request failed: {request.method} {request.url} ({request.failure})")

    def _answered(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"answered {response.status}: {response.request.method} {response.url}")


@contextlib.asynccontextmanager
async def watched(browser: Any, csms: Csms, *, mobile: bool) -> AsyncIterator[tuple[Any, Trouble]]:
    page = await logged_in_page(browser, csms, Role.ADMIN, mobile=mobile)
    trouble = Trouble()
    trouble.watch(page)
    try:
        yield page, trouble
    finally:
        await page.context.close()


async def visit(page: Any, trouble: Trouble, url: str) -> list[str]:
    """Open one page, let its scripts and live stream settle, and say what went wrong on it."""
    trouble.problems.clear()
    trouble.page_url = url
    answer = await page.goto(url)
    assert answer is not None and answer.status == 200, f"{url} answered {answer and answer.status}"
    await page.wait_for_load_state("networkidle") if "/api/docs" in url else await page.wait_for_timeout(700)
    width, screen = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    problems = list(trouble.problems)
    if width > screen:
        problems.append(f"{width} px wide on a {screen} px screen")
    return [f"{url}: {p}" for p in problems]


async def console_pages(page: Any, csms: Csms, tx_pk: int) -> list[str]:
    """The navigation's pages, then each page one click further down."""
    nav = await page.eval_on_selector_all("header nav a", "links => links.map(a => a.getAttribute('href'))")
    site = (await csms.rows("sites"))[0]["id"]
    below = [
        "/stations/SIM-16",
        "/stations/SIM-201",
        f"/sites/{site}",
        f"/transactions/{tx_pk}",
        "/api/docs",
        *WITH_QUERIES,
    ]
    return [*nav, *below]


async def test_every_page_loads_without_errors_failed_requests_or_overflow_on_desktop_and_phone(
    fleet: Csms, browser: Any
) -> None:
    csms = fleet
    tx = await remote_start(csms, "SIM-201")  # a session to show on the pages that list them
    outcome = await csms.app.core.commands.send(
        station_id=StationId("SIM-201"),
        command=c.RemoteStop(station_transaction_id=tx["station_transaction_id"]),
        actor="t",
    )
    assert outcome.status == "Accepted"
    assert await eventually(lambda: _ended(csms, tx["pk"]), timeout=10)
    await remote_start(csms, "SIM-16")  # and one running, for the live parts

    visited: set[str] = set()
    problems: list[str] = []
    for mobile in (False, True):
        async with watched(browser, csms, mobile=mobile) as (page, trouble):
            pages = await console_pages(page, csms, tx["pk"])
            assert len(pages) >= 12, pages
            for url in pages:
                problems += [f"{'phone' if mobile else 'desktop'} {p}" for p in await visit(page, trouble, url)]
                visited.add(url.split("?")[0])
    assert not problems, "\n".join(problems)
    for section in ("/overview", "/map", "/stations", "/sites", "/transactions", "/trends", "/alarms", "/access"):
        assert section in visited, f"{section} is not in the navigation"


async def _ended(csms: Csms, pk: int) -> bool:
    (row,) = await csms.rows("transactions", pk=pk)
    return bool(row["state"] == "ended")
