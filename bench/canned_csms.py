"""A CSMS that stores nothing: every CALL gets at once the answer a station needs to go on (boot Accepted,
authorizations Accepted, a transaction number). With it, `bench/load_mode.py --server canned` measures the load
generator's own CPU per answered call, which a real server hides by being the slower side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

NOW = "2026-11-25T08:00:00.000Z"
# One answer for both versions where they differ only in the field's name (a lean station reads the one it knows).
ANSWERS = {
    "BootNotification": {"status": "Accepted", "currentTime": NOW, "interval": 300},
    "Heartbeat": {"currentTime": NOW},
    "Authorize": {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}},
    "TransactionEvent": {"idTokenInfo": {"status": "Accepted"}},
}
_transactions = itertools.count(1)


def answer(action: str) -> object:
    if action == "StartTransaction":
        return {"transactionId": next(_transactions), "idTagInfo": {"status": "Accepted"}}
    return ANSWERS.get(action, {})


async def station(connection: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for text in connection:
            message = json.loads(text)
            if message[0] == 2:
                await connection.send(json.dumps([3, message[1], answer(message[2])], separators=(",", ":")))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    async with serve(
        station,
        "127.0.0.1",
        args.port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        compression=None,
        ping_interval=None,
    ):
        print("canned CSMS listening", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
