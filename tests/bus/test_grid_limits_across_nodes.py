"""A site's grid limits set through one process of a cluster reach the others (ADR 12): the leader, whose load
management applies them, and every api process, whose API and console show them; and the leader's view of each site
(allocations, plans, trend) reaches the api processes. Two nodes share one database (SQLite standing for the
cluster's PostgreSQL) and a real Redis bus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis

from evscada.bus.redis import RedisBus
from evscada.core.clock import SystemClock
from evscada.core.energy.grid import Limit, LimitPeriod
from evscada.core.energy.site_manager import SiteLoadManager
from evscada.core.services import Core, CoreConfig
from evscada.gateway.commander import GatewayCommander
from evscada.gateway.registry import SessionRegistry
from evscada.security.passwords import Argon2Hasher
from evscada.storage.store import SqlStore
from tests.bus.cluster_nodes import REDIS_URL, prefix, redis_client, store  # noqa: F401  # the fixtures
from tests.support import eventually


@contextlib.asynccontextmanager
async def node(
    name: str,
    prefix: str,  # noqa: F811
    store: SqlStore,  # noqa: F811
    *,
    leading: bool = False,
) -> AsyncIterator[tuple[Core, SiteLoadManager]]:
    """One process's core and load manager on the cluster's bus, following the sites' grid limits as `serve` has it
    do; the leader's also runs load management."""
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    bus = RedisBus(client, node_id=name, prefix=prefix)
    core = Core.build(
        store=store,
        bus=bus,
        clock=SystemClock(),
        hasher=Argon2Hasher(),
        commander=GatewayCommander(SessionRegistry()),
        config=CoreConfig(heartbeat_interval=60),
    )
    manager = SiteLoadManager(core=core, store=store, bus=bus, interval=60, share_views=True)
    following = asyncio.create_task(manager.follow())
    await bus.start()
    if leading:
        await manager.start()
    try:
        yield core, manager
    finally:
        await manager.stop()
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await bus.stop()
        await client.aclose()


async def test_a_limit_set_through_one_process_is_in_force_in_the_others(
    redis_client: Any,  # noqa: F811
    prefix: str,  # noqa: F811
    store: SqlStore,  # noqa: F811
) -> None:
    async with (
        node("api-1", prefix, store) as (core, api),
        node("gateway-1", prefix, store, leading=True) as (_, leader),
    ):
        site = await core.sites.create(name="Depot", grid_capacity_w=200e3)
        until = api.now() + timedelta(hours=1)

        await api.curtail(site_id=site.id, limit=Limit(watts=80e3), until=until, actor="grid-operator")

        async def curtailed_at_the_leader() -> bool:
            curtailment = leader.limits(site.id).curtailment
            return curtailment is not None and curtailment.limit.watts == 80e3

        assert await eventually(curtailed_at_the_leader), leader.limits(site.id)
        assert await eventually(lambda: _limit_w(leader, site.id, 80e3))  # what its load management shares out
        # The api process never recomputes: the trend it shows is the leader's, as are its site views.
        assert await eventually(lambda: _async(any(p.limit_w == 80e3 for p in api.history(site.id)))), api.history(
            site.id
        )
        shown = await api.draw(site_id=site.id)
        assert shown.limit.watts == 80e3 and shown.at == api.history(site.id)[-1].at  # made by the leader's recompute

        now = leader.now()
        curve = [LimitPeriod(now - timedelta(minutes=1), now + timedelta(hours=2), Limit(watts=150e3))]
        await leader.set_curve(site_id=site.id, curve=curve, actor="grid-operator")  # the other way round
        assert await eventually(lambda: _async(len(api.limits(site.id).curve) == 1)), api.limits(site.id)

        await api.lift_curtailment(site_id=site.id, actor="grid-operator")
        assert await eventually(lambda: _async(leader.limits(site.id).curtailment is None)), leader.limits(site.id)
        assert await eventually(lambda: _limit_w(leader, site.id, 150e3))  # the curve is left in force
        assert leader.limits(site.id).curve == api.limits(site.id).curve


async def _async(value: bool) -> bool:
    return value


async def _limit_w(manager: SiteLoadManager, site_id: Any, watts: float) -> bool:
    """Whether the site's limit in force, as the manager's last recompute shares it out, is `watts`."""
    return (await manager.draw(site_id=site_id)).limit.watts == watts
