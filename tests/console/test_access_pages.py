"""Access management pages over HTTP: paged lists, a vehicle typed rather than picked, API keys shown once, the
audit and notification logs, who is on call; and the API's paging parameters with their validation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from evscada.core.access.users import Role
from evscada.core.notifications.deliveries import Delivery, DeliveryStatus
from tests.conftest import start_csms, test_settings
from tests.console.conftest import add_users, logged_in
from tests.console.test_access_store import add_many
from tests.support import Csms

# Alice's turn started a day ago and lasts a week; Bob takes over after her.
NOTIFICATIONS: dict[str, Any] = {
    "people": [
        {"name": "alice", "phone": "+4917000000"},
        {"name": "bob", "email": "bob@example.org"},
    ],
    "on_call": {"rotation": ["alice", "bob"], "rotation_start": "2026-01-01T08:00:00", "handover_days": 7},
    "escalation": {"priorities": [1], "levels": [{"after_minutes": 15, "to": ["on_call:next"]}]},
}


def access_settings(sqlite_url: str) -> Any:
    return test_settings(sqlite_url, console={"tile_url": None}, notifications=NOTIFICATIONS)


@pytest.fixture
async def access_csms(sqlite_url: str) -> AsyncIterator[Csms]:
    """A CSMS with users of each role, an on-call rotation, 120 tokens and 30 vehicles (token i rides bus i)."""
    async for csms in start_csms(access_settings(sqlite_url)):
        await add_users(csms)
        await add_many(csms, tokens=120, vehicles=30)
        yield csms


def rows(page: httpx.Response, marker: str = "data-token=") -> int:
    return page.text.count(marker)


async def test_the_token_list_is_a_page_with_search_and_next_and_previous(access_csms: Csms) -> None:
    async with logged_in(access_csms, Role.VIEWER) as (client, _):
        first = await client.get("/access/tokens")
        assert first.status_code == 200 and rows(first) == 50
        assert "1–50 of 120 tokens" in first.text and 'href="/access/tokens?offset=50" rel="next"' in first.text
        last = await client.get("/access/tokens?offset=100")
        assert rows(last) == 20 and "101–120 of 120" in last.text and 'rel="next"' not in last.text
        assert 'href="/access/tokens?offset=50" rel="prev"' in last.text
        found = await client.get("/access/tokens", params={"q": "tag-00042"})
        assert rows(found) == 1 and 'data-token="TAG-00042"' in found.text
        by_vehicle = await client.get("/access/tokens", params={"q": "Bus 0007"})
        assert re.findall(r'data-token="([^"]+)"', by_vehicle.text) == ["TAG-00007"]
        nothing = await client.get("/access/tokens", params={"q": "NO-SUCH"})
        assert rows(nothing) == 0 and "no token or vehicle name contains" in nothing.text
        odd = await client.get("/access/tokens?limit=7&offset=-3")
        assert rows(odd) == 50 and "rows per page is one of 25, 50, 100, 200" in odd.text
        assert "offset is a row number from 0" in odd.text
        vehicles = await client.get("/access/vehicles", params={"q": "M-EV 1", "limit": "25"})
        assert "1–11 of 11 vehicles" in vehicles.text  # M-EV 1, 10 ... 19
        suggestions = (await client.get("/data/vehicles", params={"q": "bus 002"})).json()
        assert [v["name"] for v in suggestions] == [f"Bus {i:04d}" for i in range(20, 30)]
        assert len((await client.get("/data/vehicles")).json()) == 20  # never the whole fleet


async def test_a_token_is_linked_to_the_vehicle_whose_name_or_fleet_number_is_typed(access_csms: Csms) -> None:
    csms = access_csms
    await csms.app.core.vehicles.create(name="Spare", fleet_number="12", fleet="airport")
    async with logged_in(csms, Role.OPERATOR) as (client, csrf):
        back = "/access/tokens?q=TAG-00100"
        form = {"csrf": csrf, "value": "TAG-00100", "back": back}
        linked = await client.post("/access/token-vehicle", data={**form, "vehicle": "25"})
        assert linked.status_code == 303 and linked.headers["location"].startswith(back + "&message=")
        page = await client.get(linked.headers["location"])
        assert "token TAG-00100 linked to Bus 0025" in page.text and 'value="Bus 0025"' in page.text
        bus = (await csms.rows("vehicles", name="Bus 0025"))[0]
        assert (await csms.rows("tokens", value="TAG-00100"))[0]["vehicle_id"] == bus["id"]

        ambiguous = await client.post("/access/token-vehicle", data={**form, "vehicle": "12"})
        assert "failed=1" in ambiguous.headers["location"]
        assert "fits 2 vehicles" in (await client.get(ambiguous.headers["location"])).text
        unknown = await client.post("/access/token-vehicle", data={**form, "vehicle": "Tram 4"})
        assert "no vehicle named" in (await client.get(unknown.headers["location"])).text
        assert (await csms.rows("tokens", value="TAG-00100"))[0]["vehicle_id"] == bus["id"]  # kept through both

        unlinked = await client.post("/access/token-vehicle", data={**form, "vehicle": ""})
        assert "no vehicle now" in (await client.get(unlinked.headers["location"])).text
        assert (await csms.rows("tokens", value="TAG-00100"))[0]["vehicle_id"] is None
        made = await client.post("/access/token", data={"csrf": csrf, "value": "NEW-1", "vehicle": "Bus 0003"})
        assert made.headers["location"].startswith("/access/tokens?message=")
        assert (await csms.rows("tokens", value="NEW-1"))[0]["vehicle_id"] is not None
        foreign = await client.post(
            "/access/token-status", data={**form, "status": "Blocked", "back": "//evil.example"}
        )
        assert foreign.headers["location"].startswith("/access/tokens?message=")  # only access pages go back


async def test_an_api_key_is_shown_once_and_revoked_in_the_console(access_csms: Csms) -> None:
    async with logged_in(access_csms, Role.ADMIN) as (client, csrf):
        made = await client.post("/access/keys/new", data={"csrf": csrf, "username": "operator", "name": "billing"})
        assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
        key = re.search(r'<code id="new-key" class="key">([^<]+)</code>', made.text)
        assert key and "cannot be shown again" in made.text
        listed = await client.get("/access/keys?user=operator")
        assert key.group(1) not in listed.text and "billing" in listed.text
        key_id = re.search(r'name="key_id" value="(\d+)"', listed.text)
        assert key_id
        async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as api:
            bearer = {"Authorization": f"Bearer {key.group(1)}"}
            assert (await api.get("/api/v1/tokens?limit=1", headers=bearer)).status_code == 200
            revoked = await client.post(
                "/access/keys/revoke", data={"csrf": csrf, "username": "operator", "key_id": key_id.group(1)}
            )
            assert "revoked" in (await client.get(revoked.headers["location"])).text
            assert (await api.get("/api/v1/tokens?limit=1", headers=bearer)).status_code == 401
        nameless = await client.post("/access/keys/new", data={"csrf": csrf, "username": "operator", "name": " "})
        assert "name the key" in (await client.get(nameless.headers["location"])).text
        nobody = await client.post("/access/keys/new", data={"csrf": csrf, "username": "zed", "name": "x"})
        assert "failed=1" in nobody.headers["location"]


async def test_the_audit_log_shows_what_was_just_done_newest_first_with_filters(access_csms: Csms) -> None:
    async with logged_in(access_csms, Role.ADMIN) as (client, csrf):
        await client.post("/access/token-status", data={"csrf": csrf, "value": "TAG-00009", "status": "Blocked"})
        page = await client.get("/access/audit", params={"q": "TAG-00009"})
        first_row = page.text.split("<tbody><tr>", 1)[1].split("</tr>", 1)[0]
        assert "admin" in first_row and "token.block" in first_row and "TAG-00009" in first_row
        other = await client.get("/access/audit", params={"actor": "viewer"})
        assert "<td>token.block</td>" not in other.text and "no entries match the filter" in other.text
    for role in (Role.VIEWER, Role.OPERATOR):
        async with logged_in(access_csms, role) as (client, _):
            assert (await client.get("/access/audit")).status_code == 403  # admins only, as the API's /audit


async def test_the_notification_log_and_who_is_on_call_are_shown(access_csms: Csms) -> None:
    csms = access_csms
    now = datetime.now(UTC)
    refused = Delivery(
        id=0,
        recipient="bob",
        channel="email",
        address="bob@example.org",
        kind="test",
        subject="probe",
        body="b",
        created_at=now,
        next_attempt_at=now,
        status=DeliveryStatus.FAILED,
        attempts=1,
        last_error="550 no such user",
    )
    async with csms.app.store.unit() as uow:
        await uow.deliveries.add(delivery=refused)
    on_call = csms.app.notifier.on_call()
    assert on_call.person in ("alice", "bob") and on_call.changes_at is not None
    async with logged_in(csms, Role.OPERATOR) as (client, _):
        page = await client.get("/access/notifications")
        assert f'<b id="on-call-person">{on_call.person}</b> is on call' in page.text
        assert f"The duty passes to <b>{on_call.changes_to}</b>" in page.text
        assert "after 15 min to on_call:next" in page.text
        assert "bob@example.org" in page.text and "<td>test</td>" in page.text and "550 no such user" in page.text
        assert "no messages match" in (await client.get("/access/notifications?recipient=alice")).text
        bad = await client.get("/access/notifications?status=lost")
        assert "status is one of pending, held, folded, sent, failed" in bad.text
        api = (await client.get("/api/v1/notifications/on-call")).json()
        assert api["person"] == on_call.person and api["escalation"] == [{"after_minutes": 15, "to": ["on_call:next"]}]
    async with logged_in(csms, Role.VIEWER) as (client, _):
        assert (await client.get("/access/notifications")).status_code == 403


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/api/v1/tokens?limit=0", "greater than or equal to 1"),
        ("/api/v1/tokens?limit=5000", "less than or equal to 1000"),
        ("/api/v1/tokens?q=", "at least 1 character"),
        ("/api/v1/vehicles?limit=abc", "valid integer"),
        ("/api/v1/vehicles?offset=-1", "greater than or equal to 0"),
        ("/api/v1/audit?limit=1001", "less than or equal to 1000"),
        ("/api/v1/notifications?offset=-5", "greater than or equal to 0"),
    ],
)
async def test_the_api_refuses_a_bad_page_with_a_clear_422(access_csms: Csms, path: str, problem: str) -> None:
    async with logged_in(access_csms, Role.ADMIN) as (client, _):
        answer = await client.get(path)
        assert answer.status_code == 422 and problem in answer.text


async def test_the_api_lists_search_and_page_with_a_total(access_csms: Csms) -> None:
    async with logged_in(access_csms, Role.VIEWER) as (client, _):
        tokens = await client.get("/api/v1/tokens", params={"q": "TAG-0004", "limit": 5, "offset": 5})
        assert [t["value"] for t in tokens.json()] == [f"TAG-0004{i}" for i in range(5, 10)]
        assert tokens.headers["x-total-count"] == "10"
        vehicles = await client.get("/api/v1/vehicles", params={"q": "bus 001", "limit": 3})
        assert [v["name"] for v in vehicles.json()] == ["Bus 0010", "Bus 0011", "Bus 0012"]
        assert vehicles.headers["x-total-count"] == "10"
        assert len((await client.get("/api/v1/vehicles")).json()) == 30  # unchanged without parameters
