"""One StationSession per WebSocket: reads frames, dispatches calls, sends commands and awaits answers."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterable
from datetime import datetime
from typing import Any, Protocol

from evscada.core.errors import DomainError
from evscada.core.model import RegistrationStatus, StationId
from evscada.gateway import rpc
from evscada.gateway.adapter import Payload, VersionAdapter
from evscada.gateway.services import StationServices
from evscada.gateway.validation import SchemaViolation

log = logging.getLogger(__name__)
frames_log = logging.getLogger("evscada.frames")

# Domain error code -> CALLERROR code; the rest become GenericError with the domain message.
_DOMAIN_CODES = {
    "authentication_failed": "SecurityError",
    "invalid_argument": "PropertyConstraintViolation",  # a value the schema lets through but the spec forbids
}


class Connection(Protocol):
    """The part of a websockets connection a session uses (lets tests and tools drive a session)."""

    def __aiter__(self) -> Any: ...

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class UpstreamRelay(Protocol):
    """The OCPP proxy's side of a session (gateway/upstream): it sees each CALL the station made once evscada has
    its answer, and may give the station upstream's answer instead (a frame with the station's id) or None."""

    async def relay(self, call: rpc.Call, text: str, local_answer: Payload) -> str | None: ...


class CommandFailed(Exception):
    """A command got a CALLERROR, no answer in time, or an answer that breaks the schema."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class StationSession:
    def __init__(
        self,
        *,
        station_id: StationId,
        connection: Connection,
        adapter: VersionAdapter,
        services: StationServices,
        registration: RegistrationStatus,
        call_timeout: float,
        frame_log_size: int,
        message_counts: Counter[tuple[str, str]] | None = None,
    ) -> None:
        self.station_id = station_id
        self.adapter = adapter
        self.services = services
        self.registration = registration
        self.connected_at = services.clock.now()
        self.last_seen: datetime = self.connected_at
        self.seen_since_flush = False
        # (unix time, "in"/"out", raw frame): what an engineer reads when analysing a fault with the vendor.
        self.frames: deque[tuple[float, str, str]] = deque(maxlen=frame_log_size)
        self.message_key: str | None = None  # digest of the frame being handled, for repeat detection
        # (OCPP version, action) -> calls received; shared by all sessions, read by /metrics
        self._message_counts: Counter[tuple[str, str]] = Counter() if message_counts is None else message_counts
        self._connection = connection
        self._call_timeout = call_timeout
        self._pending: dict[str, tuple[str, asyncio.Future[Payload]]] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"{int(time.time() * 1000):x}-"
        self.upstream: UpstreamRelay | None = None  # set while the station has an upstream CSMS

    async def run(self, messages: AsyncIterable[str | bytes]) -> None:
        """Handle frames until the connection ends; nothing a station sends ends the session but closing."""
        try:
            async for raw in messages:
                await self._receive(raw)
        finally:
            for _, future in self._pending.values():
                if not future.done():
                    future.set_exception(CommandFailed("StationOffline", "the station disconnected"))
            self._pending.clear()

    async def close(self, reason: str, code: int = 1000) -> None:
        await self._connection.close(code, reason)

    async def call(self, action: str, payload: Payload, *, timeout: float | None = None) -> Payload:
        """Send a CALL and wait for its CALLRESULT; CommandFailed on CALLERROR, timeout or bad answer."""
        try:
            self.adapter.schemas.check_request(action, payload)
        except SchemaViolation as exc:
            raise CommandFailed(
                "InvalidRequest", f"{action} request breaks the OCPP schema: {exc.description}"
            ) from None
        unique_id = f"{self._id_prefix}{next(self._ids)}"
        future: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = (action, future)
        try:
            await self._send(rpc.call_frame(unique_id, action, payload))
            return await asyncio.wait_for(future, timeout or self._call_timeout)
        except TimeoutError:
            raise CommandFailed(
                "Timeout", f"no answer to {action} within {timeout or self._call_timeout:g} s"
            ) from None
        finally:
            self._pending.pop(unique_id, None)

    async def _send(self, frame: str) -> None:
        self.frames.append((time.time(), "out", frame))
        await self._connection.send(frame)

    async def _receive(self, raw: str | bytes) -> None:
        # What the logs show; rpc.parse reads the frame as sent, so no replacement character can enter a value.
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if "\x00" in text:  # a raw NUL is no JSON (in a string it is \u0000): refused below, shown storable here
            text = text.replace("\x00", "\ufffd")
        self.frames.append((time.time(), "in", text))
        self.last_seen = self.services.clock.now()
        self.seen_since_flush = True
        try:
            message = rpc.parse(raw)
        except rpc.FrameError as exc:
            code = self.adapter.dialect.frame_codes[exc.problem]
            frames_log.warning("%s: frame refused (%s): %.2000s", self.station_id, exc.description, text)
            await self._send(rpc.call_error_frame(exc.unique_id, code, exc.description))
            return
        if isinstance(message, rpc.Call):
            # By name only if a handler takes it: a station inventing action names cannot grow /metrics.
            action = message.action if message.action in self.adapter.handlers else "(other)"
            self._message_counts[self.adapter.version, action] += 1
            await self._answer(message, text)
        else:
            self._resolve(message, text)

    async def _answer(self, call: rpc.Call, text: str) -> None:
        try:
            payload = await self._handle(call, text)
        except _CallRejected as rejection:
            if rejection.log_frame:
                frames_log.warning(
                    "%s: %s %s rejected (%s: %s): %.2000s",
                    self.station_id,
                    call.action,
                    call.unique_id,
                    rejection.code,
                    rejection.description,
                    text,
                )
            await self._send(rpc.call_error_frame(call.unique_id, rejection.code, rejection.description))
            return
        if self.upstream is not None:
            upstream_answer = await self.upstream.relay(call, text, payload)
            if upstream_answer is not None:
                await self._send(upstream_answer)
                return
        await self._send(rpc.call_result_frame(call.unique_id, payload))

    async def _handle(self, call: rpc.Call, text: str) -> Payload:
        adapter = self.adapter
        handler = adapter.handlers.get(call.action)
        if handler is None:
            if adapter.schemas.has_action(call.action):
                raise _CallRejected(
                    "NotSupported", f"{call.action} is not something a station sends to a CSMS", log_frame=True
                )
            raise _CallRejected(
                "NotImplemented", f"unknown action {call.action!r} for OCPP {adapter.version}", log_frame=True
            )
        try:
            adapter.schemas.check_request(call.action, call.payload)
        except SchemaViolation as exc:
            raise _CallRejected(adapter.dialect.schema_error_code(exc.rule), exc.description, log_frame=True) from None
        if call.action in adapter.requires_acceptance and self.registration != RegistrationStatus.ACCEPTED:
            raise _CallRejected("SecurityError", f"station is {self.registration}, not Accepted; boot first")
        self.message_key = repeat_key(call.payload, text) if call.action in adapter.deduplicated else None
        try:
            result = await handler(self, call.payload)
        except DomainError as exc:
            raise _CallRejected(_DOMAIN_CODES.get(exc.code, "GenericError"), exc.message) from None
        except Exception:
            # The one place a broad catch is right: a bug in one handler must not end the station's session.
            # One record with the frame: repeats of one fault (a full disk fails every write) collapse into a line
            # per minute (evscada.logs), which a second record per frame would not.
            log.exception("%s: %s %s failed: %.2000s", self.station_id, call.action, call.unique_id, text)
            raise _CallRejected("InternalError", f"the CSMS failed to process {call.action}; see its log") from None
        try:
            adapter.schemas.check_response(call.action, result)
        except SchemaViolation as exc:
            log.error(
                "%s: our %s response breaks the schema (%s): %r", self.station_id, call.action, exc.description, result
            )
            raise _CallRejected("InternalError", "the CSMS built an invalid response; see its log") from None
        return result

    def _resolve(self, message: rpc.CallResult | rpc.CallError, text: str) -> None:
        pending = self._pending.get(message.unique_id)
        if pending is None:
            log.info(
                "%s: answer to unknown or expired call %s ignored: %.500s", self.station_id, message.unique_id, text
            )
            return
        action, future = pending
        if future.done():
            return
        if isinstance(message, rpc.CallError):
            future.set_exception(CommandFailed(message.code, message.description or "station returned an error"))
            return
        try:
            self.adapter.schemas.check_response(action, message.payload)
        except SchemaViolation as exc:
            future.set_exception(
                CommandFailed("InvalidResponse", f"{action} answer breaks the schema: {exc.description}")
            )
            return
        if message.unstorable is not None:
            future.set_exception(CommandFailed("InvalidResponse", f"{action} answer: {message.unstorable}"))
            return
        future.set_result(message.payload)


class _CallRejected(Exception):
    def __init__(self, code: str, description: str, *, log_frame: bool = False) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.log_frame = log_frame


def repeat_key(payload: dict[str, Any], text: str) -> str:
    """The key a repeat of this frame is recognised by: its first meter value's time (as the station wrote it, to
    the second) followed by a digest of the whole frame. A repeat after a reconnect carries the same time, and
    keys that begin with the time land together at the end of the receipts' index instead of one random place
    per message (docs/performance.md, "Time-first repeat receipts")."""
    readings = payload.get("meterValue")
    at = readings[0].get("timestamp", "") if isinstance(readings, list) and readings else ""
    return f"{str(at)[:19]}{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}"
