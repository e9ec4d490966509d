"""The webhook API: admins register receivers, test them, read and replay the delivery log; others may not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.conftest import start_csms
from tests.integrations.receiver import Receiver
from tests.integrations.test_webhooks import _at_least, admin_client, fast_settings, session, signed_by, subscribe
from tests.support import Csms, eventually


@pytest.fixture
async def hooks(database_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(fast_settings(database_url, max_age=0.5)):
        yield running


@pytest.fixture
async def admin(hooks: Csms) -> AsyncIterator[httpx.AsyncClient]:
    async with await admin_client(hooks) as client:
        yield client


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://billing.example/hook", "events": ["transaction.started"]}, "url"),
        ({"url": "billing.example/hook", "events": ["transaction.started"]}, "url"),
        ({"url": "https://user:pw@billing.example/hook", "events": ["transaction.started"]}, "url"),
        ({"url": "https://billing.example/my hook", "events": ["transaction.started"]}, "url"),
        ({"url": "https://billing.example:99999/hook", "events": ["transaction.started"]}, "url"),
        ({"url": "https://billing.example/hook", "events": []}, "events"),
        ({"url": "https://billing.example/hook", "events": ["transaction.paid"]}, "events"),
        ({"url": "https://billing.example/hook", "events": ["station.*"]}, "events"),
        ({"url": "https://billing.example/hook", "events": ["*"], "secret": "short"}, "secret"),
        ({"url": "https://billing.example/hook", "events": ["*"], "colour": "red"}, "colour"),
        ({"events": ["*"]}, "url"),
    ],
)
async def test_bad_subscriptions_get_422_naming_the_field(
    admin: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await admin.post("/webhooks", json=body)
    assert response.status_code == 422
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}


async def test_the_secret_is_shown_once_and_subscriptions_can_be_changed(hooks: Csms, admin: httpx.AsyncClient) -> None:
    created = await subscribe(admin, "https://billing.example/hook", ["transaction.ended"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    chosen = (
        await admin.post(
            "/webhooks",
            json={"url": "http://10.0.0.5:8000/x", "events": ["*"], "secret": "s" * 20, "description": "ERP"},
        )
    ).json()
    assert chosen["secret"] == "s" * 20 and chosen["description"] == "ERP" and chosen["active"] is True
    listed = (await admin.get("/webhooks")).json()
    assert [h["id"] for h in listed] == [created["id"], chosen["id"]]
    assert all("secret" not in h for h in listed)
    assert "secret" not in (await admin.get(f"/webhooks/{created['id']}")).json()

    patched = await admin.patch(
        f"/webhooks/{created['id']}", json={"active": False, "events": ["transaction.*"], "secret": "n" * 16}
    )
    assert patched.status_code == 200 and "secret" not in patched.json()
    assert (patched.json()["active"], patched.json()["events"]) == (False, ["transaction.*"])
    (row,) = await hooks.rows("webhook_subscriptions", id=created["id"])
    assert row["secret"] == "n" * 16
    assert (await admin.patch(f"/webhooks/{created['id']}", json={"url": "gopher://x"})).status_code == 422
    assert (await admin.patch("/webhooks/999", json={"active": True})).status_code == 404

    assert (await admin.delete(f"/webhooks/{created['id']}")).status_code == 204
    assert (await admin.get(f"/webhooks/{created['id']}")).status_code == 404
    assert (await admin.delete(f"/webhooks/{created['id']}")).status_code == 404
    assert (await admin.get("/webhooks/999/deliveries")).status_code == 404
    assert (await admin.post("/webhooks/999/ping")).status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_only_admins_manage_webhooks(hooks: Csms, admin: httpx.AsyncClient, role: Role) -> None:
    hook = await subscribe(admin, "https://billing.example/hook")
    headers = await key_for(hooks, role)
    calls = [
        admin.get("/webhooks", headers=headers),
        admin.get(f"/webhooks/{hook['id']}", headers=headers),
        admin.post("/webhooks", json={"url": "https://x.example/", "events": ["*"]}, headers=headers),
        admin.patch(f"/webhooks/{hook['id']}", json={"active": False}, headers=headers),
        admin.delete(f"/webhooks/{hook['id']}", headers=headers),
        admin.get(f"/webhooks/{hook['id']}/deliveries", headers=headers),
        admin.post(f"/webhooks/{hook['id']}/ping", headers=headers),
    ]
    assert [(await c).status_code for c in calls] == [403] * len(calls)
    assert (await admin.get("/webhooks", headers={})).status_code == 200


async def test_ping_redeliver_and_the_delivery_log(hooks: Csms, admin: httpx.AsyncClient) -> None:
    async with Receiver() as receiver:
        hook = await subscribe(admin, receiver.url)
        ping = await admin.post(f"/webhooks/{hook['id']}/ping")
        assert ping.status_code == 202 and ping.json()["status"] == "pending"
        assert await eventually(lambda: _at_least(receiver, 1))
        (got,) = receiver.accepted
        assert got.json["type"] == "ping" and signed_by(hook["secret"], got)

        await session(hooks, 1)
        assert await eventually(lambda: _at_least(receiver, 3))
        log = (await admin.get(f"/webhooks/{hook['id']}/deliveries")).json()
        assert [d["event_type"] for d in log] == ["transaction.ended", "transaction.started", "ping"]
        page = (await admin.get(f"/webhooks/{hook['id']}/deliveries", params={"limit": 1, "offset": 1})).json()
        assert [d["event_type"] for d in page] == ["transaction.started"]
        assert (await admin.get(f"/webhooks/{hook['id']}/deliveries", params={"status": "failed"})).json() == []
        bad = await admin.get(f"/webhooks/{hook['id']}/deliveries", params={"status": "lost"})
        assert bad.status_code == 422

        again = await admin.post(f"/webhooks/{hook['id']}/deliveries/{log[0]['id']}/redeliver")
        assert again.status_code == 202 and again.json()["event_id"] == log[0]["event_id"]
        assert again.json()["id"] != log[0]["id"]
        assert await eventually(lambda: _at_least(receiver, 4))
        assert receiver.accepted[-1].headers["x-evscada-event-id"] == log[0]["event_id"]  # the receiver dedupes
        one = (await admin.get(f"/webhooks/{hook['id']}/deliveries/{again.json()['id']}")).json()
        assert one["status"] == "delivered"
        assert (await admin.post(f"/webhooks/{hook['id']}/deliveries/99999/redeliver")).status_code == 404


async def test_a_delivery_older_than_max_age_fails_and_can_be_replayed(hooks: Csms, admin: httpx.AsyncClient) -> None:
    receiver = Receiver()
    hook = await subscribe(admin, receiver.url, ["transaction.started"])
    await session(hooks, 1)

    async def failed() -> list[dict[str, object]]:
        return (await admin.get(f"/webhooks/{hook['id']}/deliveries", params={"status": "failed"})).json()

    (gone,) = await eventually(failed)
    assert gone["attempts"] >= 2 and gone["next_attempt_at"] is None
    async with receiver:
        await asyncio.sleep(0.3)
        assert receiver.received == []  # failed for good: not retried any more
        await admin.post(f"/webhooks/{hook['id']}/deliveries/{gone['id']}/redeliver")
        assert await eventually(lambda: _at_least(receiver, 1))
    assert receiver.accepted[0].json["id"] == gone["event_id"]


async def test_a_slow_receiver_does_not_hold_up_another(hooks: Csms, admin: httpx.AsyncClient) -> None:
    async with Receiver(delay=1.5) as slow, Receiver() as fast:
        await subscribe(admin, slow.url)
        await subscribe(admin, fast.url)
        await session(hooks, 1)
        await session(hooks, 2)
        assert await eventually(lambda: _at_least(fast, 4), timeout=1.0)
        assert len(slow.received) <= 1
        assert await eventually(lambda: _at_least(slow, 4), timeout=10)


async def test_a_paused_subscription_gets_nothing_until_it_is_active_again(
    hooks: Csms, admin: httpx.AsyncClient
) -> None:
    async with Receiver() as receiver:
        hook = await subscribe(admin, receiver.url)
        await admin.patch(f"/webhooks/{hook['id']}", json={"active": False})
        await session(hooks, 1)  # no delivery for an inactive subscription
        await asyncio.sleep(0.3)
        assert receiver.received == [] and await hooks.rows("webhook_deliveries") == []
        await admin.patch(f"/webhooks/{hook['id']}", json={"active": True})
        await session(hooks, 2)
        assert await eventually(lambda: _at_least(receiver, 2))
        assert {r.json["data"]["transaction"]["id_token"] for r in receiver.accepted} == {"CARD-2"}
