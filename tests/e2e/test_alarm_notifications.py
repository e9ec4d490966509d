"""Faults of simulated stations, through the alarm engine, to the people on call: the whole chain, nothing faked.

Simulated stations (real OCPP clients) fail; the CSMS raises alarms; a real SMTP server and a real HTTP receiver
started here get the notifications; an operator acknowledges through the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from evscada.core.access.users import Role
from evscada.core.model import StationId
from evscada.integrations import signing
from evscada.simulator.faults import FaultKind
from evscada.simulator.fleet import Fleet
from evscada.simulator.station import StationSpec, cancel_quietly
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.outside_parties import HttpReceiver, SmtpSink
from tests.simulator.helpers import QUIET
from tests.support import Csms, eventually

SECRET = "e2e-hook-secret"


def notifications(smtp: SmtpSink, receiver: HttpReceiver, **overrides: Any) -> dict[str, Any]:
    """Alice is on duty this week and Bob is next; the control room's system takes signed webhooks."""
    week_start = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    return {
        "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from_address": "scada@example.org"},
        "webhook_secret": SECRET,
        "people": [
            {"name": "alice", "email": "alice@example.org"},
            {"name": "bob", "email": "bob@example.org"},
            {"name": "control-room", "webhook": receiver.url("alarms")},
        ],
        "on_call": {"rotation": ["alice", "bob"], "rotation_start": week_start.isoformat()},
        "routes": [{"priorities": [1, 2], "to": ["on_call", "control-room"]}],
        "group_window_seconds": 0.5,
        "retry_initial_seconds": 0.2,
        "retry_max_seconds": 0.5,
        **overrides,
    }


FAST_ALARMS = {"check_interval_seconds": 0.1, "offline_after_seconds": 1.0}


@contextlib.asynccontextmanager
async def running(database_url: str, **settings: Any) -> AsyncIterator[Csms]:
    started = start_csms(test_settings(database_url, alarms=FAST_ALARMS, **settings))
    csms = await anext(started)
    try:
        yield csms
    finally:
        await started.aclose()


@contextlib.asynccontextmanager
async def fleet_of(csms: Csms, specs: list[StationSpec]) -> AsyncIterator[Fleet]:
    fleet = Fleet(csms.url("x").rsplit("/", 1)[0], specs, QUIET)
    task = asyncio.create_task(fleet.run(ramp_per_second=200))
    try:
        ids = [spec.station_id for spec in specs]

        async def all_available() -> bool:
            rows = await csms.rows("connectors")
            ready = {r["station_id"] for r in rows if r["status"] == "Available"}
            return ready.issuperset(ids)

        assert await eventually(all_available, timeout=30), "the simulated stations never came up"
        yield fleet
    finally:
        await cancel_quietly(task)


async def alarms(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/alarms", params=params, headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_ground_fault_reaches_the_person_on_call_until_acknowledged_and_clears_with_the_fault(
    database_url: str, smtp: SmtpSink, receiver: HttpReceiver, version: str
) -> None:
    escalation = {"levels": [{"after_minutes": 0.03, "to": ["on_call:next"]}]}  # 1.8 s without acknowledgement
    async with (
        running(database_url, notifications=notifications(smtp, receiver, escalation=escalation)) as csms,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1", timeout=10) as api,  # type: ignore[union-attr]
    ):
        await csms.add_station("SIM-GF")
        operator = await key_for(csms, Role.OPERATOR)
        async with fleet_of(csms, [StationSpec(station_id="SIM-GF", version=version, connectors=2)]) as fleet:
            assert fleet.station("SIM-GF").inject(FaultKind.GROUND_FAILURE, connector=1)

            async def raised() -> list[dict[str, Any]]:
                found = await alarms(api, operator, state="active", station_id="SIM-GF", priority=1)
                return found if len(found) == (1 if version == "1.6" else 2) else []

            # 1.6 names the fault in its StatusNotification, 2.0.1 in a NotifyEvent and then with the Faulted status
            # of the connector: two alarms, one group (the first is the cause, the other its consequence).
            (alarm,) = [a for a in await eventually(raised, timeout=10) if a["cause_id"] is None]
            assert alarm["evse_id"] == 1 and "GroundFailure" in alarm["message"]

            # Alice, on duty, gets the e-mail; the control room a webhook it can verify.
            assert await eventually(lambda: _now(smtp.to("alice@example.org")), timeout=10)
            (mail,) = smtp.to("alice@example.org")
            assert mail["Subject"].strip().startswith("[P1]") and "SIM-GF" in mail.get_content()
            (hook,) = await eventually(lambda: _now(receiver.at("alarms")), timeout=10)
            timestamp = int(hook.headers[signing.TIMESTAMP_HEADER.lower()])
            assert signing.verify(SECRET, timestamp, hook.body, hook.headers[signing.SIGNATURE_HEADER.lower()])
            assert alarm["id"] in [a["id"] for a in hook.json()["alarms"]]

            # Alice acknowledges at once: nobody else is woken.
            response = await api.post(
                f"/alarms/{alarm['id']}/acknowledge",
                json={"comment": "on my way", "consequences": True},
                headers=operator,
            )
            assert response.status_code == 200, response.text
            assert response.json()["acknowledged_by"] == "operator-user"
            await asyncio.sleep(2.5)  # past the escalation delay
            assert smtp.to("bob@example.org") == []

            # The fault is repaired: the alarm clears by itself and stays in the history.
            assert fleet.clear(FaultKind.GROUND_FAILURE) == ["SIM-GF"]

            async def cleared() -> bool:
                response = await api.get(f"/alarms/{alarm['id']}", headers=operator)
                return bool(response.json()["state"] == "cleared")

            assert await eventually(cleared, timeout=10)
            history = await alarms(api, operator, station_id="SIM-GF", priority=1)
            assert [a["id"] for a in history if a["cause_id"] is None] == [alarm["id"]]


async def test_an_unacknowledged_ground_fault_escalates_to_the_next_person(
    sqlite_url: str, smtp: SmtpSink, receiver: HttpReceiver
) -> None:
    escalation = {"levels": [{"after_minutes": 0.02, "to": ["on_call:next"]}]}
    async with running(sqlite_url, notifications=notifications(smtp, receiver, escalation=escalation)) as csms:
        await csms.add_station("SIM-ESC")
        async with fleet_of(csms, [StationSpec(station_id="SIM-ESC", version="1.6", connectors=1)]) as fleet:
            fleet.station("SIM-ESC").inject(FaultKind.GROUND_FAILURE, connector=1)
            assert await eventually(lambda: _now(smtp.to("alice@example.org")), timeout=10)
            assert await eventually(lambda: _now(smtp.to("bob@example.org")), timeout=10)


async def test_a_fault_escalates_once_as_a_group_so_acknowledging_its_cause_wakes_nobody_else(
    sqlite_url: str, smtp: SmtpSink, receiver: HttpReceiver
) -> None:
    escalation = {"levels": [{"after_minutes": 0.03, "to": ["on_call:next"]}]}  # 1.8 s without acknowledgement
    async with (
        running(sqlite_url, notifications=notifications(smtp, receiver, escalation=escalation)) as csms,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1", timeout=10) as api,  # type: ignore[union-attr]
    ):
        await csms.add_station("SIM-GRP")
        operator = await key_for(csms, Role.OPERATOR)
        async with fleet_of(csms, [StationSpec(station_id="SIM-GRP", version="2.0.1", connectors=1)]) as fleet:
            assert fleet.station("SIM-GRP").inject(FaultKind.GROUND_FAILURE, connector=1)

            async def grouped() -> list[dict[str, Any]]:
                found = await alarms(api, operator, state="active", station_id="SIM-GRP", priority=1)
                return found if len(found) == 2 else []

            found = await eventually(grouped, timeout=10)
            (cause,) = [a for a in found if a["cause_id"] is None]
            assert [a["cause_id"] for a in found if a["id"] != cause["id"]] == [cause["id"]]
            assert await eventually(lambda: _now(smtp.to("alice@example.org")), timeout=10)
            # Only the cause is acknowledged: its consequence stays unacknowledged, but the fault has been seen.
            response = await api.post(
                f"/alarms/{cause['id']}/acknowledge", json={"consequences": False}, headers=operator
            )
            assert response.status_code == 200, response.text
            await asyncio.sleep(2.5)  # past the escalation delay
            assert smtp.to("bob@example.org") == []


async def test_thirty_stations_dropped_at_once_raise_offline_alarms_in_one_message_and_clear_on_reconnect(
    sqlite_url: str, smtp: SmtpSink, receiver: HttpReceiver
) -> None:
    async with (
        running(sqlite_url, notifications=notifications(smtp, receiver, group_window_seconds=2.0)) as csms,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1", timeout=10) as api,  # type: ignore[union-attr]
    ):
        depot = await csms.app.core.sites.create(name="Depot North", latitude=53.55, longitude=10.0)
        specs = []
        for n in range(30):
            sid = f"BUS-{n:02}"
            await csms.add_station(sid)
            await csms.app.core.sites.place_station(
                station_id=StationId(sid), name=None, site_id=depot.id, latitude=None, longitude=None
            )
            specs.append(StationSpec(station_id=sid, version="2.0.1" if n % 3 == 0 else "1.6", connectors=1))
        viewer = await key_for(csms, Role.VIEWER)
        async with fleet_of(csms, specs) as fleet:
            # The depot's uplink fails: every station loses its connection without a goodbye, for 4 s.
            assert len(fleet.inject(FaultKind.CONNECTION_DROP, share=1.0, duration=4.0)) == 30

            async def offline() -> list[dict[str, Any]]:
                found = await alarms(api, viewer, state="active", source="offline", limit=100)
                return found if len(found) == 30 else []

            assert await eventually(offline, timeout=10)
            assert await eventually(lambda: _now(smtp.to("alice@example.org")), timeout=10)
            await asyncio.sleep(2.5)  # a second message would have come by now
            (mail,) = smtp.to("alice@example.org")
            assert "30 stations offline" in mail["Subject"] and "Depot North" in mail["Subject"]
            assert all(f"BUS-{n:02}" in mail.get_content() for n in range(30))
            (hook,) = receiver.at("alarms")
            assert len(hook.json()["alarms"]) == 30

            # The link comes back: each station reconnects and its alarm clears.
            async def all_cleared() -> bool:
                return await alarms(api, viewer, state="active", source="offline") == []

            assert await eventually(all_cleared, timeout=20)


async def _now(value: Any) -> Any:
    return value
