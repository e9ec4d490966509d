"""The load mode's WebSocket client: an asyncio.Protocol driven from callbacks, speaking OCPP-J.

The `ocpp` package's client tops out near 5k round trips/s per core (it validates every payload and answer against
the schemas and turns each into a dataclass and back), less than one gateway process answers; so load-mode
stations send their words through this socket as they are. It does what a client must and no more: the handshake
(with Basic Auth), masked client frames, a pong for a ping, the close handshake; one CALL out at a time, its answer
matched by unique id; CALLs from the CSMS are handed to the link as text, to be judged as a full station would.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import struct
import time
from collections.abc import Callable
from typing import Any

import orjson
from ocpp.exceptions import GenericError, UnknownCallErrorCodeError
from ocpp.messages import CallError

from evscada.simulator.links.dial import Refused
from evscada.simulator.links.words import Payload

_ZERO_MASK = b"\x00\x00\x00\x00"
_CLOSE = b"\x88\x82" + _ZERO_MASK + b"\x03\xe8"  # close, status 1000
_ids = itertools.count(1)

# What each call came to, for the load's statistics: action, seconds to the answer (None: no answer), error or None.
Report = Callable[[str, float | None, str | None], None]


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame; the all-zero key (valid per RFC 6455) makes masking a no-op."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return header + _ZERO_MASK + payload


def handshake(host: str, path: str, subprotocol: str, authorization: str | None) -> bytes:
    """The HTTP upgrade request. The answer's Sec-WebSocket-Accept is not checked: a load generator trusts its CSMS."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {subprotocol}",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _refusal(message: list[Any]) -> Exception:
    """The `ocpp` package's exception for a CALLERROR, as its client raises it."""
    try:
        return CallError(*message[1:5]).to_exception()
    except UnknownCallErrorCodeError as exc:
        return exc
    except TypeError:  # too few elements
        return GenericError(description=f"malformed CALLERROR {message!r}")


class LeanSocket(asyncio.Protocol):
    def __init__(self, request: bytes, report: Report, *, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        self.timeout = timeout  # seconds a CALL waits for its answer
        self.opened: asyncio.Future[None] = loop.create_future()
        # Whoever dialled may have given up (timeout) before it fails: its exception is nobody's to log.
        self.opened.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._request = request
        self._report = report
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._upgraded = False
        self._lock = asyncio.Lock()  # one CALL outstanding, as OCPP-J requires
        self._waiting: tuple[str, str, float, asyncio.Future[Payload]] | None = None  # id, action, sent at, answer
        self._calls: asyncio.Queue[str | None] = asyncio.Queue()  # the CSMS's CALLs; None: the connection ended
        self._leaving = False  # the station ends it (close or abort): not a loss
        self._ended: str | None = None  # why the connection ended

    async def call(self, action: str, payload: Payload, *, message_id: str | None = None) -> Payload:
        """Send a CALL, return its CALLRESULT's payload; a CALLERROR raises the `ocpp` package's OCPPError, a
        lost connection ConnectionError at once, no answer in time TimeoutError."""
        async with self._lock:
            if self._ended is not None:
                raise ConnectionError(self._ended)
            loop = asyncio.get_running_loop()
            unique_id = message_id or str(next(_ids))
            answer: asyncio.Future[Payload] = loop.create_future()
            self._waiting = (unique_id, action, time.perf_counter(), answer)
            self._write(frame(orjson.dumps([2, unique_id, action, payload])))
            expiry = loop.call_later(self.timeout, self._expire, answer, action)  # cheaper than asyncio.timeout
            try:
                return await answer
            finally:
                expiry.cancel()
                self._waiting = None

    async def next_call(self) -> str:
        """The next CALL from the CSMS, as it came; ConnectionError once the connection has ended."""
        text = await self._calls.get()
        if text is None:
            self._calls.put_nowait(None)  # for whoever asks next
            raise ConnectionError(self._ended or "the connection ended")
        return text

    def send_text(self, text: str) -> None:
        """An answer to the CSMS (CALLRESULT or CALLERROR)."""
        self._write(frame(text.encode()))

    def close(self) -> None:
        """End the connection with a close frame (the CSMS's reply is not awaited)."""
        self._leaving = True
        self._shut()

    def _shut(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            if self._upgraded:
                self._transport.write(_CLOSE)
            self._transport.close()

    def abort(self) -> None:
        """End it without a close frame, as a cut cable would."""
        self._leaving = True
        if self._transport is not None:
            self._transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._transport.write(self._request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        if not self._upgraded:
            head, sep, buffer = buffer.partition(b"\r\n\r\n")
            if not sep:
                self._buffer = head
                return
            first = head.split(b"\r\n", 1)[0]
            status = [*first.split(b" ", 2), b""][1]
            if status != b"101":
                self._end(
                    f"handshake refused: {first.decode(errors='replace')}", int(status) if status.isdigit() else None
                )
                self.close()
                return
            self._upgraded = True
            self.opened.set_result(None)
        self._buffer = self._frames(buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._upgraded and not self._leaving:
            self._report("connection", None, "lost" if exc is not None else "closed by the CSMS")
        self._end(f"connection lost: {exc}" if exc else "the connection was closed")

    # Frames in

    def _frames(self, buffer: bytes) -> bytes:
        """Handle every whole frame in the buffer; returns what is left of the next one."""
        while len(buffer) >= 2:
            opcode, size, offset = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    break
                (size,) = struct.unpack_from("!H", buffer, 2)
                offset = 4
            elif size == 127:
                if len(buffer) < 10:
                    break
                (size,) = struct.unpack_from("!Q", buffer, 2)
                offset = 10
            if len(buffer) < offset + size:
                break
            payload, buffer = buffer[offset : offset + size], buffer[offset + size :]
            if opcode == 0x1:
                self._text(payload)
            elif opcode == 0x9:  # ping: pong with the same payload
                self._write(frame(payload, 0xA))
            elif opcode == 0x8:  # the CSMS closes: answer, and the connection ends (not by the station's choice)
                self._shut()
            # Continuation and binary frames: an OCPP-J CSMS sends neither (websockets does not fragment small frames).
        return buffer

    def _text(self, payload: bytes) -> None:
        try:
            message = orjson.loads(payload)
            kind = message[0] if isinstance(message, list) and message else None
        except orjson.JSONDecodeError:
            kind = None
        if kind in (3, 4):
            self._answered(message)
        else:  # a CALL, or something the link answers (or ignores) as a full station would
            self._calls.put_nowait(payload.decode("utf-8", "replace"))

    def _answered(self, message: list[Any]) -> None:
        waiting = self._waiting
        if waiting is None or len(message) < 3 or message[1] != waiting[0] or waiting[3].done():
            return  # a late or unknown answer: ignored, as the ocpp client does
        _, action, sent_at, answer = waiting
        latency = time.perf_counter() - sent_at
        if message[0] == 3:
            self._report(action, latency, None)
            answer.set_result(message[2])
        else:
            self._report(action, latency, f"CALLERROR {message[2]}")
            answer.set_exception(_refusal(message))

    def _expire(self, answer: asyncio.Future[Payload], action: str) -> None:
        if not answer.done():
            self._report(action, None, "timeout")
            answer.set_exception(TimeoutError(f"no answer to {action} within {self.timeout:g} s"))

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _end(self, why: str, refused: int | None = None) -> None:
        """The connection is over: a waiting call fails now, not at its timeout; the CALL reader stops."""
        if self._ended is not None:
            return
        self._ended = why
        if not self.opened.done():
            self.opened.set_exception(Refused(refused) if refused else ConnectionError(why))
        if self._waiting is not None and not self._waiting[3].done():
            self._waiting[3].set_exception(ConnectionError(why))
        self._calls.put_nowait(None)
