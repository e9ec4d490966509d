"""Which node holds each station's connection: `<prefix>:owner:<station>` = "<node> <session token>" (ADR 12).

The last connection wins: a claim sets the key unconditionally and gets the previous value back; a previous
session elsewhere (another node, or an older one on this node) is told on its node's channel to close. Each node
renews the keys it holds every third of their lifetime, only while they are still its own; a key found taken
closes the local session, so a lost message cannot leave two owners. A session's end deletes the key only if it
still holds that session's token. Implements the gateway's `StationClaims` (gateway/registry.py) without either
package importing the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from evscada.bus.node_channel import Message, NodeChannel, shared_or_own

log = logging.getLogger(__name__)

KICK = "kick"
_BATCH = 500  # renewals per pipeline round trip

# Renew only our own value; a key gone (expired while Redis was away, or flushed) is ours again, since our session
# is alive. Returns 1 renewed, 2 claimed again, or the value of whoever holds it now.
_RENEW = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return held
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Drop = Callable[[str], Awaitable[None]]


@dataclass(eq=False)
class _Claim:
    station_id: str
    token: str
    drop: Drop
    confirmed: bool = False  # False while Redis has not taken it (away at the claim): the renewal claims it


@dataclass(eq=False)
class _StationLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _owner(value: str) -> tuple[str, str]:
    """(node, token) of an owner value; node ids may hold spaces, tokens do not."""
    node, _, token = value.rpartition(" ")
    return node, token


class StationOwnership:
    """This node's claims on the stations connected to it, kept in Redis while their sessions live."""

    def __init__(
        self,
        client: Any,  # redis.asyncio.Redis
        *,
        node_id: str,
        prefix: str,
        ttl_seconds: float,
        channel: NodeChannel | None = None,
    ) -> None:
        """`channel`: the node's shared channel, started by whoever built it; None makes (and runs) one of our own."""
        self._redis = client
        self._renew_script = client.register_script(_RENEW)
        self.node_id = node_id
        self._prefix = prefix
        self._ttl_ms = int(ttl_seconds * 1000)
        # Longest wait for one Redis answer: a session's start waits for its claim. A claim that timed out is made
        # again by the renewal (finding its own value, it tells nobody to close).
        self._wait = min(2.0, max(0.5, ttl_seconds / 3))
        self.channel, self._own_channel = shared_or_own(client, node_id=node_id, prefix=prefix, channel=channel)
        self.channel.on(KICK, self._kicked)
        self._held: dict[str, _Claim] = {}  # station -> the claim of its newest session on this node
        self._locks: dict[str, _StationLock] = {}  # one claim or release per station at a time, in call order
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._dropping: set[asyncio.Task[None]] = set()
        self.last_error: str | None = None

    def key(self, station_id: str) -> str:
        return f"{self._prefix}:owner:{station_id}"

    def value(self, token: str) -> str:
        return f"{self.node_id} {token}"

    @property
    def held(self) -> int:
        return len(self._held)

    async def start(self) -> None:
        self._running = True
        if self._own_channel:
            await self.channel.start()
        self._task = asyncio.create_task(self._keep_renewed(), name="station-ownership")

    async def stop(self, *, release: bool = True) -> None:
        """Stop renewing; `release` deletes the keys still held (False leaves them to expire, as a killed process
        would)."""
        self._running = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own_channel:
            await self.channel.stop()
        held, self._held = list(self._held.values()), {}
        if release:
            for claim in held:
                with contextlib.suppress(Exception):
                    await self._redis.eval(_RELEASE, 1, self.key(claim.station_id), self.value(claim.token))
        if self._dropping:
            await asyncio.gather(*self._dropping, return_exceptions=True)

    async def owner_of(self, station_id: str) -> str | None:
        """The node holding the station's connection, or None; raises the client's error when Redis fails."""
        value = _text(await self._redis.get(self.key(station_id)))
        return None if value is None else _owner(value)[0]

    def holds(self, station_id: str) -> bool:
        """Whether a session of this node has claimed the station (what this node believes, Redis aside)."""
        return station_id in self._held

    async def claim(self, station_id: str, token: str, drop: Drop) -> None:
        """Make this session the station's owner; the previous owner's session is told to close. Redis away: the
        station is served anyway (availability first) and the renewal claims it once Redis is back."""
        if not self._running:
            return
        claim = _Claim(station_id, token, drop)
        self._held[station_id] = claim  # at once, in the order the gateway admitted the sessions
        async with self._lock(station_id):
            if self._held.get(station_id) is not claim:
                return  # a newer session of the station on this node came first; this one is being closed
            await self._take(claim)

    async def release(self, station_id: str, token: str) -> None:
        """The session ended: delete the key if it still names this session."""
        claim = self._held.get(station_id)
        if claim is not None and claim.token == token:
            del self._held[station_id]
        if not self._running:
            return
        async with self._lock(station_id):
            try:
                await asyncio.wait_for(
                    self._redis.eval(_RELEASE, 1, self.key(station_id), self.value(token)), self._wait
                )
            except Exception as exc:  # the key expires on its own
                log.warning(
                    "%s: releasing its ownership failed (%r); it expires within %g s",
                    station_id,
                    exc,
                    self._ttl_ms / 1000,
                )

    @contextlib.asynccontextmanager
    async def _lock(self, station_id: str) -> AsyncIterator[None]:
        entry = self._locks.get(station_id)
        if entry is None:
            entry = self._locks[station_id] = _StationLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[station_id]

    async def _take(self, claim: _Claim) -> None:
        """SET ... GET: ours now, whatever was there; a previous session elsewhere is told to close."""
        try:
            previous = _text(
                await asyncio.wait_for(
                    self._redis.set(self.key(claim.station_id), self.value(claim.token), px=self._ttl_ms, get=True),
                    self._wait,
                )
            )
        except Exception as exc:
            log.warning(
                "%s: admitted without an ownership record: Redis fails (%s); claimed once Redis is back",
                claim.station_id,
                exc,
            )
            return
        claim.confirmed = True
        if previous is None or previous == self.value(claim.token):
            return
        node, token = _owner(previous)
        message = {"type": KICK, "station_id": claim.station_id, "token": token, "by": self.node_id}
        if node == self.node_id:
            await self._kicked(message)  # an older session here that the gateway has not replaced (yet)
            return
        try:
            receivers = await self.channel.publish(node, message)
        except Exception as exc:  # its renewal finds the key taken and closes the session itself
            log.warning("%s: telling node %s to close its session failed (%s)", claim.station_id, node, exc)
            return
        if receivers == 0:
            log.info("%s: taken over from node %s, which no longer listens", claim.station_id, node)
        else:
            log.info("%s: taken over from node %s", claim.station_id, node)

    async def _kicked(self, message: Message) -> None:
        """Another session claimed the station: close ours if it is the one named."""
        station_id, token, by = message.get("station_id"), message.get("token"), message.get("by", "?")
        claim = self._held.get(station_id) if isinstance(station_id, str) else None
        if claim is None or claim.token != token:
            return  # that session ended already, or a newer one of ours took its place
        del self._held[claim.station_id]
        self._drop(claim, f"taken over by node {by}")

    def _drop(self, claim: _Claim, reason: str) -> None:
        """Close the session in the background: a dead peer never answers the close (websockets waits 10 s)."""
        task = asyncio.create_task(self._close(claim, reason))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def _close(self, claim: _Claim, reason: str) -> None:
        log.info("%s: closing its session here: %s", claim.station_id, reason)
        try:
            await claim.drop(reason)
        except Exception:
            log.exception("%s: closing the session taken over failed", claim.station_id)

    async def _keep_renewed(self) -> None:
        period = self._ttl_ms / 3000
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew()
                if self.last_error is not None:
                    log.info("station ownership: Redis answers again")
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.last_error is None:
                    log.warning("station ownership: renewing failed (%s); retrying every %.1f s", exc, period)
                self.last_error = f"{type(exc).__name__}: {exc}"

    async def renew(self) -> None:
        """One round: renew every key held, claim those Redis did not take, close sessions whose key is taken."""
        claims = list(self._held.values())
        for claim in [c for c in claims if not c.confirmed]:
            async with self._lock(claim.station_id):
                if self._held.get(claim.station_id) is claim and not claim.confirmed:
                    await self._take(claim)
                    if not claim.confirmed:
                        raise ConnectionError("Redis did not take the claim")
        confirmed = [c for c in claims if c.confirmed]
        for start in range(0, len(confirmed), _BATCH):
            batch = confirmed[start : start + _BATCH]
            async with self._redis.pipeline(transaction=False) as pipe:
                for claim in batch:  # EVALSHA: the script's text crosses once, not once per station
                    await self._renew_script(
                        keys=[self.key(claim.station_id)], args=[self.value(claim.token), self._ttl_ms], client=pipe
                    )
                answers = await pipe.execute()
            for claim, answer in zip(batch, answers, strict=True):
                current = self._held.get(claim.station_id) is claim
                if answer == 2:
                    if current:
                        log.info("%s: its ownership record had gone; claimed again", claim.station_id)
                    else:  # the session ended while the renewal was under way: undo the claim
                        await self.release(claim.station_id, claim.token)
                elif answer != 1 and current:
                    node, _ = _owner(_text(answer) or "")
                    del self._held[claim.station_id]
                    self._drop(claim, f"taken over by node {node}")
