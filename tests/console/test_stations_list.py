"""The stations list pages on the server: thousands of stations arrive a page at a time, filters and sort kept."""

from __future__ import annotations

import re

from evscada.core.access.users import Role
from tests.console.conftest import logged_in
from tests.support import Csms


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-station="([^"]+)"', html)


async def test_a_long_list_is_paged_with_its_filters_and_sort_kept(console_csms: Csms) -> None:
    csms = console_csms
    for n in range(120):
        await csms.add_station(f"CP-{n:03}")
    async with logged_in(csms, Role.VIEWER) as (client, _):
        first = await client.get("/stations")
        assert _rows(first.text) == [f"CP-{n:03}" for n in range(50)]
        assert "1–50 of 120 stations" in first.text
        assert 'href="/stations?offset=50" rel="next"' in first.text

        last = await client.get("/stations?sort=-id&limit=100&offset=100")
        assert _rows(last.text) == [f"CP-{n:03}" for n in range(19, -1, -1)]
        assert "101–120 of 120 stations" in last.text and 'rel="next"' not in last.text
        assert 'href="/stations?sort=-id&amp;limit=100" rel="first"' in last.text

        found = await client.get("/stations?q=CP-11")
        assert _rows(found.text) == [f"CP-11{n}" for n in range(10)] and "1–10 of 10 stations" in found.text

        live = await client.get("/stations?offset=50&fragment=rows")  # what the page swaps in as stations change
        assert _rows(live.text) == [f"CP-{n:03}" for n in range(50, 100)]

        odd = await client.get("/stations?limit=7&offset=-3")
        assert odd.status_code == 200 and len(_rows(odd.text)) == 50
        assert "rows per page is one of 25, 50, 100, 200" in odd.text and "offset is a row number from 0" in odd.text
