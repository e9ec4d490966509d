"""The leader lease: exactly one process runs the once-per-cluster work; a stopped or killed leader is replaced."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import pytest

from evscada.bus.leases import Leadership
from tests.bus.cluster_nodes import redis_client  # noqa: F401  # the fixture

LEASE = 2.0


class Work:
    """What a node runs while it leads: counts its starts and stops, and whether it runs now."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0
        self.stops = 0

    async def start(self) -> None:
        self.running, self.starts = True, self.starts + 1

    async def stop(self) -> None:
        self.running, self.stops = False, self.stops + 1


def _node(client: Any, prefix: str, name: str) -> tuple[Leadership, Work]:
    work = Work()
    return (
        Leadership(client, node_id=name, prefix=prefix, lease_seconds=LEASE, elected=work.start, deposed=work.stop),
        work,
    )


async def _until(check: Any, timeout: float, what: str) -> float:
    """Seconds until check() holds."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_one_leader_of_three_and_a_stopped_one_hands_over_at_once(redis_client: Any) -> None:  # noqa: F811
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    nodes = [_node(redis_client, prefix, f"n{i}") for i in range(3)]
    for leadership, _ in nodes:
        await leadership.start()
    try:
        await _until(lambda: any(w.running for _, w in nodes), 5, "a leader")
        await asyncio.sleep(LEASE * 1.5)  # several renewals: still exactly one
        leaders = [lead for lead, w in nodes if w.running]
        assert len(leaders) == 1, [lead.node_id for lead in leaders]
        assert await leaders[0].leader() == leaders[0].node_id
        assert [w.starts for _, w in nodes].count(1) == 1 and sum(w.starts for _, w in nodes) == 1

        await leaders[0].stop()  # a clean stop frees the lease: the next takes it at its next try
        others = [(lead, w) for lead, w in nodes if lead is not leaders[0]]
        took = await _until(lambda: any(w.running for _, w in others), 5, "a new leader after a clean stop")
        assert took < LEASE, took
        assert sum(1 for _, w in others if w.running) == 1
    finally:
        for leadership, _ in nodes:
            await leadership.stop()


async def test_a_killed_leader_is_replaced_within_the_lease(redis_client: Any) -> None:  # noqa: F811
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    first, first_work = _node(redis_client, prefix, "first")
    await first.start()
    await _until(lambda: first_work.running, 5, "the first leader")
    second, second_work = _node(redis_client, prefix, "second")
    await second.start()
    try:
        await asyncio.sleep(LEASE)
        assert not second_work.running, "two leaders"
        # Killed: its renewals stop, nothing is released (as with kill -9).
        assert first._task is not None
        first._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first._task
        first._task = None
        took = await _until(lambda: second_work.running, LEASE * 3, "the second taking over")
        assert took <= LEASE + LEASE / 3 + 1, took
        assert await second.leader() == "second"
    finally:
        first.leading = False  # it was killed: nothing of it runs
        await second.stop()


async def test_a_leader_that_lost_its_lease_stops_its_work(redis_client: Any) -> None:  # noqa: F811
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    leadership, work = _node(redis_client, prefix, "only")
    await leadership.start()
    try:
        await _until(lambda: work.running, 5, "leading")
        # Someone else holds the lease now (it lapsed while this process stalled, and another took it).
        await redis_client.set(f"{prefix}:leader", "intruder", px=int(LEASE * 1000))
        await _until(lambda: not work.running, LEASE, "stepping down")
        assert work.stops == 1 and leadership.health()["leading"] is False
    finally:
        await leadership.stop()


@pytest.mark.parametrize("role", ["gateway", "api"])
def test_a_role_of_its_own_needs_redis_and_postgresql(role: str) -> None:
    from pydantic import ValidationError

    from evscada.settings import Settings

    with pytest.raises(ValidationError, match=r"needs cluster\.redis_url"):
        Settings(cluster={"role": role})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="SQLite"):
        Settings(cluster={"role": role, "redis_url": "redis://127.0.0.1:6379/0"})  # type: ignore[arg-type]
    settings = Settings(
        database_url="postgresql+asyncpg://db/evscada",
        cluster={"role": role, "redis_url": "redis://127.0.0.1:6379/0"},  # type: ignore[arg-type]
    )
    assert settings.cluster.enabled and settings.cluster.node  # hostname-pid when not named
