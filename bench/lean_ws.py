"""A minimal WebSocket client over asyncio streams: enough to drive OCPP-J load without being the bottleneck.

Client frames must be masked (RFC 6455); an all-zero masking key is valid and makes masking a no-op, so a frame is
just a header plus the payload. Server frames are unmasked text frames; control frames are answered or ignored.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable

_ZERO_MASK = b"\x00\x00\x00\x00"


def frame(text: str) -> bytes:
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return header + _ZERO_MASK + payload


class LeanSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, path: str, subprotocol: str) -> LeanSocket:
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def recv(self) -> bytes:
        while True:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(size)
            opcode = first & 0x0F
            if opcode in (0x1, 0x2):
                return payload
            if opcode == 0x8:
                raise ConnectionError("server closed the connection")
            if opcode == 0x9:  # ping: answer pong with the same payload
                self.writer.write(struct.pack("!BB", 0x8A, 0x80 | size) + _ZERO_MASK + payload)

    def close(self) -> None:
        """Say goodbye with a close frame (1000) so the server sees a clean close, then drop the socket."""
        self.writer.write(b"\x88\x82" + _ZERO_MASK + b"\x03\xe8")
        self.writer.close()


class RoundTripProtocol(asyncio.Protocol):
    """One station driven from callbacks, without a coroutine per message: answer in, next request out.

    Only a CALLRESULT to the call in flight (its unique id) counts as an answer; CALLERRORs and anything else
    (a frame for another call, a CALL from the server) are counted apart, so a server that refuses or garbles
    is never measured as fast.
    """

    def __init__(
        self,
        host: str,
        path: str,
        subprotocol: str,
        make_call: Callable[[int], tuple[bytes, bytes]],
        on_answer: Callable[[float], None],
    ) -> None:
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        ).encode()
        self._make_call = make_call
        self._on_answer = on_answer
        self._buffer = b""
        self._upgraded = False
        self._sent_at = 0.0
        self._answer_id = b""  # '"<unique id>"' the answer in flight must carry; empty: none in flight
        self._drained: asyncio.Future[None] | None = None
        self.sent = 0
        self.results = 0  # CALLRESULTs to the call in flight
        self.errors = 0  # CALLERRORs to the call in flight
        self.unexpected = 0  # every other frame
        self.example: bytes | None = None  # the first CALLERROR or unexpected frame, for the report
        self.running = True
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    @property
    def in_flight(self) -> bool:
        return bool(self._answer_id)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        if not self._upgraded:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self._buffer = buffer
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace")))
                return
            self._upgraded, buffer = True, rest
            self.ready.set_result(None)
        start = 0
        while len(buffer) - start >= 2:
            size = buffer[start + 1] & 0x7F
            offset = start + 2
            if size == 126:
                if len(buffer) - start < 4:
                    break
                (size,) = struct.unpack_from("!H", buffer, start + 2)
                offset = start + 4
            elif size == 127:
                if len(buffer) - start < 10:
                    break
                (size,) = struct.unpack_from("!Q", buffer, start + 2)
                offset = start + 10
            end = offset + size
            if len(buffer) < end:
                break
            opcode = buffer[start] & 0x0F
            if opcode in (0x1, 0x2):
                self._message(buffer, offset, end)
            elif opcode == 0x9 and self.transport is not None:  # ping: answer pong with the same payload
                self.transport.write(struct.pack("!BB", 0x8A, 0x80 | size) + _ZERO_MASK + buffer[offset:end])
            elif opcode == 0x8:
                self.running = False
            start = end
        self._buffer = buffer[start:]

    def _message(self, buffer: bytes, start: int, end: int) -> None:
        # Answers are compact JSON ('[3,"id",...' or '[4,"id",...'): two prefix checks, no parsing on the hot path.
        kind = buffer[start + 1 : start + 3]
        if self._answer_id and buffer.startswith(self._answer_id, start + 3) and kind in (b"3,", b"4,"):
            self._answer_id = b""
            if kind == b"3,":
                self.results += 1
                self._on_answer(time.perf_counter() - self._sent_at)
            else:
                self.errors += 1
                self.example = self.example or buffer[start:end]
            if self.running:
                self.send_next()
            elif self._drained is not None and not self._drained.done():
                self._drained.set_result(None)
            return
        self.unexpected += 1
        self.example = self.example or buffer[start:end]

    def send_next(self) -> None:
        self.sent += 1
        data, unique_id = self._make_call(self.sent)
        self._answer_id = b'"' + unique_id + b'"'
        self._sent_at = time.perf_counter()
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        """Send no more; return once the call in flight is answered (or the connection is gone)."""
        self.running = False
        if self.in_flight and self.transport is not None and not self.transport.is_closing():
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def connection_lost(self, exc: Exception | None) -> None:
        self.running = False
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed during the handshake"))
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def close(self) -> None:
        self.running = False
        if self.transport is not None:
            self.transport.write(b"\x88\x82" + _ZERO_MASK + b"\x03\xe8")
            self.transport.close()
