"""The station's side of its connection: live messages while connected, a queue of transaction messages while not.

Real stations keep charging when the CSMS is out of reach and send what they owe, in order, once they are back;
so does this one. Only transaction messages (and fault events) are worth keeping: a status or heartbeat from an
hour ago means nothing, the station reports its present status when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from websockets.exceptions import WebSocketException

from evscada.simulator.tasks import cancel_quietly

if TYPE_CHECKING:
    from evscada.simulator.station import Link

log = logging.getLogger(__name__)

# A send that fails for these reasons failed because the connection went away, not because of what it said.
CONNECTION_ERRORS = (OSError, WebSocketException, TimeoutError)

Queued = Callable[["Link"], Awaitable[Any]]


class _OfTransaction:
    """A queued send that knows its transaction, so the station can say what it still owes for one."""

    __slots__ = ("send", "transaction")

    def __init__(self, send: Queued, transaction: str) -> None:
        self.send, self.transaction = send, transaction

    def __call__(self, link: Link) -> Awaitable[Any]:
        return self.send(link)


class Offline(Exception):
    """The station has no connection to say this on, and it is not worth keeping."""


class Uplink:
    def __init__(self, link: Link | None = None, *, station_id: str = "") -> None:
        self.station_id = station_id  # for the log
        self.link = link  # None: offline
        self.queue: list[Queued] = []
        self.sent_offline = 0  # queued messages delivered after a reconnect, for the curious
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._lost = asyncio.Event()  # set when this connection dies: calls waiting on it fail at once
        # Connected with nothing queued and nothing draining; an event, so a station can wait for it without polling.
        self._live = asyncio.Event()
        if link is not None:
            self._live.set()

    @property
    def online(self) -> bool:
        return self.link is not None

    @property
    def live(self) -> bool:
        """Transaction messages go straight out (nothing older is waiting to go first)."""
        return self._live.is_set()

    async def until_live(self) -> None:
        await self._live.wait()

    async def call(self, send: Callable[[Link], Awaitable[Any]]) -> Any:
        """A message that only makes sense now: sent if connected, else Offline."""
        link = self.link
        if link is None:
            raise Offline
        return await self._tracked(link, send(link))

    async def status(self, send: Callable[[Link], Awaitable[Any]]) -> None:
        """A status: dropped while offline (the station reports its present status on reconnect) or refused."""
        with contextlib.suppress(Offline, OCPPError, *CONNECTION_ERRORS):
            await self.call(send)

    def owes(self, transaction: str | None = None) -> bool:
        """Transaction messages still to be delivered, of this transaction if one is named (2.0.1
        GetTransactionStatus: queued fault events do not count)."""
        return any(isinstance(send, _OfTransaction) and transaction in (None, send.transaction) for send in self.queue)

    async def keep(self, send: Queued, *, transaction: str | None = None) -> None:
        """A message the CSMS must get: now if live, else queued and sent in order after the reconnect."""
        if transaction is not None:
            send = _OfTransaction(send, transaction)
        link = self.link
        if link is None or not self.live:
            self.queue.append(send)
            return
        try:
            await self._tracked(link, send(link))
        except CONNECTION_ERRORS:
            # The connection died under it; the CSMS may have it already and recognises a repeat.
            self._live.clear()
            self.queue.insert(0, send)
        except OCPPError as exc:
            self._refused(exc)

    async def drain(self, link: Link) -> None:
        """Send everything queued, oldest first; what the station says meanwhile queues behind it."""
        self.link = link
        self._live.clear()
        while self.queue:
            try:
                await self._tracked(link, self.queue[0](link))
            except OCPPError as exc:
                self._refused(exc)
            else:
                self.sent_offline += 1
            self.queue.pop(0)  # only once answered: a connection lost mid-way resends it next time
        self._live.set()

    async def go_offline(self, *, wait: float = 5.0) -> None:
        """Stop sending; wait for calls already on the wire to be answered (a deliberate drop loses nothing)."""
        self.link = None
        self._live.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._quiet.wait()

    def connection_lost(self) -> None:
        """The connection is gone: calls still waiting for an answer on it fail now, not at their timeout."""
        self.link = None
        self._live.clear()
        self._lost.set()
        self._lost = asyncio.Event()

    def _refused(self, exc: OCPPError) -> None:
        # The CSMS has it and said no (a CALLERROR): sending the same frame again would be refused the same way.
        log.warning("%s: the CSMS refused a transaction message (%s: %s)", self.station_id, exc.code, exc.description)

    async def _tracked(self, link: Link, work: Awaitable[Any]) -> Any:
        self._in_flight += 1
        self._quiet.clear()
        try:
            if link.fails_when_lost:  # the link itself fails the waiting call: no race to set up (load mode)
                return await work
            return await self._unless_lost(work)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._quiet.set()

    async def _unless_lost(self, work: Awaitable[Any]) -> Any:
        """The answer, or ConnectionError as soon as the connection is declared lost."""
        call = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
            if call.done():
                return call.result()
            raise ConnectionError("the connection died before the answer came")
        finally:
            lost.cancel()
            if not call.done():
                await cancel_quietly(call)
