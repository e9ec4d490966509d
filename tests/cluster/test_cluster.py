"""Issue 23: two gateway processes and one api process on PostgreSQL and Redis behind HAProxy (deploy/haproxy.cfg).

Stations of both versions connect through the balancer; commands sent to the api process reach them on either
gateway; live events from both gateways reach the api process; an alarm is raised once; a gateway killed with
kill -9 under load loses no acknowledged message, its stations reconnect to the other and its leases move."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from evscada.app import build_core
from evscada.bus.local import LocalBus
from evscada.core.access.users import Role
from evscada.core.model import StationId
from evscada.settings import Settings
from evscada.storage.db import Database
from evscada.storage.store import SqlStore
from tests.cluster.harness import Cluster, eventually, redis_keys, require_services, unique_prefix
from tests.conftest import _scratch_postgres_database

pytestmark = [pytest.mark.xdist_group("cluster")]  # three processes and HAProxy each: one such test at a time

SIMULATED = [f"CL-{n:04d}" for n in range(1, 9)]
LOADED = [f"LOAD-{n:03d}" for n in range(1, 13)]
CONSOLE_PASSWORD = "cluster-console-password"
DEPOT = "Cluster depot"  # load-managed (a grid connection): the leader's load management shares it out


async def _prepare(database_url: str) -> str:
    """Schema, the stations, and an operator's API key, as an operator would set them up before starting."""
    database = Database(database_url)
    await database.migrate()
    core = build_core(Settings(database_url=database_url), SqlStore(database), LocalBus())
    for station_id in [*SIMULATED, *LOADED, "CL-FAULT", "CL-NEVER"]:
        await core.stations.register(station_id=StationId(station_id))
    await core.access.add_user(username="grid", role=Role.OPERATOR, password=CONSOLE_PASSWORD)
    await core.sites.create(name=DEPOT, grid_capacity_w=200e3)
    key = await core.access.create_api_key(username="grid", name="cluster-test")
    await database.close()
    return key


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    require_services()
    with _scratch_postgres_database() as database_url:
        built = Cluster(database_url=database_url, prefix=unique_prefix(), folder=tmp_path)
        built.api_key = asyncio.run(_prepare(database_url))
        try:
            built.start_node("gw1", "gateway")
            built.start_node("gw2", "gateway")
            built.start_node("api1", "api")
            built.start_balancer()
            yield built
        finally:
            built.stop()
            asyncio.run(_forget(built.prefix))


async def _forget(prefix: str) -> None:
    import redis.asyncio as aioredis

    from tests.cluster.harness import REDIS_URL

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _owners(keys: dict[str, str]) -> dict[str, str]:
    """station id -> node id, from the owner keys."""
    return {key.rpartition(":owner:")[2]: value.split(" ")[0] for key, value in keys.items()}


async def _status_faulted(url: str, station_id: str) -> None:
    """A 1.6 station that boots and reports a ground failure, then stays connected a while."""
    async with websockets.connect(f"{url}/{station_id}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "T", "chargePointModel": "F"}]))
        await ws.recv()
        now = datetime.now(UTC).isoformat()
        await ws.send(
            json.dumps(
                [
                    2,
                    "s",
                    "StatusNotification",
                    {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": now},
                ]
            )
        )
        assert json.loads(await ws.recv())[0] == 3
        await asyncio.sleep(4)


@pytest.fixture
def fleet(cluster: Cluster) -> Iterator[subprocess.Popen[bytes]]:
    """The simulated stations of both versions (`evscada simulate`), connecting through the balancer."""
    with (cluster.folder / "simulator.log").open("wb") as log:
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evscada",
                "simulate",
                "--url",
                cluster.ocpp_url,
                "--stations",
                str(len(SIMULATED)),
                "--prefix",
                "CL",
                "--v201-share",
                "0.5",
                "--ramp-up",
                "4",
            ],
            cwd=cluster.folder,
            env={**cluster.environment("sim", "all"), "EVSCADA_CLUSTER": "{}"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield simulator
    finally:
        simulator.terminate()
        simulator.wait(20)


async def test_commands_events_and_one_alarm_across_two_gateways(
    cluster: Cluster, fleet: subprocess.Popen[bytes]
) -> None:
    try:
        async with cluster.client() as api:
            # The live stream of the api process, opened before anything happens.
            seen: set[str] = set()
            kinds: set[str] = set()

            async def listen() -> None:
                async with api.stream("GET", "/events", timeout=None) as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("data:"):
                            event = json.loads(line[5:])
                            if event.get("station_id"):
                                seen.add(event["station_id"])
                            kinds.add(str(event.get("type")))

            listener = asyncio.create_task(listen())

            async def all_online() -> bool:
                answer = await api.get("/stations", params={"limit": 100})
                online = {s["id"] for s in answer.json() if s["online"]}
                return set(SIMULATED) <= online

            await eventually(all_online, timeout=60, what="every simulated station online through the balancer")
            owners = _owners(await redis_keys(cluster.prefix, "owner:*"))
            assert set(owners) >= set(SIMULATED), owners
            assert {owners[s] for s in SIMULATED} == {"gw1", "gw2"}, f"stations on one gateway only: {owners}"
            versions = {s["id"]: s["ocpp_version"] for s in (await api.get("/stations")).json()}
            assert {versions[s] for s in SIMULATED} == {"1.6", "2.0.1"}

            # A command from the api process reaches every station, on either gateway, and its answer comes back.
            for station_id in SIMULATED:
                answer = await api.post(
                    f"/stations/{station_id}/commands/change_availability", json={"operative": True}
                )
                assert answer.status_code == 200, (station_id, owners[station_id], answer.text)
                assert answer.json()["outcome"] == "answered", answer.json()
                assert answer.json()["status"] == "Accepted", answer.json()
            # Offline is offline, as in one process: 409 and nothing sent.
            offline = await api.post("/stations/CL-NEVER/commands/change_availability", json={"operative": True})
            assert offline.status_code == 409, offline.text

            # Live events of stations on both gateways reached the api process.
            await eventually(lambda: _async(set(SIMULATED) <= seen), timeout=30, what="live events of every station")

            # One fault, one alarm: only the leader's alarm engine raises it.
            await _status_faulted(cluster.ocpp_url, "CL-FAULT")

            async def fault_alarms() -> list[dict[str, object]]:
                answer = await api.get("/alarms", params={"station_id": "CL-FAULT"})
                return [a for a in answer.json() if "fault" in str(a["key"])]

            alarms = await eventually(fault_alarms, timeout=20, what="the ground-failure alarm")
            await asyncio.sleep(3)  # a second engine, were there one, would have raised its own by now
            alarms = await fault_alarms()
            assert len(alarms) == 1, alarms
            leaders = await redis_keys(cluster.prefix, "leader")
            assert next(iter(leaders.values())) in {"gw1", "gw2", "api1"}, leaders
            await _check_health(api, cluster, leaders[f"{cluster.prefix}:leader"])
            await _proxy_follows_the_station(api, cluster, SIMULATED[0], owners[SIMULATED[0]])
            await _console_shows_frames_from_the_gateway(cluster, SIMULATED[-1])
            await _curtailment_reaches_the_leader(api, leaders[f"{cluster.prefix}:leader"])
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
    finally:
        assert fleet.poll() is None, "the simulator stopped early; see simulator.log"


async def _check_health(api: httpx.AsyncClient, cluster: Cluster, leader: str) -> None:
    """Each process's health says where it stands in the cluster."""
    health = (await api.get("/health")).json()
    assert health["cluster"]["node"] == "api1" and health["cluster"]["role"] == "api", health
    assert health["cluster"]["leading"] == (leader == "api1")
    assert health["cluster"]["bus"]["received"] > 0, health  # events from the gateways arrived
    # A gateway's own HTTP: its health and metrics for the balancer and Prometheus, not the API.
    for name in ("gw1", "gw2"):
        base = f"http://127.0.0.1:{cluster.nodes[name].http_port}"
        health = (await api.get(f"{base}/api/v1/health")).json()
        assert health["cluster"]["role"] == "gateway" and health["stations_connected"] >= 1, health
        assert health["cluster"]["stations_held"] == health["stations_connected"], health
        assert health["cluster"]["leading"] == (leader == name)
        assert "evscada_stations_connected" in (await api.get(f"{base}/metrics")).text
        assert (await api.get(f"{base}/api/v1/stations")).status_code == 404


async def _proxy_follows_the_station(api: httpx.AsyncClient, cluster: Cluster, station_id: str, owner: str) -> None:
    """An OCPP proxy set through the api process links the station at once on the gateway that holds it."""
    gateway = f"http://127.0.0.1:{cluster.nodes[owner].http_port}/api/v1/health"
    # Nobody listens on port 9 here: the link keeps trying, and the owner's health lists it as not connected.
    answer = await api.put(f"/stations/{station_id}/upstream", json={"url": "ws://127.0.0.1:9/ocpp"})
    assert answer.status_code == 200, answer.text

    async def linked() -> object:
        upstream = (await api.get(gateway)).json().get("upstream")
        return upstream if upstream and upstream["links"] == 1 else None

    upstream = await eventually(linked, timeout=15, what=f"the proxy link of {station_id} on {owner}")
    assert [link["station_id"] for link in upstream["not_connected"]] == [station_id], upstream
    assert (await api.delete(f"/stations/{station_id}/upstream")).status_code in (200, 204)

    async def unlinked() -> bool:
        return (await api.get(gateway)).json().get("upstream") is None

    await eventually(unlinked, timeout=15, what=f"the proxy link of {station_id} gone after DELETE")


async def _console_shows_frames_from_the_gateway(cluster: Cluster, station_id: str) -> None:
    """The station page of the api process shows the frames the gateway holding the station keeps in memory."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cluster.lb_http_port}", timeout=30) as browser:
        login = await browser.post("/login", data={"username": "grid", "password": CONSOLE_PASSWORD})
        assert login.status_code == 303, login.text
        page = await browser.get(f"/stations/{station_id}", params={"fragment": "frames"})
        assert page.status_code == 200, page.text
        # The ChangeAvailability the test sent a moment ago, in the gateway's frames.
        assert "ChangeAvailability" in page.text, page.text[-3000:]


async def _curtailment_reaches_the_leader(api: httpx.AsyncClient, leader: str) -> None:
    """A curtailment posted to the api process is in force in the leader's load management, whichever process
    leads, and the api process shows the leader's view of the site (ADR 12)."""
    site_id = next(s["id"] for s in (await api.get("/sites")).json() if s["name"] == DEPOT)
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    answer = await api.post(f"/sites/{site_id}/curtailment", json={"max_kw": 50, "until": until})
    assert answer.status_code == 200, answer.text

    async def in_the_leaders_view() -> object:
        first = (await api.get(f"/sites/{site_id}/draw")).json()
        await asyncio.sleep(0.3)
        second = (await api.get(f"/sites/{site_id}/draw")).json()
        # A view made by the leader's recompute stays the same until its next one; one the api process made itself
        # would be of the moment asked.
        from_the_leader = first["at"] == second["at"] or leader == "api1"
        return second if from_the_leader and second["limit"]["max_kw"] == 50 else None

    await eventually(in_the_leaders_view, timeout=30, what=f"the curtailment in the leader's ({leader}) site view")
    assert (await api.delete(f"/sites/{site_id}/curtailment")).status_code in (200, 204)


async def _async(value: object) -> object:
    return value


class LoadStation:
    """A 1.6 station sending MeterValues with an increasing register; it notes each value the CSMS acknowledged and
    reconnects through the balancer when its connection drops."""

    def __init__(self, url: str, station_id: str) -> None:
        self.url, self.station_id = url, station_id
        self.acknowledged: list[float] = []
        self.connections = 0
        self.register = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with websockets.connect(
                    f"{self.url}/{self.station_id}",
                    subprotocols=["ocpp1.6"],
                    open_timeout=5,  # type: ignore[list-item]
                ) as ws:
                    self.connections += 1
                    await ws.send(
                        json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "T", "chargePointModel": "L"}])
                    )
                    await asyncio.wait_for(ws.recv(), 10)
                    n = 0
                    while not stop.is_set():
                        n += 1
                        self.register += 10
                        value = self.register
                        sample = {"value": f"{value:.0f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                        frame = [
                            2,
                            f"m{n}",
                            "MeterValues",
                            {
                                "connectorId": 1,
                                "meterValue": [{"timestamp": datetime.now(UTC).isoformat(), "sampledValue": [sample]}],
                            },
                        ]
                        await ws.send(json.dumps(frame))
                        if await self._answer_to(ws, f"m{n}") == 3:
                            self.acknowledged.append(value)
                        await asyncio.sleep(0.05)
            except (OSError, websockets.ConnectionClosed, TimeoutError, websockets.InvalidHandshake):
                await asyncio.sleep(0.2)  # dropped or refused: reconnect through the balancer

    @staticmethod
    async def _answer_to(ws: websockets.ClientConnection, message_id: str) -> int:
        """The answer's type (3 result, 4 error) to our CALL; the CSMS's own CALLs meanwhile are accepted."""
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame[0] == 2:
                await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
            elif frame[1] == message_id:
                return int(frame[0])


async def _stored_registers(database_url: str) -> dict[str, set[float]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT station_id, value FROM meter_samples"
                    " WHERE measurand = 'Energy.Active.Import.Register' AND station_id LIKE 'LOAD-%'"
                )
            )
            stored: dict[str, set[float]] = {}
            for station_id, value in rows:
                stored.setdefault(station_id, set()).add(float(value))
            return stored
    finally:
        await engine.dispose()


async def test_kill_9_of_a_gateway_under_load_loses_no_acknowledged_message(cluster: Cluster) -> None:
    stop = asyncio.Event()
    stations = [LoadStation(cluster.ocpp_url, station_id) for station_id in LOADED]
    runners = [asyncio.create_task(s.run(stop)) for s in stations]
    try:
        owners = _owners(
            await eventually(
                lambda: _all_owned(cluster.prefix), timeout=30, what="every load station owned by a gateway"
            )
        )
        await asyncio.sleep(3)  # load flowing on both gateways
        victim = max(("gw1", "gw2"), key=lambda node: sum(1 for o in owners.values() if o == node))
        survivor = "gw2" if victim == "gw1" else "gw1"
        moved = sorted(s for s, o in owners.items() if o == victim)
        assert moved, owners
        before = {s.station_id: s.connections for s in stations}
        cluster.nodes[victim].kill()

        async def moved_to_survivor() -> bool:
            now = _owners(await redis_keys(cluster.prefix, "owner:*"))
            return all(now.get(s) == survivor for s in LOADED)

        await eventually(moved_to_survivor, timeout=40, what=f"every station owned by {survivor} after kill -9")
        assert all(s.connections > before[s.station_id] for s in stations if s.station_id in moved)
        leader = await eventually(
            lambda: _live_leader(cluster.prefix, victim), timeout=20, what="a leader other than the killed process"
        )
        assert leader in {survivor, "api1"}
        await asyncio.sleep(3)  # load flowing on the survivor
        # A station that moved takes commands on its new gateway.
        async with cluster.client() as api:
            answer = await api.post(f"/stations/{moved[0]}/commands/clear_cache", json={})
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "Accepted", answer.json()
    finally:
        stop.set()
        await asyncio.gather(*runners, return_exceptions=True)

    acknowledged = sum(len(s.acknowledged) for s in stations)
    stored = await _stored_registers(cluster.database_url)
    lost = {s.station_id: sorted(set(s.acknowledged) - stored.get(s.station_id, set())) for s in stations}
    print(f"acknowledged {acknowledged} meter values; stored {sum(len(v) for v in stored.values())}; moved {moved}")
    assert acknowledged > 200, "too little load to mean anything"
    assert not any(lost.values()), {k: v[:5] for k, v in lost.items() if v}


async def _all_owned(prefix: str) -> dict[str, str] | None:
    keys = await redis_keys(prefix, "owner:*")
    owned = {k.rpartition(":owner:")[2] for k in keys}
    return keys if set(LOADED) <= owned else None


async def _live_leader(prefix: str, dead: str) -> str | None:
    leaders = await redis_keys(prefix, "leader")
    value = next(iter(leaders.values()), None)
    return value if value is not None and value != dead else None
