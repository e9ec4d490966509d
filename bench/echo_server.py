"""The baseline: a bare `websockets` server that answers every frame with a fixed CALLRESULT-shaped frame.

It parses nothing, validates nothing and stores nothing: the cost of the WebSocket layer alone. The answer is about
the size of evscada's answers (a Heartbeat result), so both servers send the same number of bytes back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

ANSWER = '[3,"bench-answer",{"currentTime":"2026-11-25T08:00:00.000Z"}]'


async def echo(connection: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _message in connection:
            await connection.send(ANSWER)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    # The same listen backlog as evscada's default (ocpp_listen_backlog): with asyncio's 100, a storm measures the
    # kernel's SYN retry back-off, not the server.
    async with serve(
        echo,
        "127.0.0.1",
        args.port,
        subprotocols=["ocpp1.6"],
        compression=None,
        ping_interval=None,
        max_size=1 << 20,
        backlog=4096,
    ):
        print("echo server listening", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
