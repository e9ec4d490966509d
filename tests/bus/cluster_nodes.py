"""Two or more gateway nodes in one test process, joined by a real Redis (ADR 12), and raw OCPP stations.

Each node is what a gateway process holds in a cluster: its own session registry and gateway on an ephemeral port,
its node channel, station ownership, command server and routing commander, and a core whose commander is the
routing one. The nodes share one SQLite database (the cluster's shared PostgreSQL stands for it here)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from evscada.bus.frames import FrameServer, RemoteFrames
from evscada.bus.local import LocalBus
from evscada.bus.node_channel import NodeChannel
from evscada.bus.ownership import StationOwnership
from evscada.bus.routing import CommandServer, RoutingCommander
from evscada.core.clock import SystemClock
from evscada.core.model import RegistrationStatus, SecurityProfile, StationId
from evscada.core.services import Core, CoreConfig
from evscada.gateway.commander import GatewayCommander
from evscada.gateway.ocpp16.handlers import ADAPTER as OCPP16
from evscada.gateway.ocpp201.handlers import ADAPTER as OCPP201
from evscada.gateway.registry import SessionRegistry
from evscada.gateway.server import Gateway, GatewayConfig
from evscada.gateway.services import StationServices
from evscada.security.passwords import Argon2Hasher
from evscada.storage.db import Database
from evscada.storage.store import SqlStore
from tests.conftest import REQUIRE_SERVICES, _migrated_sqlite_template

REDIS_URL = os.environ.get("EVSCADA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        await client.aclose()
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"cluster tests need Redis at {REDIS_URL} (EVSCADA_TEST_REDIS_URL): {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis_client: Any) -> AsyncIterator[str]:
    """A cluster of its own per test; its keys are deleted afterwards."""
    name = f"evscada-test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = [key async for key in redis_client.scan_iter(match=f"{name}:*")]
    if keys:
        await redis_client.delete(*keys)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    path = tmp_path / "evscada.db"
    shutil.copyfile(await _migrated_sqlite_template(), path)
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.migrate()
    sql_store = SqlStore(database)
    yield sql_store
    await sql_store.close()
    await database.close()


class Node:
    """One gateway process of the cluster."""

    def __init__(
        self,
        name: str,
        *,
        client: Any,
        prefix: str,
        store: SqlStore,
        ttl: float = 3.0,
        call_timeout: float = 2.0,
        route_timeout: float | None = None,
    ) -> None:
        self.name = name
        self.client = client
        self.registry = SessionRegistry()
        self.channel = NodeChannel(client, node_id=name, prefix=prefix)
        self.ownership = StationOwnership(client, node_id=name, prefix=prefix, ttl_seconds=ttl, channel=self.channel)
        local = GatewayCommander(self.registry)
        self.server = CommandServer(client, node_id=name, prefix=prefix, local=local, channel=self.channel)
        self.routing = RoutingCommander(
            client,
            node_id=name,
            prefix=prefix,
            ownership=self.ownership,
            local=local,
            timeout=route_timeout if route_timeout is not None else call_timeout + 2,
        )
        FrameServer(self.channel, self.local_frames)
        self.frames = RemoteFrames(self.channel, self.ownership, self.local_frames, timeout=2.0)
        self.core = Core.build(
            store=store,
            bus=LocalBus(),
            clock=SystemClock(),
            hasher=Argon2Hasher(),
            commander=self.routing,
            config=CoreConfig(heartbeat_interval=60),
        )
        self.gateway = Gateway(
            services=StationServices.of(self.core),
            adapters=[OCPP16, OCPP201],
            config=GatewayConfig(host="127.0.0.1", port=0, call_timeout=call_timeout, ping_interval=None),
            registry=self.registry,
            claims=self.ownership,
        )

    async def start(self) -> None:
        await self.channel.start()
        await self.ownership.start()
        await self.server.start()
        await self.gateway.start()

    async def stop(self) -> None:
        await self.gateway.stop()
        await self.routing.stop()
        await self.server.stop()
        await self.ownership.stop()
        await self.channel.stop()

    async def kill(self) -> None:
        """As if the process died: nothing released, nobody listening on its channel, its sockets gone."""
        await self.ownership.stop(release=False)
        await self.channel.stop()
        await self.gateway.stop()

    def local_frames(self, station_id: StationId) -> list[tuple[float, str, str]]:
        session = self.registry.get(station_id)
        return list(session.frames) if session is not None else []

    def url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.gateway.ports['ws']}/ocpp/{station_id}"


@contextlib.asynccontextmanager
async def cluster(client: Any, prefix: str, store: SqlStore, *names: str, **options: Any) -> AsyncIterator[list[Node]]:
    nodes = [Node(name, client=client, prefix=prefix, store=store, **options) for name in names]
    for node in nodes:
        await node.start()
    try:
        yield nodes
    finally:
        for node in nodes:
            await node.stop()


async def add_station(node: Node, station_id: str) -> None:
    await node.core.stations.register(
        station_id=StationId(station_id),
        security_profile=SecurityProfile(0),
        password=None,
        registration=RegistrationStatus.ACCEPTED,
    )


class RawStation:
    """A station on a plain `websockets` client: answers each CALL as `mode` says (answer, silent, error)."""

    def __init__(self, url: str, subprotocol: str = "ocpp1.6", *, mode: str = "answer") -> None:
        self.url = url
        self.subprotocol = subprotocol
        self.mode = mode
        self.calls: list[list[Any]] = []
        self.ws: ClientConnection | None = None
        self.closed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> RawStation:
        self.ws = await connect(
            self.url, subprotocols=[Subprotocol(self.subprotocol)], open_timeout=10, ping_interval=None
        )
        self._reader = asyncio.create_task(self._read())
        return self

    @property
    def close_reason(self) -> str | None:
        return None if self.ws is None else self.ws.close_reason

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] != 2:
                    continue
                self.calls.append(frame)
                if self.mode == "answer":
                    await self.ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                elif self.mode == "error":
                    await self.ws.send(json.dumps([4, frame[1], "InternalError", "relay stuck", {}]))
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()


async def eventually(check: Any, *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll a predicate (plain or async) until it is truthy; the last result otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)


async def owner_value(client: Any, prefix: str, station_id: str) -> str | None:
    value = await client.get(f"{prefix}:owner:{station_id}")
    return value.decode() if isinstance(value, bytes) else value


async def owns(node: Node, station_id: str) -> bool:
    """Whether Redis names `node` as the station's owner (what other nodes route by)."""
    return await node.ownership.owner_of(station_id) == node.name
