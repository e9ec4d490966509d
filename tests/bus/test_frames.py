"""The console of any node shows the recent OCPP frames of a station held by another node (ADR 12)."""

from __future__ import annotations

import json
import time
from typing import Any

from evscada.core.control.commands import Reset
from evscada.core.model import StationId
from evscada.storage.store import SqlStore
from tests.bus import cluster_nodes
from tests.bus.cluster_nodes import RawStation, add_station, cluster, eventually, owns

redis_client = cluster_nodes.redis_client
prefix = cluster_nodes.prefix
store = cluster_nodes.store

CP1 = StationId("CP1")


async def test_another_node_reads_the_frames_of_a_station_held_elsewhere(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1")).open()
        assert await eventually(lambda: owns(a, "CP1"))
        await b.core.commands.send(station_id=CP1, command=Reset(), actor="operator")

        frames = await b.frames.frames(CP1)

        assert frames == a.local_frames(CP1)  # the same frames, in the same order, as node-a holds them
        calls = [json.loads(text) for _, _, text in frames]
        assert [call[2] for call in calls if call[0] == 2] == ["Reset"]
        assert any(call[0] == 3 and call[2] == {"status": "Accepted"} for call in calls)
        assert await b.frames.frames(CP1, limit=1) == frames[-1:]
        await station.close()


async def test_no_frames_for_a_station_connected_nowhere_or_on_a_node_that_is_gone(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        assert await b.frames.frames(StationId("NOWHERE")) == []

        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1")).open()
        assert await eventually(lambda: owns(a, "CP1"))
        await a.kill()  # its ownership key stays until it expires, but nobody listens on its channel

        started = time.monotonic()
        assert await b.frames.frames(CP1) == []
        assert time.monotonic() - started < 1.0  # known at once: no node received the question
        await station.close()
