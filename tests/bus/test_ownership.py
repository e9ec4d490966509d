"""Station ownership across gateway nodes (ADR 12, "Station ownership"): real Redis, real sockets, real gateways."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from evscada.core.control.commands import Reset
from evscada.core.errors import StationOffline
from evscada.core.model import StationId
from evscada.storage.store import SqlStore
from tests.bus import cluster_nodes
from tests.bus.cluster_nodes import (
    RawStation,
    add_station,
    cluster,
    eventually,
    owner_value,
    owns,
)

# The cluster's fixtures, shared by the bus tests.
redis_client = cluster_nodes.redis_client
prefix = cluster_nodes.prefix
store = cluster_nodes.store


async def test_a_station_owned_by_its_node_while_connected_and_released_when_it_leaves(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1")).open()
        assert await eventually(lambda: owns(a, "CP1"))
        value = await owner_value(redis_client, prefix, "CP1")
        assert value is not None and value.startswith("node-a ")
        assert await b.ownership.owner_of("CP1") == "node-a"
        ttl = await redis_client.pttl(f"{prefix}:owner:CP1")
        assert 0 < ttl <= 3000  # expires unless renewed

        await asyncio.sleep(2.5)  # past a renewal (every second with a 3 s lifetime): still held, still expiring
        assert (await owner_value(redis_client, prefix, "CP1")) == value
        assert 0 < await redis_client.pttl(f"{prefix}:owner:CP1") <= 3000

        await station.close()
        assert await eventually(lambda: _gone(redis_client, prefix, "CP1"))
        assert await b.ownership.owner_of("CP1") is None
        assert not a.ownership.holds("CP1")


async def _gone(client: Any, prefix: str, station_id: str) -> bool:
    return await owner_value(client, prefix, station_id) is None


async def test_reconnecting_to_another_node_closes_the_first_session_and_moves_the_owner(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        first = await RawStation(a.url("CP1")).open()
        assert await eventually(lambda: owns(a, "CP1"))

        second = await RawStation(b.url("CP1"), "ocpp2.0.1").open()
        await asyncio.wait_for(first.closed.wait(), 10)
        assert first.close_reason == "taken over by node node-b"
        assert await b.ownership.owner_of("CP1") == "node-b"
        assert await eventually(lambda: a.registry.get(StationId("CP1")) is None)
        assert b.registry.get(StationId("CP1")) is not None
        assert not second.closed.is_set()
        # The station never went offline: its first session ended because it is connected elsewhere.
        await asyncio.sleep(0.5)  # connection state reaches the database in a group commit
        [station] = [s for s in await b.core.stations.list() if s.id == "CP1"]
        assert station.online

        await asyncio.sleep(2.5)  # renewals on both nodes change nothing
        assert await a.ownership.owner_of("CP1") == "node-b"
        assert not second.closed.is_set()
        await second.close()


async def test_two_connections_of_one_station_racing_on_two_nodes_leave_exactly_one_owner(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        nodes = {"node-a": a, "node-b": b}
        for round_ in range(15):
            # Two connections to each node at once, in an order that differs per round.
            targets = [a, b, a, b] if round_ % 2 else [b, a, b, a]
            stations = [RawStation(node.url("CP1")) for node in targets]
            await asyncio.gather(*(s.open() for s in stations))

            async def settled(stations: list[RawStation] = stations) -> bool:
                open_ = [s for s in stations if not s.closed.is_set()]
                holders = [n for n in nodes.values() if n.registry.get(StationId("CP1")) is not None]
                return len(open_) == 1 and len(holders) == 1

            assert await eventually(settled, timeout=15), (
                f"round {round_}: {sum(not s.closed.is_set() for s in stations)} sessions open"
            )
            [survivor] = [(s, n) for s, n in zip(stations, targets, strict=True) if not s.closed.is_set()]
            owner = await a.ownership.owner_of("CP1")
            assert owner == survivor[1].name, f"round {round_}: the key names {owner}, the open session is on "
            assert nodes[owner].ownership.holds("CP1")
            other = b if owner == "node-a" else a
            assert not other.ownership.holds("CP1")
            for s in stations:
                await s.close()
            assert await eventually(lambda: _gone(redis_client, prefix, "CP1"))

        # And one that stays: renewals keep exactly one owner.
        stations = [RawStation(node.url("CP1")) for node in (a, b, b, a)]
        await asyncio.gather(*(s.open() for s in stations))
        await asyncio.sleep(3.5)
        open_ = [s for s in stations if not s.closed.is_set()]
        assert len(open_) == 1
        assert sum(n.registry.get(StationId("CP1")) is not None for n in (a, b)) == 1
        for s in stations:
            await s.close()


async def test_a_taken_key_found_at_renewal_closes_the_local_session(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    """A kick that never arrived (another node claimed while this one was not listening): the renewal sees it."""
    async with cluster(redis_client, prefix, store, "node-a") as (a,):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1")).open()
        assert await eventually(lambda: owns(a, "CP1"))
        await redis_client.set(f"{prefix}:owner:CP1", "node-c 0123", px=10_000)  # nobody told node-a

        await asyncio.wait_for(station.closed.wait(), 5)  # within a renewal period (1 s) and some
        assert station.close_reason == "taken over by node node-c"
        assert await owner_value(redis_client, prefix, "CP1") == "node-c 0123"  # not deleted: not ours


async def test_a_vanished_key_is_claimed_again_by_the_live_session(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a") as (a,):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1")).open()
        assert await eventually(lambda: owns(a, "CP1"))
        value = await owner_value(redis_client, prefix, "CP1")
        await redis_client.delete(f"{prefix}:owner:CP1")  # Redis restarted empty, say

        assert await eventually(lambda: _is(redis_client, prefix, "CP1", value), timeout=5)
        assert not station.closed.is_set()
        await station.close()


async def _is(client: Any, prefix: str, station_id: str, value: str | None) -> bool:
    return await owner_value(client, prefix, station_id) == value


async def test_a_killed_owner_answers_offline_at_once_and_its_station_moves_without_waiting(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b", ttl=30.0) as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1")).open()
        assert await eventually(lambda: owns(a, "CP1"))
        await a.kill()
        await asyncio.wait_for(station.closed.wait(), 10)
        assert await b.ownership.owner_of("CP1") == "node-a"  # its key lives on until it expires (30 s)

        started = time.monotonic()
        with pytest.raises(StationOffline, match="held by node node-a, which is gone; nothing was sent"):
            await b.routing.execute(station_id=StationId("CP1"), command=Reset())
        assert time.monotonic() - started < 1.0  # no waiting for a timeout

        again = await RawStation(b.url("CP1")).open()
        assert await eventually(lambda: owns(b, "CP1"), timeout=2)
        assert await b.ownership.owner_of("CP1") == "node-b"  # claimed at once, 30 s before the old key's expiry
        outcome = await b.core.commands.send(station_id=StationId("CP1"), command=Reset(), actor="test")
        assert outcome.status == "Accepted"
        await again.close()


class RedisDoor:
    """A TCP door in front of the real Redis that a test shuts and opens again: Redis away and back."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379) -> None:
        self._target = (host, port)
        self._open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.shut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def shut(self) -> None:
        self._open = False
        for writer in list(self._writers):
            writer.close()

    def open(self) -> None:
        self._open = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()
                self._writers.discard(sink)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_a_station_is_served_while_redis_is_away_and_claimed_once_it_is_back(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    import redis.asyncio as aioredis

    from tests.bus.cluster_nodes import REDIS_URL, Node

    door = RedisDoor(*_host_port(REDIS_URL))
    await door.start()
    through_door = aioredis.Redis(host="127.0.0.1", port=door.port, socket_timeout=1, socket_connect_timeout=1)
    a = Node("node-a", client=through_door, prefix=prefix, store=store)
    b = Node("node-b", client=redis_client, prefix=prefix, store=store)
    await a.start()
    await b.start()
    try:
        await add_station(a, "CP1")
        door.shut()
        station = await RawStation(a.url("CP1")).open()  # admitted: availability first
        assert await eventually(lambda: a.registry.get(StationId("CP1")) is not None)
        await asyncio.sleep(1.5)  # a renewal round fails meanwhile
        assert not station.closed.is_set()
        assert await owner_value(redis_client, prefix, "CP1") is None
        with pytest.raises(StationOffline):  # other nodes cannot know where it is
            await b.routing.execute(station_id=StationId("CP1"), command=Reset())

        door.open()
        assert await eventually(lambda: owns(a, "CP1"), timeout=10)
        assert not station.closed.is_set()

        # node-a's channel subscribed again: commands from other nodes reach the station
        async def routed() -> bool:
            try:
                return (await b.routing.execute(station_id=StationId("CP1"), command=Reset())).status == "Accepted"
            except StationOffline:
                return False

        assert await eventually(routed, timeout=10, interval=0.5)
        await station.close()
    finally:
        await b.stop()
        door.open()
        await a.stop()
        await through_door.aclose()
        await door.stop()


def _host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379
