"""Lean links: the load mode's stations are the same SimulatedStations, saying the same words (`ocpp16/words.py`,
`ocpp201/words.py`) and answering with the same handlers (`ocpp16/commands.py`, `ocpp201/commands.py`) as full ones,
over a LeanSocket.

What the lean path skips is on the hot path only: the station's own CALLs go out unvalidated (their payloads are
built by the words the full links send through the `ocpp` package, which validates them) and their answers come
back as dicts. The CSMS's CALLs are rare, so they take the `ocpp` package's whole way: parsed and checked against
the version's schema, answered by the `@on` handler, the answer checked too, then the `@after` handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, unpack, validate_payload
from ocpp.routing import create_route_map

from evscada.simulator.links.dial import SUBPROTOCOLS, Connection, Refused, basic_auth
from evscada.simulator.links.lean import LeanSocket, handshake
from evscada.simulator.links.refusals import refusal
from evscada.simulator.links.words import Payload, Words
from evscada.simulator.model import StationSpec
from evscada.simulator.ocpp16.commands import Commands16
from evscada.simulator.ocpp16.words import Words16
from evscada.simulator.ocpp201.commands import Commands201
from evscada.simulator.ocpp201.words import Words201

log = logging.getLogger(__name__)


class LeanLink(Words):
    """What both lean links share: words out through the socket, the CSMS's CALLs routed like ChargePoint does."""

    version: ClassVar[str]
    fails_when_lost = True  # the socket fails its waiting call when the connection ends

    def __init__(self, station_id: str, socket: LeanSocket) -> None:
        self.id = station_id
        self.socket = socket
        self._routes: dict[str, dict[str, Any]] | None = None  # built at the first CALL: most stations get none

    async def request(self, action: str, payload: Payload, *, message_id: str | None = None) -> Payload:
        return await self.socket.call(action, payload, message_id=message_id)

    async def start(self) -> None:
        """Answer the CSMS's CALLs one at a time until the connection ends (ConnectionError), as ChargePoint.start."""
        while True:
            await self._route(await self.socket.next_call())

    async def _route(self, text: str) -> None:
        try:
            message = unpack(text)
        except OCPPError as exc:  # the ocpp package logs such a frame and answers nothing
            log.warning("%s: unreadable frame from the CSMS (%s): %.200s", self.id, exc.code, text)
            return
        if not isinstance(message, Call):
            return  # an answer to a call that gave up waiting
        try:
            await self._handle(message)
        except OCPPError as error:
            log.info("%s: %s refused with %s (%s)", self.id, message.action, error.code, error.description)
            self.socket.send_text(message.create_call_error(error).to_json())

    async def _handle(self, message: Call) -> None:
        if self._routes is None:
            self._routes = create_route_map(self)
        handlers = self._routes.get(message.action, {})
        on = handlers.get("_on_action")
        error = refusal(message.action, message.payload, version=self.version, handled=on is not None)
        if error is not None:
            raise error
        assert on is not None  # refusal() refuses an action without a handler
        arguments = camel_to_snake_case(message.payload)
        try:
            answer = on(**arguments)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception as exc:  # as the ocpp package does: a handler's failure is a CALLERROR, not the link's end
            log.exception("%s: handling %s failed", self.id, message.action)
            self.socket.send_text(message.create_call_error(exc).to_json())
            return
        result = message.create_call_result(snake_to_camel_case(remove_nones(serialize_as_dict(answer))))
        if not handlers.get("_skip_schema_validation", False):
            await validate_payload(result, self.version)
        self.socket.send_text(result.to_json())
        after = handlers.get("_after_action")
        if after is not None:  # the effect, now that the answer is on the wire
            effect = after(**arguments)
            if inspect.isawaitable(effect):
                await effect


class LeanLink16(Words16, Commands16, LeanLink):
    pass


class LeanLink201(Words201, Commands201, LeanLink):
    pass


_LINKS: dict[str, type[LeanLink16] | type[LeanLink201]] = {"1.6": LeanLink16, "2.0.1": LeanLink201}


class Observer(Protocol):
    """Who counts what the lean stations' connections do (the load's Stats)."""

    def record(self, action: str, latency: float | None, error: str | None) -> None: ...

    def connected(self, station_id: str) -> None: ...

    def disconnected(self, station_id: str) -> None: ...

    def connect_failed(self, reason: str) -> None: ...


class LeanDial:
    """Opens lean connections (a `fleet.Dial`) and tells the observer how each attempt and each call went."""

    def __init__(self, observer: Observer, *, timeout: float = 30.0) -> None:
        self.observer = observer
        self.timeout = timeout  # seconds for the handshake, and for each CALL's answer

    @contextlib.asynccontextmanager
    async def __call__(self, base_url: str, spec: StationSpec) -> AsyncIterator[Connection]:
        url = urlsplit(f"{base_url.rstrip('/')}/{spec.station_id}")
        if url.scheme != "ws":
            raise ValueError("the load mode speaks plain ws:// only (TLS would measure the load generator)")
        host, port = url.hostname or "127.0.0.1", url.port or 80
        request = handshake(f"{host}:{port}", url.path, SUBPROTOCOLS[spec.version], basic_auth(spec))
        socket = LeanSocket(request, self.observer.record, timeout=self.timeout)
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.get_running_loop().create_connection(lambda: socket, host, port)
                await socket.opened
        except (OSError, TimeoutError, Refused) as exc:
            socket.close()
            self.observer.connect_failed(str(exc) or type(exc).__name__)
            raise
        self.observer.connected(spec.station_id)
        link = _LINKS[spec.version](spec.station_id, socket)
        try:
            yield Connection(link, link.start, socket.abort)
        finally:
            socket.close()
            self.observer.disconnected(spec.station_id)
