"""Commands to stations on another node (ADR 12, "Commands"): real Redis, real gateways, real OCPP stations."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from evscada.bus.node_channel import NodeChannel
from evscada.bus.routing import CommandServer, RemoteCommandFailed
from evscada.core.control.commands import (
    ChangeAvailability,
    Command,
    CommandOutcomeKind,
    CommandReply,
    GetBaseReport,
    Reset,
)
from evscada.core.errors import CommandCallError, CommandNotSupported, CommandTimeout, DomainError, StationOffline
from evscada.core.model import StationId
from evscada.storage.store import SqlStore
from tests.bus import cluster_nodes
from tests.bus.cluster_nodes import (
    RawStation,
    add_station,
    cluster,
    eventually,
    owns,
)

# The cluster's fixtures, shared by the bus tests.
redis_client = cluster_nodes.redis_client
prefix = cluster_nodes.prefix
store = cluster_nodes.store

CP1 = StationId("CP1")


@pytest.mark.parametrize(
    ("subprotocol", "action", "payload"),
    [("ocpp1.6", "Reset", {"type": "Soft"}), ("ocpp2.0.1", "Reset", {"type": "OnIdle"})],
)
async def test_a_command_from_another_node_reaches_the_station_and_its_answer_comes_back(
    redis_client: Any, prefix: str, store: SqlStore, subprotocol: str, action: str, payload: dict[str, Any]
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1"), subprotocol).open()
        assert await eventually(lambda: owns(a, "CP1"))

        outcome = await b.core.commands.send(station_id=CP1, command=Reset(), actor="operator")

        assert outcome.outcome == CommandOutcomeKind.ANSWERED
        assert outcome.status == "Accepted"
        assert [(frame[2], frame[3]) for frame in station.calls] == [(action, payload)]
        assert a.server.served == 1  # node-a ran it for node-b
        await station.close()


async def test_a_command_for_a_station_on_this_node_runs_here_without_a_trip_through_redis(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(b.url("CP1")).open()
        assert await eventually(lambda: owns(b, "CP1"))

        reply = await b.routing.execute(station_id=CP1, command=ChangeAvailability(operative=False))

        assert reply == CommandReply("Accepted", reply.data)
        assert station.calls[0][2] == "ChangeAvailability"
        assert (a.server.served, b.server.served) == (0, 0)
        await station.close()


async def test_a_station_connected_nowhere_is_offline_and_nothing_is_sent(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        with pytest.raises(StationOffline, match="station CP1 is not connected to any node; nothing was sent"):
            await b.routing.execute(station_id=CP1, command=Reset())
        outcome = await b.core.commands.send(station_id=CP1, command=Reset(), actor="operator")
        assert outcome.outcome == CommandOutcomeKind.OFFLINE
        assert (a.server.served, b.server.served) == (0, 0)


async def _same_error_here_and_there(a: Any, b: Any, command: Command) -> tuple[DomainError, DomainError]:
    """The error of a command run on the station's own node and of the same command routed from the other."""
    with pytest.raises(DomainError) as here:
        await a.routing.execute(station_id=CP1, command=command)
    with pytest.raises(DomainError) as there:
        await b.routing.execute(station_id=CP1, command=command)
    assert type(there.value) is type(here.value)
    assert str(there.value) == str(here.value)
    assert there.value.message == here.value.message
    return here.value, there.value


async def test_a_callerror_from_the_station_crosses_as_the_same_error(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1"), mode="error").open()
        assert await eventually(lambda: owns(a, "CP1"))

        _, there = await _same_error_here_and_there(a, b, Reset())

        assert isinstance(there, CommandCallError)
        assert there.ocpp_code == "InternalError"
        assert there.message == "the station answered InternalError: relay stuck"
        outcome = await b.core.commands.send(station_id=CP1, command=Reset(), actor="operator")
        assert outcome.outcome == CommandOutcomeKind.CALL_ERROR
        await station.close()


async def test_a_command_the_station_version_lacks_crosses_as_not_supported(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b") as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1"), "ocpp1.6").open()
        assert await eventually(lambda: owns(a, "CP1"))

        _, there = await _same_error_here_and_there(a, b, GetBaseReport())

        assert isinstance(there, CommandNotSupported)
        with pytest.raises(CommandNotSupported):
            await b.core.commands.send(station_id=CP1, command=GetBaseReport(), actor="operator")
        assert station.calls == []
        await station.close()


async def test_a_station_that_never_answers_times_out_on_its_node_and_the_timeout_crosses(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b", call_timeout=1.0) as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1"), mode="silent").open()
        assert await eventually(lambda: owns(a, "CP1"))

        started = time.monotonic()
        _, there = await _same_error_here_and_there(a, b, Reset())

        assert isinstance(there, CommandTimeout)
        assert there.message == "station CP1 did not answer Reset in time"
        assert time.monotonic() - started < 5  # two calls of 1 s each, not the routing's own timeout
        await station.close()


async def test_a_node_that_never_answers_is_a_timeout_of_the_routing(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    """A node listens on its channel but its answer never comes (stuck, or lost): CommandTimeout, not a hang."""
    async with cluster(redis_client, prefix, store, "node-b", route_timeout=1.0) as (b,):
        mute = NodeChannel(redis_client, node_id="node-z", prefix=prefix)  # subscribed, handles nothing
        await mute.start()
        try:
            await redis_client.set(f"{prefix}:owner:CP1", "node-z 0001", px=10_000)
            started = time.monotonic()
            with pytest.raises(CommandTimeout, match="station CP1 on node node-z did not answer reset within 1 s"):
                await b.routing.execute(station_id=CP1, command=Reset())
            assert 1.0 <= time.monotonic() - started < 3
        finally:
            await mute.stop()


class _Broken:
    """A serving node whose commander fails with a bug (not a domain error)."""

    async def execute(self, *, station_id: StationId, command: Command) -> CommandReply:
        raise KeyError("evse 7")


async def test_a_failure_on_the_serving_node_comes_back_as_an_error_at_once(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-b", route_timeout=30.0) as (b,):
        server = CommandServer(redis_client, node_id="node-z", prefix=prefix, local=_Broken())
        await server.start()
        try:
            await redis_client.set(f"{prefix}:owner:CP1", "node-z 0001", px=10_000)
            started = time.monotonic()
            with pytest.raises(RemoteCommandFailed, match=r"node node-z failed to run the command .*KeyError"):
                await b.routing.execute(station_id=CP1, command=Reset())
            assert time.monotonic() - started < 5  # answered, not left to the 30 s timeout
        finally:
            await server.stop()


async def test_a_station_leaving_while_its_command_is_on_the_way_is_offline(
    redis_client: Any, prefix: str, store: SqlStore
) -> None:
    async with cluster(redis_client, prefix, store, "node-a", "node-b", call_timeout=5.0) as (a, b):
        await add_station(a, "CP1")
        station = await RawStation(a.url("CP1"), mode="silent").open()
        assert await eventually(lambda: owns(a, "CP1"))

        command = asyncio.create_task(b.routing.execute(station_id=CP1, command=Reset()))
        assert await eventually(lambda: station.calls)
        await station.close()
        with pytest.raises(StationOffline, match="disconnected before answering Reset"):
            await asyncio.wait_for(command, 5)
