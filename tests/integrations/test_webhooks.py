"""Webhooks end to end: a real station charges, a real HTTP receiver gets signed events, whatever befalls it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from evscada.app import Application
from evscada.core.access.users import Role
from evscada.core.model import EvseRef, IdToken, StationId, TransactionEventKind, TransactionReport
from evscada.integrations.signing import verify
from evscada.settings import Settings
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.integrations.receiver import Receiver
from tests.support import Csms, eventually, station16

FAST = {
    "poll_interval": 0.05,
    "retry_initial": 0.1,
    "retry_max": 0.4,
    "retry_jitter": 0.2,
    "request_timeout": 2.0,
}


def fast_settings(database_url: str, **webhooks: Any) -> Settings:
    return test_settings(database_url, webhooks={**FAST, **webhooks})


@pytest.fixture
async def hooks(database_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(fast_settings(database_url)):
        yield running


async def admin_client(csms: Csms) -> httpx.AsyncClient:
    assert csms.app.http is not None
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1",
        timeout=10,
        headers=await key_for(csms, Role.ADMIN),
    )


async def subscribe(client: httpx.AsyncClient, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = await client.post("/webhooks", json={"url": url, "events": events or ["transaction.*"]})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def session(csms: Csms, n: int, station: str = "CP-W") -> None:
    """A whole session through the core, as the gateway reports it."""
    start = datetime(2026, 11, 25, 8, tzinfo=UTC) + timedelta(hours=n)
    started = await csms.app.core.transactions.report(
        station_id=StationId(station),
        report=TransactionReport(
            kind=TransactionEventKind.STARTED,
            timestamp=start,
            evse=EvseRef(1, 1),
            id_token=IdToken(f"CARD-{n}"),
            meter_value=1000.0 * n,
        ),
    )
    await csms.app.core.transactions.report(
        station_id=StationId(station),
        report=TransactionReport(
            kind=TransactionEventKind.ENDED,
            timestamp=start + timedelta(minutes=30),
            station_transaction_id=started.transaction.station_transaction_id,
            meter_value=1000.0 * n + 500,
            stop_reason="Local",
        ),
    )


def signed_by(secret: str, received: Any) -> bool:
    headers = received.headers
    return verify(secret, int(headers["x-evscada-timestamp"]), received.body, headers["x-evscada-signature"])


async def test_a_charging_session_reaches_the_receiver_signed(hooks: Csms) -> None:
    await hooks.add_station("CP-16")
    await hooks.add_token("CARD-1")
    async with Receiver() as receiver, await admin_client(hooks) as client:
        hook = await subscribe(client, receiver.url)
        async with station16(hooks, "CP-16") as cp:
            await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="CARD-1", meter_start=1000, timestamp="2026-11-25T08:00:00Z"
                )
            )
            await cp.call(
                call.StopTransaction(
                    meter_stop=6000,
                    timestamp="2026-11-25T08:30:00Z",
                    transaction_id=start.transaction_id,
                    reason="EVDisconnected",
                )
            )
        assert await eventually(lambda: _at_least(receiver, 2))
        started, ended = receiver.received
        assert all(signed_by(hook["secret"], r) for r in (started, ended))
        assert not signed_by("another-secret-of-16+", started)
        assert [r.headers["x-evscada-event-type"] for r in (started, ended)] == [
            "transaction.started",
            "transaction.ended",
        ]
        assert started.json["id"] == started.headers["x-evscada-event-id"] != ended.json["id"]
        assert started.json["type"] == "transaction.started"
        tx = ended.json["data"]["transaction"]
        assert tx["id"] == start.transaction_id and tx["station_id"] == "CP-16" and tx["id_token"] == "CARD-1"
        assert (tx["meter_start_wh"], tx["meter_stop_wh"], tx["energy_wh"]) == (1000, 6000, 5000)
        assert tx["stop_reason"] == "EVDisconnected" and tx["state"] == "ended"
        assert ended.json["occurred_at"].startswith("2026-11-25T08:30:00")

        log = (await client.get(f"/webhooks/{hook['id']}/deliveries")).json()
        assert [(d["event_type"], d["status"], d["attempts"]) for d in log] == [
            ("transaction.ended", "delivered", 1),
            ("transaction.started", "delivered", 1),
        ]
        assert log[0]["last_status_code"] == 200 and log[0]["delivered_at"] is not None


async def _at_least(receiver: Receiver, n: int) -> bool:
    return len(receiver.accepted) >= n


async def test_a_receiver_that_is_down_gets_every_event_once_when_it_is_back(hooks: Csms) -> None:
    receiver = Receiver()  # not started: connections are refused
    async with await admin_client(hooks) as client:
        hook = await subscribe(client, receiver.url)
        for n in range(3):
            await session(hooks, n)

        async def retried() -> bool:
            log = (await client.get(f"/webhooks/{hook['id']}/deliveries", params={"status": "pending"})).json()
            attempted = [d["attempts"] for d in log if d["attempts"]]
            return len(log) == 6 and bool(attempted) and min(attempted) >= 3

        assert await eventually(retried)
        head = (await client.get(f"/webhooks/{hook['id']}/deliveries", params={"status": "pending"})).json()[-1]
        assert head["last_status_code"] is None and "ConnectError" in head["last_error"]
        wait = datetime.fromisoformat(head["next_attempt_at"]) - datetime.fromisoformat(head["last_attempt_at"])
        assert timedelta(seconds=0.4 * 0.8) <= wait <= timedelta(seconds=0.4)  # doubled up to the cap, jittered

        receiver.status = 503  # up, but failing: still retried
        async with receiver:
            assert await eventually(lambda: _received_at_least(receiver, 2))
            receiver.status = 200
            assert await eventually(lambda: _at_least(receiver, 6))
            await _quiet(hooks)
        ids = [r.json["id"] for r in receiver.accepted]
        assert len(ids) == 6 == len(set(ids))  # none lost, none twice
        kinds = [(r.json["data"]["transaction"]["id_token"], r.json["type"]) for r in receiver.accepted]
        assert kinds == [(f"CARD-{n}", t) for n in range(3) for t in ("transaction.started", "transaction.ended")]
        assert all(signed_by(hook["secret"], r) for r in receiver.accepted)
        delivered = (await client.get(f"/webhooks/{hook['id']}/deliveries", params={"status": "delivered"})).json()
        assert len(delivered) == 6


async def _received_at_least(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) >= n


async def _quiet(csms: Csms, seconds: float = 0.6) -> None:
    """Long enough for several scans and retries: anything sent twice would arrive now."""
    import asyncio

    await asyncio.sleep(seconds)


async def test_pending_deliveries_and_undispatched_events_survive_a_restart(database_url: str) -> None:
    receiver = Receiver()
    settings = fast_settings(database_url)
    async for csms in start_csms(settings):
        async with await admin_client(csms) as client:
            hook = await subscribe(client, receiver.url)
        await session(csms, 1)
        assert await eventually(lambda: _attempted(csms, 2))  # noqa: B023 (awaited within this iteration)
    # Events recorded while no dispatcher runs wait in the outbox.
    async with Application(test_settings(database_url, webhooks={**FAST, "enabled": False})) as stopped:
        await session(Csms(stopped), 2)
        assert len(await Csms(stopped).rows("event_outbox")) == 2

    async with receiver, Application(settings) as app:
        restarted = Csms(app)
        assert await eventually(lambda: _at_least(receiver, 4))
        await _quiet(restarted)
        assert len({r.json["id"] for r in receiver.accepted}) == len(receiver.accepted) == 4
        assert [r.json["data"]["transaction"]["id_token"] for r in receiver.accepted] == ["CARD-1"] * 2 + ["CARD-2"] * 2
        assert all(signed_by(hook["secret"], r) for r in receiver.accepted)
        assert await restarted.rows("event_outbox") == []


async def _attempted(csms: Csms, n: int) -> bool:
    rows = sorted(await csms.rows("webhook_deliveries"), key=lambda row: row["id"])
    # Only the oldest is tried while it fails: the one behind it waits its turn, keeping the order.
    return len(rows) == n and rows[0]["attempts"] >= 2 and rows[1]["attempts"] == 0


def test_retry_waits_double_up_to_the_cap_and_jitter_only_shortens_them() -> None:
    from evscada.integrations.webhooks.settings import WebhookSettings
    from evscada.integrations.webhooks.worker import backoff

    s = WebhookSettings(retry_initial=10, retry_max=3600, retry_jitter=0.2)
    assert [backoff(n, s, 0.0) for n in (1, 2, 3, 9, 10, 500)] == [10, 20, 40, 2560, 3600, 3600]
    assert backoff(3, s, 1.0) == pytest.approx(32)
