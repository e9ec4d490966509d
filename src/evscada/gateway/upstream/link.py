"""One UpstreamLink per station session that has an upstream CSMS: evscada connects to it AS the station.

Two tasks: `dial` keeps the WebSocket to upstream open (doubling back-off) and reads what upstream sends;
`pump` is the only writer of the station's CALLs to upstream, so they leave in the order the station sent them.
Transaction messages are written to the durable buffer (core/upstream) before the station gets its answer, so a
killed evscada loses none; the pump deletes each row once upstream answered it. On each new upstream connection the
pump sends the station's last BootNotification, replays the buffer oldest first, and only then goes on with live
messages. Answers to the station come from evscada whenever upstream cannot give one, so nothing reaches the
station twice. `UpstreamLinks` starts and stops the links with the sessions and when a configuration changes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import random
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from evscada.core.model import SiteId, Station, StationId
from evscada.core.upstream.service import (
    BUFFERED_ACTIONS,
    LinkHealth,
    Scope,
    UpstreamCsms,
    UpstreamMode,
    UpstreamService,
)
from evscada.gateway import rpc
from evscada.gateway.adapter import Payload
from evscada.gateway.session import CommandFailed, StationSession
from evscada.gateway.validation import SchemaViolation

log = logging.getLogger(__name__)

UPSTREAM_IN, UPSTREAM_OUT = "upstream-in", "upstream-out"  # frame-log directions, beside in / out
UPSTREAM_ANSWER_TIMEOUT = 10.0  # seconds a station waits for upstream's answer before evscada answers itself
REPLAY_BATCH = 100
DELETE_BATCH = 50  # rows upstream has answered, deleted together (a kill in between only means a replay)
# CALLERROR codes OCPP knows; a command's other failures (Timeout, StationOffline) reach upstream as GenericError.
_OCPP_ERROR_CODES = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "FormatViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "OccurrenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
Answer = rpc.CallResult | rpc.CallError
SiteLookup = Callable[[StationId], Awaitable[SiteId | None]]


@dataclass(slots=True)
class _Outgoing:
    call: rpc.Call
    text: str  # the station's frame as sent: forwarded verbatim when nothing in it needs rewriting
    local_answer: Payload  # what evscada answered (or would answer) the station
    answered: asyncio.Future[Answer | None] | None  # upstream_answers mode: the station waits for this
    row_id: int | None = None  # its row in the durable buffer, once written


class UpstreamLink:
    def __init__(
        self,
        *,
        session: StationSession,
        config: UpstreamCsms,
        service: UpstreamService,
        reconnect_max: float = 60.0,
        counts: Counter[str] | None = None,
        last_boot: str | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self._service = service
        self._reconnect_max = reconnect_max
        self.counts: Counter[str] = Counter() if counts is None else counts  # forwarded, held, replayed, refused ...
        self._queue: asyncio.Queue[_Outgoing | None] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._greeted: ClientConnection | None = None  # the connection the last boot and the replay went out on
        self._pending: dict[str, asyncio.Future[Answer]] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"evs-up-{int(time.time() * 1000):x}-"  # never one of the station's own ids
        self._last_boot = last_boot  # the station's BootNotification frame, sent first on every connection
        # (connection, boot frame, upstream's answer): the boot a connection was opened with
        self._boot_sent: tuple[ClientConnection, str, Answer] | None = None
        # OCPP 1.6: evscada's transactionId -> upstream's, learnt from upstream's StartTransaction answers
        self._transactions: dict[int, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._command_tasks: set[asyncio.Task[None]] = set()
        self._replayed_through = 0  # buffer rows up to this id went out in a replay: not sent again live
        self._answered_rows: list[int] = []  # buffer rows upstream answered, not deleted yet
        self._map_loaded = False
        self.connected = asyncio.Event()
        self.health = LinkHealth(station_id=session.station_id, url=config.url, since=datetime.now(UTC))

    @property
    def station_id(self) -> StationId:
        return StationId(self.session.station_id)

    def start(self) -> None:
        self._service.links[self.station_id] = self.health
        self._tasks = [
            asyncio.create_task(self._dial(), name=f"upstream-dial-{self.station_id}"),
            asyncio.create_task(self._pump(), name=f"upstream-pump-{self.station_id}"),
        ]

    async def stop(self) -> None:
        """The station left (or its configuration changed): close upstream. What upstream has not answered is in
        the buffer already; only the deletions of what it did answer are still to do."""
        for task in [*self._tasks, *self._command_tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._command_tasks, return_exceptions=True)
        self._tasks.clear()
        if self._service.links.get(self.station_id) is self.health:
            del self._service.links[self.station_id]
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None and item.answered is not None and not item.answered.done():
                item.answered.set_result(None)
        try:
            await self._forget_answered()
        except Exception:  # they stay in the buffer and go upstream once more: at-least-once
            log.exception("%s: deleting what upstream answered failed", self.station_id)

    # --- the station's side -------------------------------------------------------------------------------------

    async def relay(self, call: rpc.Call, text: str, local_answer: Payload) -> str | None:
        """Pass a station's CALL on; in upstream_answers mode the frame to answer the station with, else None."""
        if call.action == "BootNotification":
            self._last_boot = text
        row_id = await self._keep(call, text, local_answer) if call.action in BUFFERED_ACTIONS else None
        waiting = self.config.mode is UpstreamMode.UPSTREAM_ANSWERS and self._ws is not None
        future: asyncio.Future[Answer | None] | None = asyncio.get_running_loop().create_future() if waiting else None
        self._queue.put_nowait(_Outgoing(call, text, local_answer, future, row_id))
        if future is None:
            return None
        try:
            answer = await asyncio.wait_for(future, UPSTREAM_ANSWER_TIMEOUT)
        except TimeoutError:
            log.warning("%s: upstream gave no answer to %s in time; evscada answered", self.station_id, call.action)
            return None
        return None if answer is None else self._for_station(call, answer, local_answer)

    def _for_station(self, call: rpc.Call, answer: Answer, local_answer: Payload) -> str | None:
        """Upstream's answer as the station gets it, or None (evscada's) when it breaks the schema."""
        if isinstance(answer, rpc.CallError):
            return rpc.call_error_frame(call.unique_id, answer.code, answer.description, answer.details)
        payload = dict(answer.payload)
        if call.action == "StartTransaction" and "transactionId" in local_answer:
            # The station keeps evscada's id (evscada records the session under it); upstream's is mapped on.
            payload["transactionId"] = local_answer["transactionId"]
        try:
            self.session.adapter.schemas.check_response(call.action, payload)
        except SchemaViolation as exc:
            log.warning(
                "%s: upstream's %s answer breaks the schema (%s); evscada answered",
                self.station_id,
                call.action,
                exc.description,
            )
            return None
        return rpc.call_result_frame(call.unique_id, payload)

    # --- writing to upstream ------------------------------------------------------------------------------------

    async def _keep(self, call: rpc.Call, text: str, local_answer: Payload) -> int | None:
        """Write a transaction message to the buffer before the station is answered; its row id, or None."""
        try:
            row_id = await self._service.keep(
                station_id=self.station_id, action=call.action, frame=text, answer=orjson.dumps(local_answer).decode()
            )
        except Exception:  # the station's own CSMS goes on; this message then only goes up live
            log.exception("%s: keeping %s for upstream failed", self.station_id, call.action)
            return None
        if row_id is None:
            self.counts["dropped"] += 1
        return row_id

    async def _pump(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if not self._map_loaded:
                    self._transactions.update(await self._service.transaction_map(station_id=self.station_id))
                    self._map_loaded = True
                await self._pass_on(item)
                if self._queue.empty() or len(self._answered_rows) >= DELETE_BATCH:
                    await self._forget_answered()
            except Exception:  # a failing database must not end the proxy: the next message tries again
                log.exception("%s: passing a message upstream failed", self.station_id)
            finally:
                if item is not None and item.answered is not None and not item.answered.done():
                    item.answered.set_result(None)

    async def _forget_answered(self) -> None:
        if self._answered_rows:
            rows, self._answered_rows = self._answered_rows, []
            await self._service.delivered(ids=rows, station_id=self.station_id)

    async def _pass_on(self, item: _Outgoing | None) -> None:
        ws = self._ws
        if ws is not None and self._greeted is not ws:
            await self._greet(ws)
        if item is None:  # a wake-up after a reconnect
            return
        if item.row_id is not None and item.row_id <= self._replayed_through:
            return  # upstream had it in the replay of the buffer
        answer = None
        greeted_with = self._boot_sent
        if greeted_with is not None and greeted_with[0] is self._ws and greeted_with[1] is item.text:
            answer = greeted_with[2]  # this very BootNotification opened the connection: not sent twice
        elif self._ws is not None and self._greeted is self._ws:
            answer = await self._deliver(self._ws, item.call, item.text, item.local_answer)
        if answer is not None:
            self.counts["forwarded"] += 1
            if item.row_id is not None:
                self._answered_rows.append(item.row_id)
        elif item.row_id is not None:
            self.counts["held"] += 1  # in the buffer already: replayed on the next connection
        elif item.call.action not in BUFFERED_ACTIONS:
            self.counts["skipped"] += 1  # e.g. a Heartbeat while upstream is away: nothing to catch up on
        if item.answered is not None and not item.answered.done():
            item.answered.set_result(answer)

    async def _greet(self, ws: ClientConnection) -> None:
        """A new upstream connection: the station's boot first, then everything held, oldest first."""
        if self._last_boot is not None:
            boot = rpc.parse(self._last_boot)
            assert isinstance(boot, rpc.Call)
            boot_answer = await self._deliver(ws, boot, self._last_boot, {})
            if boot_answer is None:
                return
            self._boot_sent = (ws, self._last_boot, boot_answer)
        await self._forget_answered()  # else the replay would send them again
        after = 0
        while True:
            held = await self._service.held(station_id=self.station_id, limit=REPLAY_BATCH, after=after)
            if not held:
                break
            try:
                for message in held:
                    call = rpc.parse(message.frame)
                    assert isinstance(call, rpc.Call)
                    local = orjson.loads(message.answer) if message.answer else {}
                    if await self._deliver(ws, call, message.frame, local) is None:
                        return  # gone again: the rest stays held
                    self._answered_rows.append(message.id)
                    self._replayed_through = after = max(self._replayed_through, message.id)
                    self.counts["replayed"] += 1
            finally:
                await self._forget_answered()
        self._greeted = ws
        log.info("%s: upstream %s up to date", self.station_id, self.config.url)

    async def _deliver(self, ws: ClientConnection, call: rpc.Call, text: str, local_answer: Payload) -> Answer | None:
        """Send one station CALL upstream and wait for its answer; None when upstream is gone or silent."""
        payload = self._to_upstream(call)
        frame = text if payload is call.payload else rpc.call_frame(call.unique_id, call.action, payload)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[call.unique_id] = future
        try:
            await self._send(ws, frame)
            answer = await asyncio.wait_for(future, UPSTREAM_ANSWER_TIMEOUT)
        except (ConnectionClosed, TimeoutError, OSError) as exc:
            log.info("%s: %s not delivered upstream (%s)", self.station_id, call.action, type(exc).__name__)
            return None
        finally:
            self._pending.pop(call.unique_id, None)
        if isinstance(answer, rpc.CallError):
            log.warning("%s: upstream refused %s: %s %s", self.station_id, call.action, answer.code, answer.description)
            self.health.last_error = f"upstream refused {call.action}: {answer.code} {answer.description}"[:300]
        elif call.action == "StartTransaction" and isinstance(local_answer.get("transactionId"), int):
            theirs = answer.payload.get("transactionId")
            if isinstance(theirs, int):
                ours = local_answer["transactionId"]
                self._transactions[ours] = theirs
                await self._service.map_transaction(station_id=self.station_id, ours=ours, theirs=theirs)
        if call.action == "StopTransaction" and isinstance(call.payload.get("transactionId"), int):
            ours = call.payload["transactionId"]
            if self._transactions.pop(ours, None) is not None:
                await self._service.unmap_transaction(station_id=self.station_id, ours=ours)
        return answer

    def _to_upstream(self, call: rpc.Call) -> Payload:
        """OCPP 1.6 transaction ids are the CSMS's: upstream knows its own. The payload itself when unchanged."""
        ours = call.payload.get("transactionId")
        if call.action in ("StopTransaction", "MeterValues") and isinstance(ours, int) and ours in self._transactions:
            return {**call.payload, "transactionId": self._transactions[ours]}
        return call.payload

    async def _send(self, ws: ClientConnection, frame: str) -> None:
        self.session.frames.append((time.time(), UPSTREAM_OUT, frame))
        await ws.send(frame)

    # --- the upstream connection --------------------------------------------------------------------------------

    async def _dial(self) -> None:
        delay = 1.0
        url = self.config.url.rstrip("/") + "/" + self.config.upstream_id(self.session.station_id)
        while True:
            try:
                async with connect(
                    url,
                    subprotocols=[self.session.adapter.subprotocol],  # type: ignore[list-item]
                    additional_headers=self._headers(),
                    ssl=await asyncio.to_thread(self._tls) if url.startswith("wss://") else None,
                    open_timeout=10,
                    ping_interval=30,
                    max_size=1 << 20,
                ) as ws:
                    if ws.subprotocol != self.session.adapter.subprotocol:
                        log.warning(
                            "%s: upstream %s does not speak %s; retrying later",
                            self.station_id,
                            url,
                            self.session.adapter.subprotocol,
                        )
                        raise InvalidHandshake("sub-protocol refused")
                    delay = 1.0
                    self._ws = ws
                    self.connected.set()
                    self.health.connected, self.health.since = True, datetime.now(UTC)
                    self.counts["connects"] += 1
                    log.info("%s: connected upstream to %s", self.station_id, url)
                    self._queue.put_nowait(None)  # the pump greets the new connection now, not at the next message
                    await self._read(ws)
            except (OSError, InvalidHandshake, InvalidURI, ConnectionClosed, TimeoutError, ssl.SSLError) as exc:
                log.info("%s: upstream %s unreachable (%s); next try in %.0f s", self.station_id, url, exc, delay)
                self.health.last_error = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                self._ws = None
                self.connected.clear()
                if self.health.connected:
                    self.health.connected, self.health.since = False, datetime.now(UTC)
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(ConnectionClosed(None, None))
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._reconnect_max)

    def _headers(self) -> dict[str, str]:
        if not self.config.password:
            return {}
        user = self.config.upstream_id(self.session.station_id)
        token = base64.b64encode(f"{user}:{self.config.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.config.ca_file:  # e.g. a private CA of the upstream operator, trusted besides the system store
            context.load_verify_locations(cafile=Path(self.config.ca_file))
        if self.config.security_profile == 3 and self.config.client_cert_file and self.config.client_key_file:
            context.load_cert_chain(self.config.client_cert_file, self.config.client_key_file)
        return context

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            self.session.frames.append((time.time(), UPSTREAM_IN, text))
            try:
                message = rpc.parse(raw)
            except rpc.FrameError as exc:
                log.warning("%s: unreadable frame from upstream (%s)", self.station_id, exc.description)
                continue
            if isinstance(message, rpc.Call):
                task = asyncio.create_task(self._command(ws, message))
                self._command_tasks.add(task)
                task.add_done_callback(self._command_tasks.discard)
                continue
            future = self._pending.get(message.unique_id)
            if future is not None and not future.done():
                future.set_result(message)
            else:
                log.info("%s: upstream answer to unknown call %s ignored", self.station_id, message.unique_id)

    # --- upstream's commands to the station ---------------------------------------------------------------------

    async def _command(self, ws: ClientConnection, call: rpc.Call) -> None:
        if call.action not in self.config.allowed_actions:
            self.counts["refused"] += 1
            log.warning(
                "%s: upstream command %s refused: not in the proxy's allowed actions %s",
                self.station_id,
                call.action,
                list(self.config.allowed_actions),
            )
            description = f"{call.action} from this CSMS is not allowed by the station's operator (evscada proxy)"
            await self._send_quietly(ws, rpc.call_error_frame(call.unique_id, "SecurityError", description))
            return
        payload = self._to_station(call)
        try:
            # The session's own ids: an upstream command never shares an id with one of evscada's.
            answer = await self.session.call(call.action, payload)
        except CommandFailed as exc:
            code = exc.code if exc.code in _OCPP_ERROR_CODES else "GenericError"
            await self._send_quietly(ws, rpc.call_error_frame(call.unique_id, code, exc.description))
            return
        self.counts["commands"] += 1
        log.info("%s: upstream command %s passed to the station", self.station_id, call.action)
        await self._send_quietly(ws, rpc.call_result_frame(call.unique_id, answer))

    def _to_station(self, call: rpc.Call) -> Payload:
        theirs = call.payload.get("transactionId")
        if call.action == "RemoteStopTransaction" and isinstance(theirs, int):
            ours = next((o for o, t in self._transactions.items() if t == theirs), None)
            if ours is not None:
                return {**call.payload, "transactionId": ours}
        return call.payload

    async def _send_quietly(self, ws: ClientConnection, frame: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send(ws, frame)


class _SessionRelay:
    """Every session's `upstream`: remembers the station's last BootNotification (a link opened later by a
    configuration change greets upstream with it) and passes CALLs to the session's link, when it has one."""

    def __init__(self) -> None:
        self.link: UpstreamLink | None = None
        self.last_boot: str | None = None
        # A link is swapped between two CALLs, never during one: a message kept by the old link is then in the
        # buffer before the new one reads it for its replay.
        self.busy = asyncio.Lock()

    async def relay(self, call: rpc.Call, text: str, local_answer: Payload) -> str | None:
        if call.action == "BootNotification":
            self.last_boot = text
        if self.link is None:
            return None
        async with self.busy:
            link = self.link
            return None if link is None else await link.relay(call, text, local_answer)


class UpstreamLinks:
    """The links of this process's sessions: one started with each session that has an upstream, stopped with it,
    and replaced at once when the station's (or its site's) configuration changes."""

    def __init__(
        self,
        *,
        service: UpstreamService,
        reconnect_max: float,
        counts: Counter[str],
        follow_service: bool = True,
        site_of: SiteLookup | None = None,
    ) -> None:
        """`follow_service`: re-link when this process's service changes a configuration; a cluster's gateway
        follows the change events of every process instead (app.py calls reconfigure). `site_of`: a station's site
        as stored now, read again on a change of the station (it may have moved to another site)."""
        self._service = service
        self._site_of = site_of
        self._reconnect_max = reconnect_max
        self._counts = counts
        self._sites: dict[StationSession, SiteId | None] = {}  # sessions served now, with their station's site
        self._relays: dict[StationSession, _SessionRelay] = {}
        self._lock = asyncio.Lock()  # one configuration change at a time
        self._changes = 0  # configuration changes seen: a session's start looks its upstream up again after one
        if follow_service:
            service.on_change(self.reconfigure)

    async def attach(self, session: StationSession, station: Station) -> UpstreamLink | None:
        """No lock: stations connecting together look their upstream up together."""
        self._sites[session] = station.site_id
        relay = self._relays[session] = session.upstream = _SessionRelay()
        while True:
            seen = self._changes
            try:
                config = await self._config_of(session)
            except Exception:  # the proxy is an extra: a failing lookup must not keep the station from its CSMS
                log.exception("%s: reading its upstream CSMS failed; no proxy for this connection", session.station_id)
                return None
            if seen == self._changes:
                break  # else a change came in during the lookup: it may have been this station's
        if relay.link is not None or self._relays.get(session) is not relay:
            return relay.link  # a change linked it meanwhile, or the session ended
        return self._link(session, config)

    async def detach(self, session: StationSession) -> None:
        self._sites.pop(session, None)
        relay = self._relays.pop(session, None)
        if relay is None:
            return
        session.upstream = None
        if relay.link is not None:
            link, relay.link = relay.link, None
            await link.stop()

    async def reconfigure(self, scope: Scope, target: str) -> None:
        """A configuration was set or removed: the sessions it touches get a new link (or none) now."""
        self._changes += 1
        async with self._lock:
            touched = [
                session
                for session, site_id in self._sites.items()
                if (session.station_id == target if scope is Scope.STATION else str(site_id) == target)
            ]
            for session in touched:
                relay = self._relays.get(session)
                current = relay.link.config if relay is not None and relay.link is not None else None
                try:
                    if scope is Scope.STATION and self._site_of is not None and session in self._sites:
                        self._sites[session] = await self._site_of(StationId(session.station_id))
                    config = await self._config_of(session)
                except Exception:
                    log.exception("%s: reading its upstream CSMS failed; its link is left as it is", session.station_id)
                    continue
                if relay is None or config == current or self._relays.get(session) is not relay:
                    continue  # e.g. a site's change for a station with its own upstream; or the session ended
                async with relay.busy:
                    await self._unlink(session)
                    link = self._link(session, config)
                log.info(
                    "%s: upstream configuration changed; %s",
                    session.station_id,
                    f"now linked to {link.config.url}" if link else "no upstream any more",
                )

    async def _config_of(self, session: StationSession) -> UpstreamCsms | None:
        station_id = StationId(session.station_id)
        return await self._service.for_station(station_id=station_id, site_id=self._sites.get(session))

    def _link(self, session: StationSession, config: UpstreamCsms | None) -> UpstreamLink | None:
        relay = self._relays.get(session)
        if relay is None or config is None:  # the session ended meanwhile, or it has no upstream
            return None
        link = UpstreamLink(
            session=session,
            config=config,
            service=self._service,
            reconnect_max=self._reconnect_max,
            counts=self._counts,
            last_boot=relay.last_boot,
        )
        relay.link = link
        link.start()
        return link

    async def _unlink(self, session: StationSession) -> None:
        relay = self._relays.get(session)
        if relay is not None and relay.link is not None:
            link, relay.link = relay.link, None
            await link.stop()


def describe(counts: Counter[str]) -> dict[str, Any]:
    """The proxy's counters for health and metrics."""
    return dict(counts)
