"""The OCPP proxy against a second evscada as the upstream CSMS: a station connected to the first instance shows up
in the second one's database, upstream's allowed commands reach it, disallowed ones are refused, an upstream
outage is bridged by the durable buffer, and in upstream_answers mode the station gets upstream's answer. A killed
evscada loses no transaction message, 1.6 transaction ids survive a restart, a configuration change applies at once,
health shows the links, passwords are sealed at rest, and a wss upstream is trusted through its CA file."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import insert
from websockets.asyncio.client import ClientConnection

from evscada.app import Application
from evscada.core.access.users import Role
from evscada.core.control import commands as c
from evscada.core.model import StationId
from evscada.core.upstream.service import Scope, UpstreamCsms
from evscada.security.certificates import make_dev_certificate
from evscada.settings import Settings
from evscada.simulator.fleet import Fleet
from evscada.simulator.links.dial import dial_ocpp
from evscada.simulator.station import StationSpec, cancel_quietly
from evscada.storage import tables
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.simulator.helpers import QUIET, SID, ready, remote_start, running_transaction
from tests.support import BOOT, Csms, eventually, exchange, open_socket

STATION = "CP-PX"
T0 = "2026-12-06T10:00:00Z"


KEYS = tempfile.mkdtemp(prefix="evscada-upstream-keys-")  # never the working copy's var/
atexit.register(shutil.rmtree, KEYS, True)


def settings_for(url: str, **overrides: Any) -> Settings:
    return test_settings(url, **{"upstream_key_file": str(Path(KEYS) / "upstream.key"), **overrides})


@contextlib.asynccontextmanager
async def running(url: str, **overrides: Any) -> AsyncIterator[Csms]:
    async with contextlib.asynccontextmanager(start_csms)(settings_for(url, **overrides)) as csms:
        yield csms


@contextlib.asynccontextmanager
async def restarted(url: str, **overrides: Any) -> AsyncIterator[Csms]:
    """evscada started again on a database that already has data (start_csms would empty a PostgreSQL one)."""
    app = Application(settings_for(url, **overrides))
    await app.database.migrate()
    async with app:
        yield Csms(app)


@contextlib.asynccontextmanager
async def api_of(csms: Csms, role: Role = Role.OPERATOR) -> AsyncIterator[httpx.AsyncClient]:
    assert csms.app.http is not None
    keys: dict[Role, dict[str, str]] = csms.__dict__.setdefault("api_keys", {})  # one user per role and instance
    headers = keys[role] = keys.get(role) or await key_for(csms, role)
    base = f"http://127.0.0.1:{csms.app.http.port}/api/v1"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=15) as client:
        yield client


def ocpp_base(csms: Csms) -> str:
    return f"ws://127.0.0.1:{csms.app.gateway.ports['ws']}/ocpp"


async def proxy(local: Csms, upstream: Csms, station: str = STATION, **config: Any) -> dict[str, Any]:
    async with api_of(local) as api:
        response = await api.put(f"/stations/{station}/upstream", json={"url": ocpp_base(upstream), **config})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def call(ws: ClientConnection, unique_id: str, action: str, payload: Any) -> list[Any]:
    return await exchange(ws, [2, unique_id, action, payload], timeout=15)


def status(connector: int, value: str, at: str) -> dict[str, Any]:
    return {"connectorId": connector, "errorCode": "NoError", "status": value, "timestamp": at}


async def upstream_connected(local: Csms, station_id: str = STATION) -> bool:
    async def check() -> bool:
        return local.app.gateway.upstream_counts["connects"] > 0

    return bool(await eventually(check, timeout=10))


async def test_a_16_station_reaches_the_upstream_csms_and_only_allowed_commands_reach_it(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        running(f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}") as upstream,
        running(database_url) as local,
    ):
        for instance in (local, upstream):
            await instance.add_station(STATION)
            await instance.add_token("TAG-1")
        await proxy(local, upstream, allowed_actions=["RemoteStartTransaction"], password="secret-at-upstream")
        await local.app.core.frame_log.switch(station_id=StationId(STATION), on=True, actor="test")
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            boot = await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])
            assert boot[2]["status"] == "Accepted"
            assert await upstream_connected(local)
            await call(ws, "s1", "StatusNotification", status(1, "Preparing", T0))
            start = await call(
                ws, "t1", "StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 100, "timestamp": T0}
            )
            ours = start[2]["transactionId"]
            stop = {"transactionId": ours, "idTag": "TAG-1", "meterStop": 2100, "timestamp": "2026-12-06T11:00:00Z"}
            assert (await call(ws, "t2", "StopTransaction", stop))[0] == 3

            async def upstream_has_the_session() -> list[dict[str, Any]]:
                return [r for r in await upstream.rows("transactions", station_id=STATION) if r["meter_stop"]]

            (session,) = await eventually(upstream_has_the_session, timeout=10)
            assert (session["meter_start"], session["meter_stop"], session["id_token"]) == (100, 2100, "TAG-1")
            assert (await upstream.station(STATION))["vendor"] == "V"
            assert upstream.app.gateway.message_counts["1.6", "BootNotification"] == 1  # not again at the greeting
            statuses = await upstream.rows("status_history", station_id=STATION)
            assert [r["status"] for r in statuses] == ["Preparing"]

            async with api_of(upstream) as upstream_api:
                remote_start = asyncio.ensure_future(
                    upstream_api.post(f"/stations/{STATION}/commands/remote_start", json={"id_token": "TAG-1"})
                )
                started = json.loads(await asyncio.wait_for(ws.recv(), 15))
                assert started[2] == "RemoteStartTransaction" and started[3]["idTag"] == "TAG-1"
                await ws.send(json.dumps([3, started[1], {"status": "Accepted"}]))
                answered = await remote_start
                assert answered.status_code == 200, answered.text
                assert answered.json()["status"] == "Accepted"
                reset = await upstream_api.post(f"/stations/{STATION}/commands/reset", json={"kind": "hard"})
            assert reset.status_code == 502, reset.text
            assert "not allowed" in json.dumps(reset.json())
            assert local.app.gateway.upstream_counts["refused"] == 1
            async with api_of(local, Role.VIEWER) as viewer:
                metrics = (await viewer.get(viewer.base_url.copy_with(path="/metrics"))).text
                shown = (await viewer.get(f"/stations/{STATION}/upstream")).json()
            assert shown["password_set"] is True and "secret-at-upstream" not in json.dumps(shown)
            assert 'evscada_ocpp_proxy_messages_total{kind="refused"} 1.0' in metrics
            session_here = local.app.gateway.registry.get(StationId(STATION))
            assert session_here is not None
            frames = session_here.frames
            directions = {way for _, way, _ in frames}
            assert {"in", "out", "upstream-in", "upstream-out"} <= directions
            assert any('"Reset"' in text for _, way, text in frames if way == "upstream-in")
            # with message logging on, both sides' frames are kept in the database with their direction
            await local.app.core.frame_log.record(lambda _: frames)
            stored = {f.direction for f in await local.app.core.frame_log.recent(station_id=StationId(STATION))}
            assert stored == {"in", "out", "upstream-in", "upstream-out"}


async def test_an_upstream_outage_is_bridged_in_order_without_duplicates(database_url: str, tmp_path: Path) -> None:
    upstream_url = f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}"
    async with running(database_url, upstream_reconnect_max=0.5) as local, contextlib.AsyncExitStack() as first:
        await local.add_station(STATION)
        await local.add_token("TAG-1")
        upstream = await first.enter_async_context(running(upstream_url))
        await upstream.add_station(STATION)
        await upstream.add_token("TAG-1")
        port = upstream.app.gateway.ports["ws"]
        await proxy(local, upstream)
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])
            assert await upstream_connected(local)
            start = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": T0}
            ours = (await call(ws, "t1", "StartTransaction", start))[2]["transactionId"]

            async def upstream_started() -> list[dict[str, Any]]:
                return await upstream.rows("transactions", station_id=STATION)

            assert await eventually(upstream_started, timeout=10)
            await first.aclose()  # upstream stops: the station goes on, evscada answers it and holds what matters
            order = ["Charging", "SuspendedEV", "Charging", "Finishing"]
            for index, value in enumerate(order):
                at = f"2026-12-06T10:0{index + 1}:00Z"
                answer = await call(ws, f"s{index}", "StatusNotification", status(1, value, at))
                assert answer == [3, f"s{index}", {}]
            stop = {"transactionId": ours, "meterStop": 5000, "timestamp": "2026-12-06T10:30:00Z"}
            assert (await call(ws, "t2", "StopTransaction", stop))[0] == 3
            assert (await call(ws, "h1", "Heartbeat", {}))[0] == 3  # not held: nothing to catch up on

            expected = [*["StatusNotification"] * len(order), "StopTransaction"]

            async def held() -> list[str]:
                return [r["action"] for r in await local.rows("upstream_buffer", station_id=STATION)]

            async def all_held() -> bool:
                return await held() == expected

            await eventually(all_held)
            assert await held() == expected
            async with running(upstream_url, ocpp_port=port) as upstream:

                async def replayed() -> bool:
                    return await local.app.core.upstream.held_count(station_id=StationId(STATION)) == 0

                assert await eventually(replayed, timeout=15)
                statuses = await upstream.rows("status_history", station_id=STATION)
                assert [r["status"] for r in sorted(statuses, key=lambda r: r["id"])] == order
                (session,) = await upstream.rows("transactions", station_id=STATION)
                assert session["meter_stop"] == 5000 and session["ended_at"] is not None
                assert local.app.gateway.upstream_counts["replayed"] == len(order) + 1


async def test_in_upstream_answers_mode_the_station_gets_upstream_s_answer_and_evscada_s_when_it_is_away(
    tmp_path: Path,
) -> None:
    async with (
        running(f"sqlite+aiosqlite:///{tmp_path / 'local.db'}", upstream_reconnect_max=0.5) as local,
        contextlib.AsyncExitStack() as first,
    ):
        upstream = await first.enter_async_context(running(f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}"))
        await local.add_station(STATION)
        await upstream.add_station(STATION)
        await local.add_token("TAG-OURS")  # evscada would accept it; upstream does not know it
        await upstream.add_token("TAG-THEIRS")
        await upstream.add_token("TAG-OURS", status="Blocked")
        await proxy(local, upstream, mode="upstream_answers")
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])
            assert await upstream_connected(local)
            refused = await call(ws, "a1", "Authorize", {"idTag": "TAG-OURS"})
            assert refused == [3, "a1", {"idTagInfo": {"status": "Blocked"}}]
            accepted = await call(ws, "a2", "Authorize", {"idTag": "TAG-THEIRS"})
            assert accepted[2]["idTagInfo"]["status"] == "Accepted"  # evscada alone would say Invalid
            await first.aclose()
            alone = await call(ws, "a3", "Authorize", {"idTag": "TAG-OURS"})
            assert alone[2]["idTagInfo"]["status"] == "Accepted"  # upstream away: evscada answers


async def test_a_2_0_1_station_is_proxied_under_its_upstream_id(tmp_path: Path) -> None:
    async with (
        running(f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}") as upstream,
        running(f"sqlite+aiosqlite:///{tmp_path / 'local.db'}") as local,
    ):
        await local.add_station(STATION)
        await upstream.add_station("THEIR-NAME")
        await proxy(local, upstream, station_id="THEIR-NAME")
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp2.0.1") as ws:
            await call(ws, "b1", "BootNotification", BOOT["ocpp2.0.1"])
            assert await upstream_connected(local)
            started = {
                "eventType": "Started",
                "timestamp": T0,
                "triggerReason": "CablePluggedIn",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-201"},
                "evse": {"id": 1, "connectorId": 1},
            }
            assert (await call(ws, "e1", "TransactionEvent", started))[0] == 3

            async def upstream_has_it() -> list[dict[str, Any]]:
                return await upstream.rows("transactions", station_id="THEIR-NAME")

            (session,) = await eventually(upstream_has_it, timeout=10)
            assert session["station_transaction_id"] == "TX-201"
            assert (await upstream.station("THEIR-NAME"))["ocpp_version"] == "2.0.1"


async def test_the_api_refuses_an_upstream_that_could_never_connect_and_never_shows_the_password(
    tmp_path: Path,
) -> None:
    async with running(f"sqlite+aiosqlite:///{tmp_path / 'local.db'}") as local, api_of(local) as api:
        await local.add_station(STATION)
        path = f"/stations/{STATION}/upstream"
        assert (await api.get(path)).status_code == 404
        not_ws = await api.put(path, json={"url": "http://example.org/ocpp"})
        assert not_ws.status_code == 422 and "ws://" in not_ws.json()["detail"]
        tls_needed = await api.put(path, json={"url": "ws://example.org/ocpp", "security_profile": 2, "password": "p"})
        assert tls_needed.status_code == 422 and "wss://" in tls_needed.json()["detail"]
        no_password = await api.put(path, json={"url": "ws://example.org/ocpp", "security_profile": 1})
        assert no_password.status_code == 422 and "password" in no_password.json()["detail"]
        bad_action = await api.put(path, json={"url": "ws://example.org/ocpp", "allowed_actions": ["Reset; drop"]})
        assert bad_action.status_code == 422
        assert (await api.put("/stations/NOPE/upstream", json={"url": "ws://example.org/ocpp"})).status_code == 404
        stored = await api.put(
            path, json={"url": "ws://example.org/ocpp", "security_profile": 1, "password": "hidden-word"}
        )
        assert stored.status_code == 200 and stored.json()["password_set"] is True
        assert "hidden-word" not in (await api.get(path)).text
        assert (await api.put("/sites/999/upstream", json={"url": "ws://example.org/ocpp"})).status_code == 404
        assert (await api.delete(path)).status_code == 204
        assert (await api.get(path)).status_code == 404


@contextlib.asynccontextmanager
async def station_known_to_both(tmp_path: Path) -> AsyncIterator[tuple[Csms, Csms]]:
    """An upstream evscada and a local one, STATION registered at both: (upstream, local)."""
    async with (
        running(f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}") as upstream,
        running(f"sqlite+aiosqlite:///{tmp_path / 'local.db'}") as local,
    ):
        await local.add_station(STATION)
        await upstream.add_station(STATION)
        yield upstream, local


async def test_a_site_s_upstream_serves_its_stations_without_one_of_their_own(tmp_path: Path) -> None:
    async with station_known_to_both(tmp_path) as (upstream, local):
        site = await local.app.core.sites.create(name="Depot")
        async with api_of(local, Role.ADMIN) as api:
            assert (await api.patch(f"/stations/{STATION}", json={"site_id": site.id})).status_code == 200
            put = await api.put(f"/sites/{site.id}/upstream", json={"url": ocpp_base(upstream)})
            assert put.status_code == 200 and put.json()["scope"] == "site"
            assert (await api.get(f"/sites/{site.id}/upstream")).json()["url"] == ocpp_base(upstream)
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])

            async def upstream_booted() -> bool:
                return (await upstream.station(STATION))["vendor"] == "V"

            assert await eventually(upstream_booted, timeout=10)
            async with api_of(local, Role.ADMIN) as api:  # removed while the station is connected: unlinked now
                assert (await api.delete(f"/sites/{site.id}/upstream")).status_code == 204

            async def unlinked() -> bool:
                return upstream.app.gateway.registry.get(StationId(STATION)) is None

            assert await eventually(unlinked, timeout=10)


async def test_a_connected_station_moved_into_a_site_with_an_upstream_is_linked_at_once(tmp_path: Path) -> None:
    async with station_known_to_both(tmp_path) as (upstream, local):
        site = await local.app.core.sites.create(name="Depot")
        async with api_of(local, Role.ADMIN) as api:
            assert (await api.put(f"/sites/{site.id}/upstream", json={"url": ocpp_base(upstream)})).status_code == 200
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])
            assert upstream.app.gateway.registry.get(StationId(STATION)) is None  # no site yet: no upstream

            async def linked() -> bool:
                return upstream.app.gateway.registry.get(StationId(STATION)) is not None

            async with api_of(local, Role.ADMIN) as api:  # moved into the site while connected
                assert (await api.patch(f"/stations/{STATION}", json={"site_id": site.id})).status_code == 200
            assert await eventually(linked, timeout=10)
            await call(ws, "h1", "Heartbeat", {})  # and its messages now go up

            async with api_of(local, Role.ADMIN) as api:  # and out of it again: unlinked
                assert (await api.patch(f"/stations/{STATION}", json={"site_id": None})).status_code == 200
            assert await eventually(lambda: _async_not(linked), timeout=10)


async def _async_not(check: Any) -> bool:
    return not await check()


async def test_messages_held_for_an_upstream_a_station_no_longer_has_are_discarded_never_sent_elsewhere(
    database_url: str,
) -> None:
    async with running(database_url) as local:
        service = local.app.core.upstream

        async def hold(station: str, n: int) -> None:
            for i in range(n):
                frame = f"[{i}]"
                assert await service.hold(station_id=StationId(station), action="MeterValues", frame=frame, answer="{}")

        async def held(station: str) -> int:
            return await service.held_count(station_id=StationId(station))

        depot = await local.app.core.sites.create(name="Depot")
        yard = await local.app.core.sites.create(name="Yard")
        for station, site in (("OWN", None), ("INHERITS", depot.id), ("OWN-IN-DEPOT", depot.id), ("MOVER", depot.id)):
            await local.add_station(station)
            if site is not None:
                await local.app.core.sites.place_station(
                    station_id=StationId(station), name=None, site_id=site, latitude=None, longitude=None
                )
        async with api_of(local, Role.ADMIN) as api:
            a, b = "ws://127.0.0.1:9/ocpp", "ws://127.0.0.1:10/ocpp"
            assert (await api.put("/stations/OWN/upstream", json={"url": a})).status_code == 200
            await hold("OWN", 3)
            # The same upstream in another mode: the messages are still for it.
            assert (await api.put("/stations/OWN/upstream", json={"url": a, "mode": "upstream_answers"})).is_success
            assert await held("OWN") == 3
            # Another upstream: what was held for the first would reach the wrong CSMS.
            assert (await api.put("/stations/OWN/upstream", json={"url": b})).is_success
            assert await held("OWN") == 0
            await hold("OWN", 2)
            assert (await api.delete("/stations/OWN/upstream")).status_code == 204
            assert await held("OWN") == 0
            assert service.discarded == 5

            # A site's upstream: removing it discards for the stations it served, not for one with its own.
            assert (await api.put(f"/sites/{depot.id}/upstream", json={"url": a})).is_success
            assert (await api.put("/stations/OWN-IN-DEPOT/upstream", json={"url": b})).is_success
            await hold("INHERITS", 2)
            await hold("OWN-IN-DEPOT", 2)
            await hold("MOVER", 2)
            # Moved to a site whose upstream is the same CSMS: kept; to one with another: discarded.
            assert (await api.put(f"/sites/{yard.id}/upstream", json={"url": a})).is_success
            assert (await api.patch("/stations/MOVER", json={"site_id": yard.id})).is_success
            assert await held("MOVER") == 2
            assert (await api.put(f"/sites/{yard.id}/upstream", json={"url": b})).is_success
            assert await held("MOVER") == 0
            assert (await api.delete(f"/sites/{depot.id}/upstream")).status_code == 204
            assert (await held("INHERITS"), await held("OWN-IN-DEPOT")) == (0, 2)
            assert service.discarded == 5 + 2 + 2


async def test_the_buffer_is_bounded_per_station_and_counts_what_it_drops(tmp_path: Path) -> None:
    async with running(f"sqlite+aiosqlite:///{tmp_path / 'local.db'}", upstream_buffer_limit=2) as local:
        upstream = local.app.core.upstream
        held = [
            await upstream.hold(station_id=StationId(station), action="MeterValues", frame=f"[{n}]", answer="{}")
            for station, n in (("A", 1), ("A", 2), ("A", 3), ("B", 4))
        ]
        assert held == [True, True, False, True]  # the third of A is dropped; B has its own bound
        assert upstream.dropped == {"A": 1}
        assert [m.frame for m in await upstream.held(station_id=StationId("A"))] == ["[1]", "[2]"]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_simulated_station_is_started_and_stopped_from_the_upstream_csms(version: str, tmp_path: Path) -> None:
    start, stop = (
        ("RemoteStartTransaction", "RemoteStopTransaction")
        if version == "1.6"
        else ("RequestStartTransaction", "RequestStopTransaction")
    )
    async with (
        running(f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}") as upstream,
        running(f"sqlite+aiosqlite:///{tmp_path / 'local.db'}") as local,
    ):
        for instance in (local, upstream):
            await instance.add_station(SID)
            await instance.add_token("CARD-1")
        await proxy(local, upstream, station=SID, allowed_actions=[start, stop])
        async with upstream.app.database.transaction() as connection:  # upstream's 1.6 ids now differ from ours
            at = datetime.now(UTC)
            row = {"station_id": "OTHER", "state": "ended", "created_at": at, "updated_at": at}
            await connection.execute(insert(tables.transactions).values(**row))
        spec = StationSpec(station_id=SID, version=version, connectors=2, serial="SN-PX")
        fleet = Fleet(ocpp_base(local), [spec], QUIET, dial=dial_ocpp)
        simulated = asyncio.create_task(fleet.run())
        try:
            assert await eventually(lambda: ready(local, SID), timeout=10)
            assert await upstream_connected(local, SID)

            async def upstream_sees_it_ready() -> bool:
                connectors = await upstream.rows("connectors", station_id=SID)
                return len(connectors) == 2 and all(row["status"] == "Available" for row in connectors)

            assert await eventually(upstream_sees_it_ready, timeout=10)
            # upstream's command goes through evscada to the station; the session shows up on both sides
            started = await upstream.app.core.commands.send(
                station_id=StationId(SID), command=remote_start(), actor="partner"
            )
            assert (started.outcome, started.status) == ("answered", "Accepted")
            theirs = await running_transaction(upstream, SID)
            ours = await running_transaction(local, SID)
            assert theirs["id_token"] == ours["id_token"] == "CARD-1"
            if version == "1.6":
                assert theirs["station_transaction_id"] != ours["station_transaction_id"]
            stopped = await upstream.app.core.commands.send(
                station_id=StationId(SID),
                command=c.RemoteStop(station_transaction_id=theirs["station_transaction_id"]),
                actor="partner",
            )
            assert (stopped.outcome, stopped.status) == ("answered", "Accepted")

            async def ended_on_both() -> bool:
                ended = [await i.rows("transactions", station_id=SID, state="ended") for i in (local, upstream)]
                return all(len(rows) == 1 for rows in ended)

            assert await eventually(ended_on_both, timeout=10)
            refused = await upstream.app.core.commands.send(
                station_id=StationId(SID), command=c.Reset(kind=c.ResetKind.SOFT), actor="partner"
            )
            assert refused.outcome == "call_error" and "not allowed" in (refused.error or "")
        finally:
            await cancel_quietly(simulated)


# --- durability, restarts, live configuration, health, sealed passwords, wss -----------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _serve_in_a_process(database: Path, folder: Path) -> tuple[asyncio.subprocess.Process, int]:
    """`evscada serve` as its own process (so that it can be killed), and its OCPP port."""
    env = {
        **os.environ,
        "EVSCADA_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "EVSCADA_OCPP_HOST": "127.0.0.1",
        "EVSCADA_OCPP_PORT": "0",
        "EVSCADA_HTTP_HOST": "127.0.0.1",
        "EVSCADA_HTTP_PORT": "0",
        "EVSCADA_UPSTREAM_KEY_FILE": str(folder / "upstream.key"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evscada", "serve", cwd=folder, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    seen = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        seen.append(line)
        assert line, f"evscada serve ended before it ran: {''.join(seen)}"
        if found := re.search(r"OCPP ws port (\d+)", line):
            return process, int(found.group(1))


async def test_transaction_messages_survive_a_killed_evscada_and_reach_upstream_after_the_restart(
    tmp_path: Path,
) -> None:
    local_db = tmp_path / "local.db"
    async with running(f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}") as upstream:
        await upstream.add_station(STATION)
        await upstream.add_token("TAG-1")
        async with running(f"sqlite+aiosqlite:///{local_db}") as seed:
            await seed.add_station(STATION)
            await seed.add_token("TAG-1")
            await seed.app.core.upstream.configure(
                UpstreamCsms(scope=Scope.STATION, target=STATION, url=ocpp_base(upstream)), actor="test"
            )
        process, port = await _serve_in_a_process(local_db, tmp_path)
        try:
            async with open_socket(f"ws://127.0.0.1:{port}/ocpp/{STATION}", "ocpp1.6") as ws:
                await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])

                async def upstream_booted() -> bool:
                    return (await upstream.station(STATION))["vendor"] == "V"

                assert await eventually(upstream_booted, timeout=15)
                # Upstream stops reading: the proxy's first message waits for an answer, the rest queue behind it.
                stalled = upstream.app.gateway.registry.get(StationId(STATION))
                assert stalled is not None
                stalled._connection.transport.pause_reading()  # type: ignore[attr-defined]
                start = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": T0}
                ours = (await call(ws, "t1", "StartTransaction", start))[2]["transactionId"]
                for n in range(5):
                    sample = {"measurand": "Energy.Active.Import.Register", "unit": "Wh", "value": str(1100 + n)}
                    values = {
                        "connectorId": 1,
                        "transactionId": ours,
                        "meterValue": [{"timestamp": f"2026-12-06T10:0{n + 1}:00Z", "sampledValue": [sample]}],
                    }
                    assert await call(ws, f"m{n}", "MeterValues", values) == [3, f"m{n}", {}]
                stop = {"transactionId": ours, "meterStop": 1500, "timestamp": "2026-12-06T10:30:00Z"}
                assert (await call(ws, "t2", "StopTransaction", stop))[0] == 3
                process.send_signal(signal.SIGKILL)  # the station has all its answers; nothing was stopped cleanly
                await process.wait()
            stalled._connection.transport.abort()  # type: ignore[attr-defined]  # upstream never read any of it
            assert await upstream.rows("transactions", station_id=STATION) == []
            held = sqlite3.connect(local_db).execute("SELECT action FROM upstream_buffer ORDER BY id").fetchall()
            assert [a for (a,) in held] == ["StartTransaction", *["MeterValues"] * 5, "StopTransaction"]
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        async with restarted(f"sqlite+aiosqlite:///{local_db}", upstream_reconnect_max=0.5) as local:
            async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
                await call(ws, "b2", "BootNotification", BOOT["ocpp1.6"])

                async def replayed() -> bool:
                    return await local.app.core.upstream.held_count(station_id=StationId(STATION)) == 0

                assert await eventually(replayed, timeout=20)
            (session,) = await upstream.rows("transactions", station_id=STATION)
            assert (session["meter_start"], session["meter_stop"]) == (1000, 1500)
            assert session["ended_at"] is not None
            energy = await upstream.rows("meter_samples", station_id=STATION)
            assert sorted(row["value"] for row in energy if row["measurand"] == "Energy.Active.Import.Register") == [
                1100 + n for n in range(5)
            ]


async def test_a_1_6_stop_after_an_evscada_restart_goes_up_with_upstream_s_transaction_id(
    database_url: str, tmp_path: Path
) -> None:
    async with running(f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}") as upstream:
        await upstream.add_station(STATION)
        await upstream.add_token("TAG-1")
        async with upstream.app.database.transaction() as connection:  # upstream's ids now differ from ours
            at = datetime.now(UTC)
            for _ in range(3):
                row = {"station_id": "OTHER", "state": "ended", "created_at": at, "updated_at": at}
                await connection.execute(insert(tables.transactions).values(**row))
        async with running(database_url) as local:
            await local.add_station(STATION)
            await local.add_token("TAG-1")
            await proxy(local, upstream)
            async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
                await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])
                assert await upstream_connected(local)
                start = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 100, "timestamp": T0}
                ours = (await call(ws, "t1", "StartTransaction", start))[2]["transactionId"]

                async def mapped() -> list[dict[str, Any]]:
                    return await local.rows("upstream_transactions", station_id=STATION)

                (mapping,) = await eventually(mapped, timeout=10)
                (theirs,) = await upstream.rows("transactions", station_id=STATION)
                assert (mapping["ours"], mapping["theirs"]) == (ours, int(theirs["station_transaction_id"]))
                assert mapping["ours"] != mapping["theirs"]
        async with restarted(database_url) as local, open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            await call(ws, "b2", "BootNotification", BOOT["ocpp1.6"])
            stop = {"transactionId": ours, "meterStop": 900, "timestamp": "2026-12-06T11:00:00Z"}
            assert (await call(ws, "t2", "StopTransaction", stop))[0] == 3

            async def ended_upstream() -> list[dict[str, Any]]:
                return await upstream.rows("transactions", station_id=STATION, state="ended")

            (session,) = await eventually(ended_upstream, timeout=15)
            assert (session["meter_start"], session["meter_stop"]) == (100, 900)
            assert len(await upstream.rows("transactions", station_id=STATION)) == 1

            async def unmapped() -> bool:
                return await local.rows("upstream_transactions", station_id=STATION) == []

            assert await eventually(unmapped, timeout=10)  # done with once upstream had the stop


async def _health(csms: Csms) -> dict[str, Any]:
    assert csms.app.http is not None
    async with httpx.AsyncClient(timeout=15) as client:  # no credentials: load balancers ask it
        response = await client.get(f"http://127.0.0.1:{csms.app.http.port}/api/v1/health")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_configuration_change_applies_at_once_and_health_shows_the_links(tmp_path: Path) -> None:
    async with (
        running(f"sqlite+aiosqlite:///{tmp_path / 'first.db'}") as first,
        running(f"sqlite+aiosqlite:///{tmp_path / 'second.db'}") as second,
        running(f"sqlite+aiosqlite:///{tmp_path / 'local.db'}", upstream_reconnect_max=0.5) as local,
    ):
        for instance in (local, first, second):
            await instance.add_station(STATION)
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])
            assert "upstream" not in await _health(local) or (await _health(local))["upstream"] is None

            def at(instance: Csms) -> Any:
                async def check() -> bool:
                    return instance.app.gateway.registry.get(StationId(STATION)) is not None

                return check

            def gone_from(instance: Csms) -> Any:
                async def check() -> bool:
                    return instance.app.gateway.registry.get(StationId(STATION)) is None

                return check

            await proxy(local, first)  # the station stays connected: its link opens now
            assert await eventually(at(first), timeout=10)

            async def first_booted() -> bool:
                return (await first.station(STATION))["vendor"] == "V"

            assert await eventually(first_booted, timeout=10)  # the station's last boot went up first

            async def connected_link() -> dict[str, Any] | None:
                shown = (await _health(local)).get("upstream")
                return shown if shown and shown["connected"] == 1 else None

            shown = await eventually(connected_link, timeout=10)
            assert shown["links"] == 1 and shown["not_connected"] == []

            await proxy(local, second)  # replaced: the first upstream sees the station leave, the second arrive
            assert await eventually(gone_from(first), timeout=10)
            assert await eventually(at(second), timeout=10)

            with socket.socket() as unused:  # a port nobody listens on
                unused.bind(("127.0.0.1", 0))
                dead = f"ws://127.0.0.1:{unused.getsockname()[1]}/ocpp"
                async with api_of(local) as api:
                    assert (await api.put(f"/stations/{STATION}/upstream", json={"url": dead})).status_code == 200
                assert await eventually(gone_from(second), timeout=10)
                await call(ws, "s1", "StatusNotification", status(1, "Preparing", T0))

                async def trouble_shown() -> dict[str, Any] | None:
                    shown = (await _health(local)).get("upstream")
                    down = shown["not_connected"] if shown else []
                    return shown if down and down[0]["last_error"] and down[0]["held"] == 1 else None

                shown = await eventually(trouble_shown, timeout=10)
            assert (shown["links"], shown["connected"], shown["held"]) == (1, 0, 1)
            (down,) = shown["not_connected"]
            assert down["station_id"] == STATION and down["url"] == dead and down["since"]

            async with api_of(local) as api:
                assert (await api.delete(f"/stations/{STATION}/upstream")).status_code == 204

            async def no_links() -> bool:
                return (await _health(local)).get("upstream") is None

            assert await eventually(no_links, timeout=10)
            assert local.app.gateway.registry.get(StationId(STATION)) is not None  # the station never noticed


@contextlib.asynccontextmanager
async def proxied_with_a_password(tmp_path: Path) -> AsyncIterator[tuple[Csms, Csms, Path, Path]]:
    """An upstream evscada wanting Basic Auth (profile 1) and a local one proxying STATION to it with the password:
    (upstream, local, the local key file, the local database file)."""
    key_file = tmp_path / "keys" / "upstream.key"
    local_db = tmp_path / "local.db"
    async with (
        running(f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}") as upstream,
        running(f"sqlite+aiosqlite:///{local_db}", upstream_key_file=str(key_file)) as local,
    ):
        await local.add_station(STATION)
        await upstream.add_station(STATION, profile=1, password="their-secret-1234")
        await proxy(local, upstream, security_profile=1, password="their-secret-1234")
        yield upstream, local, key_file, local_db


async def booted_through_to_upstream(local: Csms, upstream: Csms) -> None:
    """The station boots at evscada and upstream records the boot: the link logged in with the right password."""
    async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
        await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])

        async def upstream_booted() -> bool:
            return (await upstream.station(STATION))["vendor"] == "V"

        assert await eventually(upstream_booted, timeout=10)


async def test_the_upstream_password_is_sealed_at_rest_and_still_opens_upstream(tmp_path: Path) -> None:
    async with proxied_with_a_password(tmp_path) as (upstream, local, key_file, _):
        (row,) = await local.rows("upstream_csms", target=STATION)
        assert "their-secret-1234" not in row["password"] and row["password"].startswith("fernet:")
        assert key_file.stat().st_mode & 0o777 == 0o600
        await booted_through_to_upstream(local, upstream)
        # a password an older evscada stored in clear still works, and is sealed when read
        async with local.app.database.transaction() as connection:
            await connection.execute(
                tables.upstream_csms.update()
                .where(tables.upstream_csms.c.target == STATION)
                .values(password="their-secret-1234")
            )
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            await call(ws, "b2", "BootNotification", BOOT["ocpp1.6"])

            async def sealed_again() -> bool:
                (row,) = await local.rows("upstream_csms", target=STATION)
                return bool(row["password"].startswith("fernet:"))

            assert await eventually(sealed_again, timeout=10)

            async def booted_again_upstream() -> bool:
                return upstream.app.gateway.message_counts["1.6", "BootNotification"] == 2

            assert await eventually(booted_again_upstream, timeout=10)  # the plain password opened upstream too


async def _cli(*arguments: str, database: Path, key_file: Path) -> str:
    """`evscada` as an operator runs it beside a running server: same database, same key file."""
    env = {**os.environ, "EVSCADA_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    env["EVSCADA_UPSTREAM_KEY_FILE"] = str(key_file)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evscada", *arguments, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def test_the_upstream_key_is_rotated_while_evscada_runs_and_upstream_still_opens(tmp_path: Path) -> None:
    async with proxied_with_a_password(tmp_path) as (upstream, local, key_file, local_db):
        (before,) = await local.rows("upstream_csms", target=STATION)
        old_key = key_file.read_bytes().strip()

        out = await _cli("upstream-key", "rotate", database=local_db, key_file=key_file)

        assert "1 upstream password(s) now sealed with the first key" in out and "1 old key(s) dropped" in out
        new_key = key_file.read_bytes().strip()
        assert new_key != old_key and len(new_key.splitlines()) == 1
        assert key_file.stat().st_mode & 0o777 == 0o600
        (after,) = await local.rows("upstream_csms", target=STATION)
        assert after["password"] != before["password"] and after["password"].startswith("fernet:")
        token = after["password"].removeprefix("fernet:").encode()
        assert Fernet(new_key).decrypt(token) == b"their-secret-1234"
        with pytest.raises(InvalidToken):  # the old key opens nothing any more
            Fernet(old_key).decrypt(token)
        # The running process still holds the old key: it reads the file again and opens the new seal.
        await booted_through_to_upstream(local, upstream)

        # A cluster's two steps: add (old keys stay, so every machine opens both), then drop-old.
        out = await _cli("upstream-key", "add", database=local_db, key_file=key_file)
        assert "copy this file to every evscada machine" in out
        assert key_file.read_bytes().split()[1] == new_key  # the previous key stays, second
        out = await _cli("upstream-key", "drop-old", database=local_db, key_file=key_file)
        assert "1 old key(s) dropped" in out
        (last,) = await local.rows("upstream_csms", target=STATION)
        newest = key_file.read_bytes().strip()
        assert Fernet(newest).decrypt(last["password"].removeprefix("fernet:").encode()) == b"their-secret-1234"


async def test_a_wss_upstream_is_reached_when_its_ca_file_is_trusted(tmp_path: Path) -> None:
    certificate = make_dev_certificate(tmp_path / "upstream-tls", ["localhost", "127.0.0.1"])
    async with (
        running(
            f"sqlite+aiosqlite:///{tmp_path / 'upstream.db'}",
            tls_cert_file=certificate.cert_file,
            tls_key_file=certificate.key_file,
        ) as upstream,
        running(f"sqlite+aiosqlite:///{tmp_path / 'local.db'}", upstream_reconnect_max=0.5) as local,
    ):
        await local.add_station(STATION)
        await upstream.add_station(STATION, profile=2, password="tls-secret-1234")
        wss = f"wss://127.0.0.1:{upstream.app.gateway.ports['wss']}/ocpp"
        untrusted = {"url": wss, "security_profile": 2, "password": "tls-secret-1234"}
        async with api_of(local) as api:
            assert (await api.put(f"/stations/{STATION}/upstream", json=untrusted)).status_code == 200
        async with open_socket(f"{ocpp_base(local)}/{STATION}", "ocpp1.6") as ws:
            await call(ws, "b1", "BootNotification", BOOT["ocpp1.6"])

            async def refused_certificate() -> str | None:
                shown = (await _health(local)).get("upstream")
                error = shown["not_connected"][0]["last_error"] if shown and shown["not_connected"] else None
                return error if error and "CERTIFICATE_VERIFY_FAILED" in error else None

            assert await eventually(refused_certificate, timeout=10)  # the system store does not know this CA
            assert upstream.app.gateway.registry.get(StationId(STATION)) is None
            trusted = await proxy(
                local,
                upstream,
                url=wss,
                security_profile=2,
                password="tls-secret-1234",
                ca_file=str(certificate.cert_file),
            )
            assert trusted["ca_file"] == str(certificate.cert_file)

            async def upstream_booted() -> bool:
                return (await upstream.station(STATION))["vendor"] == "V"

            assert await eventually(upstream_booted, timeout=15)
            session = upstream.app.gateway.registry.get(StationId(STATION))
            assert session is not None
