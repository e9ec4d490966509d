"""Write coalescing: answers leave in one burst per event-loop iteration instead of one by one.

On a virtual machine a send that wakes an idle receiver on another core costs more than the rest of a round trip
(measured: ~16 us of a ~50 us Heartbeat, see docs/performance.md). Holding each connection's bytes until the end
of the loop iteration and writing them back to back lets one wake-up serve the whole burst. Nothing is delayed
past the current iteration, and a connection's pending bytes are written before it is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any


class WriteCoalescer:
    def __init__(self) -> None:
        self._dirty: list[CoalescingTransport] = []
        self._scheduled = False

    def mark(self, transport: CoalescingTransport) -> None:
        self._dirty.append(transport)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for transport in dirty:
            transport.flush()


class CoalescingTransport:
    """Wraps an asyncio transport; only writing is changed, everything else is passed through."""

    def __init__(self, transport: asyncio.Transport, coalescer: WriteCoalescer) -> None:
        self._transport = transport
        self._coalescer = coalescer
        self._chunks: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._chunks:
            self._coalescer.mark(self)
        self._chunks.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if self._chunks:
            data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            self._chunks.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._chunks)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._chunks.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
