"""The leader lease: the work that must run once per cluster runs in the one process holding it (ADR 12)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

# Extend the lease only if it is still ours: a lease that lapsed and was taken by another process stays theirs.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leadership:
    """Takes the lease `<prefix>:leader` when it is free, renews it, and runs `elected` / `deposed` around it.

    Renewal every third of the lease; a holder that could not renew for two thirds of it (Redis away, the process
    starved) steps down before the lease can lapse, so two processes never both believe they lead for longer than
    a renewal's round trip. A killed holder's lease lapses and another process takes it within `lease_seconds`.
    """

    def __init__(
        self,
        client: Any,  # redis.asyncio.Redis
        *,
        node_id: str,
        prefix: str,
        lease_seconds: float,
        elected: Callable[[], Awaitable[None]],
        deposed: Callable[[], Awaitable[None]],
    ) -> None:
        self._redis = client
        self._key = f"{prefix}:leader"
        self.node_id = node_id
        self._lease_ms = int(lease_seconds * 1000)
        self._elected = elected
        self._deposed = deposed
        self._task: asyncio.Task[None] | None = None
        self.leading = False
        self.elections = 0  # times this process became leader
        self.last_error: str | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="leader-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.leading:
            await self._step_down("stopping")
            with contextlib.suppress(Exception):
                await self._redis.eval(_RELEASE, 1, self._key, self.node_id)  # the next leader need not wait

    async def leader(self) -> str | None:
        """The node holding the lease now, as Redis says."""
        value = await self._redis.get(self._key)
        return value.decode() if isinstance(value, bytes) else value

    def health(self) -> dict[str, object]:
        return {
            "node": self.node_id,
            "leading": self.leading,
            "elections": self.elections,
            "last_error": self.last_error,
        }

    async def _run(self) -> None:
        period = self._lease_ms / 3000
        renewed_at = 0.0
        while True:
            try:
                if self.leading:
                    ours = await self._redis.eval(_RENEW, 1, self._key, self.node_id, self._lease_ms)
                    if ours:
                        renewed_at = time.monotonic()
                    else:
                        await self._step_down("the lease was lost to another process")
                elif await self._redis.set(self._key, self.node_id, nx=True, px=self._lease_ms):
                    renewed_at = time.monotonic()
                    self.leading = True
                    self.elections += 1
                    log.info("%s leads the cluster: starting the work that runs once per cluster", self.node_id)
                    try:
                        await self._elected()
                    except Exception:
                        log.exception("starting the leader's work failed; stepping down")
                        await self._step_down("its work failed to start")
                        with contextlib.suppress(Exception):
                            await self._redis.eval(_RELEASE, 1, self._key, self.node_id)
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: keep trying; step down before the lease can lapse
                if self.last_error is None:
                    log.warning("leader lease: Redis fails (%s); retrying every %.1f s", exc, period)
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.leading and time.monotonic() - renewed_at > 2 * period:
                    await self._step_down("the lease could not be renewed")
            await asyncio.sleep(period)

    async def _step_down(self, why: str) -> None:
        self.leading = False
        log.warning(
            "%s no longer leads the cluster (%s): stopping the work that runs once per cluster", self.node_id, why
        )
        try:
            await self._deposed()
        except Exception:
            log.exception("stopping the leader's work failed")
