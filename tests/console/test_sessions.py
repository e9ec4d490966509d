"""Browser sessions over plain HTTP: log-in, cookie flags, CSRF, roles, expiry, log-out (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from evscada.core.access.users import Role
from tests.conftest import start_csms
from tests.console.conftest import PASSWORD, add_users, console_settings, http
from tests.support import Csms


@pytest.fixture
async def site(csms: Csms) -> AsyncIterator[httpx.AsyncClient]:
    await add_users(csms)
    await csms.add_station("CP-1")
    async with http(csms) as client:
        yield client


async def log_in(client: httpx.AsyncClient, role: Role, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/login", data={"username": str(role), "password": password, "next": "/stations"})


async def csrf_of(client: httpx.AsyncClient) -> str:
    page = await client.get("/stations")
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert found, page.text[:300]
    return found.group(1)


async def test_a_page_asks_for_a_log_in_and_comes_back_after_it(site: httpx.AsyncClient) -> None:
    first = await site.get("/stations?state=faulted")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2Fstations%3Fstate%3Dfaulted"

    wrong = await log_in(site, Role.OPERATOR, "not the password")
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    unknown = await site.post("/login", data={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401 and "wrong username or password" in unknown.text  # no hint who exists

    answer = await site.post(
        "/login", data={"username": "operator", "password": PASSWORD, "next": "/stations?state=faulted"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/stations?state=faulted"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert (await site.get("/stations")).status_code == 200


async def test_log_in_never_redirects_off_site(site: httpx.AsyncClient) -> None:
    answer = await site.post("/login", data={"username": "viewer", "password": PASSWORD, "next": "//evil.example/"})
    assert answer.headers["location"] == "/overview"


async def test_a_log_in_form_posted_from_another_site_is_refused(site: httpx.AsyncClient) -> None:
    answer = await site.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert "evscada_session" not in answer.headers.get("set-cookie", "")


async def test_the_session_cookie_is_secure_behind_https(site: httpx.AsyncClient) -> None:
    answer = await site.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "secure" in answer.headers["set-cookie"].lower()


async def test_the_api_takes_the_cookie_but_unsafe_calls_need_the_csrf_token(site: httpx.AsyncClient) -> None:
    await log_in(site, Role.OPERATOR)
    assert (await site.get("/api/v1/stations")).status_code == 200
    url = "/api/v1/stations/CP-1/commands/reset"

    forged = await site.post(url, json={})
    assert forged.status_code == 403 and "X-CSRF-Token" in forged.json()["detail"]

    sent = await site.post(url, json={}, headers={"X-CSRF-Token": await csrf_of(site)})
    assert sent.status_code == 409  # accepted by the API; the station is just not connected
    assert sent.json()["detail"]["outcome"] == "offline"


async def test_a_viewer_is_refused_a_command_even_with_a_valid_csrf_token(site: httpx.AsyncClient, csms: Csms) -> None:
    await log_in(site, Role.VIEWER)
    page = await site.get("/stations/CP-1")
    assert 'id="controls"' not in page.text

    answer = await site.post(
        "/api/v1/stations/CP-1/commands/reset", json={}, headers={"X-CSRF-Token": await csrf_of(site)}
    )

    assert answer.status_code == 403
    assert await csms.rows("command_log") == []


async def test_access_forms_check_the_csrf_token_and_the_role(site: httpx.AsyncClient, csms: Csms) -> None:
    await log_in(site, Role.OPERATOR)
    token = await csrf_of(site)
    assert (await site.post("/access/token", data={"value": "CARD-9"})).status_code == 403  # no CSRF field
    saved = await site.post("/access/token", data={"value": "CARD-9", "csrf": token})
    assert saved.status_code == 303 and "saved" in saved.headers["location"]
    assert (await csms.rows("tokens", value="CARD-9"))[0]["status"] == "Accepted"
    blocked = await site.post("/access/token-status", data={"value": "CARD-9", "status": "Blocked", "csrf": token})
    assert blocked.status_code == 303
    assert (await csms.rows("tokens", value="CARD-9"))[0]["status"] == "Blocked"

    refused = await site.post("/access/site", data={"name": "Depot", "csrf": token})  # sites are for admins
    assert refused.status_code == 403
    assert await csms.rows("sites") == []
    bad = await site.post("/access/token", data={"value": "x" * 40, "csrf": token})
    assert bad.status_code == 303 and "failed=1" in bad.headers["location"]


async def test_log_out_ends_the_session_for_good(site: httpx.AsyncClient) -> None:
    await log_in(site, Role.ADMIN)
    cookie = site.cookies["evscada_session"]
    assert (await site.post("/logout")).status_code == 303
    site.cookies.set("evscada_session", cookie)  # a copy of the old cookie is worth nothing now
    assert (await site.get("/stations")).status_code == 303
    assert (await site.get("/api/v1/stations")).status_code == 401


async def test_a_session_expires(sqlite_url: str) -> None:
    async for csms in start_csms(console_settings(sqlite_url, session_hours=0.5 / 3600)):
        await add_users(csms)
        async with http(csms) as client:
            await log_in(client, Role.VIEWER)
            cookie = client.cookies["evscada_session"]
            assert (await client.get("/api/v1/stations")).status_code == 200
            await asyncio.sleep(0.7)
            client.cookies.set("evscada_session", cookie)  # the server, not the browser, must refuse it
            assert (await client.get("/api/v1/stations")).status_code == 401


async def test_an_unknown_station_or_transaction_is_a_404_page(site: httpx.AsyncClient) -> None:
    await log_in(site, Role.VIEWER)
    for path, text in (("/stations/NOPE", "NOPE"), ("/transactions/999", "999")):
        answer = await site.get(path)
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
        assert text in answer.text


async def test_an_admin_manages_users_from_the_access_page_and_it_is_audited(
    site: httpx.AsyncClient, csms: Csms
) -> None:
    await log_in(site, Role.ADMIN)
    token = await csrf_of(site)
    page = await site.get("/access")
    assert 'id="users"' in page.text and "operator" in page.text
    demoted = await site.post(
        "/access/user-change", data={"username": "operator", "role": "viewer", "enabled": "1", "csrf": token}
    )
    assert demoted.status_code == 303 and "failed" not in demoted.headers["location"]
    disabled = await site.post(
        "/access/user-change", data={"username": "viewer", "role": "viewer", "password": "a-new-secret", "csrf": token}
    )
    assert disabled.status_code == 303 and "disabled" in disabled.headers["location"]
    users = {row["username"]: row for row in await csms.rows("users")}
    assert users["operator"]["role"] == "viewer" and users["viewer"]["disabled"]
    last_admin = await site.post("/access/user-change", data={"username": "admin", "role": "viewer", "csrf": token})
    assert "failed=1" in last_admin.headers["location"]  # the last enabled admin stays one
    actions = [(row["actor"], row["action"]) for row in await csms.rows("audit_log", target_type="user")]
    assert ("admin", "user.role") in actions and ("admin", "user.disable") in actions
    assert ("admin", "user.password") in actions
    async with http(csms) as other:  # the disabled user cannot log in any more
        answer = await log_in(other, Role.VIEWER, "a-new-secret")
        assert answer.status_code != 303


async def test_an_operator_cannot_manage_users(site: httpx.AsyncClient, csms: Csms) -> None:
    await log_in(site, Role.OPERATOR)
    token = await csrf_of(site)
    assert 'id="users"' not in (await site.get("/access")).text
    refused = await site.post("/access/user-change", data={"username": "viewer", "role": "admin", "csrf": token})
    assert refused.status_code == 403
    assert {row["username"]: row["role"] for row in await csms.rows("users")}["viewer"] == "viewer"


CHANGES = {  # how an admin changes the operator: from the access page or the API
    "page-password": ("POST", "/access/user-change", {"username": "operator", "role": "operator", "enabled": "1"}),
    "page-role": ("POST", "/access/user-change", {"username": "operator", "role": "viewer", "enabled": "1"}),
    "page-disable": ("POST", "/access/user-change", {"username": "operator", "role": "operator"}),
    "api-password": ("PUT", "/api/v1/users/operator/password", {"password": "another secret"}),
    "api-role": ("PATCH", "/api/v1/users/operator", {"role": "viewer"}),
    "api-disable": ("PATCH", "/api/v1/users/operator", {"disabled": True}),
}


async def change_operator(admin: httpx.AsyncClient, how: str) -> None:
    method, url, fields = CHANGES[how]
    token = await csrf_of(admin)
    if url.startswith("/api/"):
        answer = await admin.request(method, url, json=fields, headers={"X-CSRF-Token": token})
        assert answer.status_code in (200, 204), answer.text
    else:
        extra = {"password": "another secret"} if how == "page-password" else {}
        answer = await admin.post(url, data={**fields, **extra, "csrf": token})
        assert answer.status_code == 303 and "failed" not in answer.headers["location"]


@pytest.mark.parametrize("how", list(CHANGES))
async def test_a_new_password_role_or_disabling_ends_the_users_sessions(
    site: httpx.AsyncClient, csms: Csms, how: str
) -> None:
    async with http(csms) as operator:
        await log_in(operator, Role.OPERATOR)
        assert (await operator.get("/stations")).status_code == 200
        await log_in(site, Role.ADMIN)

        await change_operator(site, how)

        page = await operator.get("/stations")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert (await operator.get("/api/v1/stations")).status_code == 401
        assert (await site.get("/stations")).status_code == 200  # the admin's own session goes on


async def test_saving_a_user_unchanged_keeps_their_sessions(site: httpx.AsyncClient, csms: Csms) -> None:
    async with http(csms) as operator:
        await log_in(operator, Role.OPERATOR)
        await log_in(site, Role.ADMIN)
        same = {"username": "operator", "role": "operator", "enabled": "1", "csrf": await csrf_of(site)}
        assert (await site.post("/access/user-change", data=same)).status_code == 303
        assert (await operator.get("/stations")).status_code == 200


@pytest.mark.parametrize("where", ["page", "api"])
async def test_an_admin_changing_their_own_password_stays_logged_in_there_only(
    site: httpx.AsyncClient, csms: Csms, where: str
) -> None:
    async with http(csms) as elsewhere:
        await log_in(elsewhere, Role.ADMIN)
        await log_in(site, Role.ADMIN)
        token = await csrf_of(site)
        if where == "page":
            fields = {"username": "admin", "role": "admin", "enabled": "1", "password": "another secret", "csrf": token}
            assert (await site.post("/access/user-change", data=fields)).status_code == 303
        else:
            answer = await site.put(
                "/api/v1/users/admin/password", json={"password": "another secret"}, headers={"X-CSRF-Token": token}
            )
            assert answer.status_code == 204

        assert (await site.get("/stations")).status_code == 200
        assert (await elsewhere.get("/stations")).status_code == 303


async def test_api_keys_outlive_a_new_password_and_follow_role_and_disabling(
    site: httpx.AsyncClient, csms: Csms
) -> None:
    key = await csms.app.core.access.create_api_key(username="operator", name="billing")
    auth = {"Authorization": f"Bearer {key}"}
    await log_in(site, Role.ADMIN)

    await change_operator(site, "api-password")
    assert (await site.get("/api/v1/stations", headers=auth)).status_code == 200  # machines are not logged out

    await change_operator(site, "api-role")
    reset = await site.post("/api/v1/stations/CP-1/commands/reset", json={}, headers=auth)
    assert reset.status_code == 403  # the key acts with the new role

    await change_operator(site, "api-disable")
    assert (await site.get("/api/v1/stations", headers=auth)).status_code == 401
