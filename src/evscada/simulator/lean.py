"""Load-mode stations: scripted OCPP-J frames over a callback-driven WebSocket, without the `ocpp` client.

The `ocpp` package's client tops out near 5k round trips/s per core, less than one gateway process answers, so
the load mode drives each station from asyncio.Protocol callbacks with frames built from templates that were
checked against the official schemas (tests/simulator/test_load.py validates every kind through the CSMS).
The script is the same life as a full simulated station's: boot, Available, then sessions (Authorize, start,
periodic meter values, stop) with heartbeats in between; one call outstanding at a time, as OCPP-J requires.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import random
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

_ZERO_MASK = b"\x00\x00\x00\x00"
_CLOSE = b"\x88\x82" + _ZERO_MASK + b"\x03\xe8"


def frame(payload: bytes) -> bytes:
    """A masked client text frame; the all-zero key (valid per RFC 6455) makes masking a no-op."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return header + _ZERO_MASK + payload


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _samples16(energy: float) -> list[dict[str, Any]]:
    return [
        {"value": f"{energy:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "11000.0", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
        {"value": "55.0", "measurand": "SoC", "unit": "Percent", "location": "EV"},
    ]


def _samples201(energy: float, context: str) -> list[dict[str, Any]]:
    return [
        {"value": round(energy, 1), "context": context, "measurand": m, "unitOfMeasure": {"unit": u}}
        for m, u in (("Energy.Active.Import.Register", "Wh"), ("Power.Active.Import", "W"))
    ] + [
        {
            "value": 16.0,
            "context": context,
            "measurand": "Current.Import",
            "phase": "L1",
            "unitOfMeasure": {"unit": "A"},
        }
    ]


class Script:
    """What one station says next, given what it was told; versions differ only in the words."""

    def __init__(self, station_id: str, version: str, token: str, meters_per_session: int) -> None:
        self.station_id = station_id
        self.version = version
        self.token = token
        self.meters = meters_per_session
        self.energy = random.uniform(1e5, 1e6)
        self.transaction: str | None = None
        self.seq = 0

    def boot(self) -> tuple[str, dict[str, Any]]:
        if self.version == "1.6":
            return "BootNotification", {"chargePointVendor": "evscada-sim", "chargePointModel": "LOAD-1"}
        return "BootNotification", {
            "chargingStation": {"vendorName": "evscada-sim", "model": "LOAD-1"},
            "reason": "PowerUp",
        }

    def status(self, status: str) -> tuple[str, dict[str, Any]]:
        if self.version == "1.6":
            return "StatusNotification", {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": status,
                "timestamp": now(),
            }
        connector = "Available" if status == "Available" else "Occupied"
        return "StatusNotification", {"timestamp": now(), "connectorStatus": connector, "evseId": 1, "connectorId": 1}

    def authorize(self) -> tuple[str, dict[str, Any]]:
        if self.version == "1.6":
            return "Authorize", {"idTag": self.token}
        return "Authorize", {"idToken": {"idToken": self.token, "type": "ISO14443"}}

    def start(self) -> tuple[str, dict[str, Any]]:
        if self.version == "1.6":
            return "StartTransaction", {
                "connectorId": 1,
                "idTag": self.token,
                "meterStart": int(self.energy),
                "timestamp": now(),
            }
        self.transaction, self.seq = uuid.uuid4().hex[:16], 0
        return self._event("Started", "Authorized", "Transaction.Begin", id_token=True)

    def started(self, answer: dict[str, Any]) -> None:
        if self.version == "1.6":
            self.transaction = str(answer["transactionId"])

    def meter(self) -> tuple[str, dict[str, Any]]:
        self.energy += 150.0
        if self.version == "1.6":
            sample = {"timestamp": now(), "sampledValue": _samples16(self.energy)}
            return "MeterValues", {
                "connectorId": 1,
                "transactionId": int(self.transaction or 0),
                "meterValue": [sample],
            }
        return self._event("Updated", "MeterValuePeriodic", "Sample.Periodic")

    def stop(self) -> tuple[str, dict[str, Any]]:
        if self.version == "1.6":
            return "StopTransaction", {
                "transactionId": int(self.transaction or 0),
                "meterStop": int(self.energy),
                "timestamp": now(),
                "reason": "EVDisconnected",
                "idTag": self.token,
            }
        return self._event("Ended", "EVCommunicationLost", "Transaction.End", stopped="EVDisconnected")

    def heartbeat(self) -> tuple[str, dict[str, Any]]:
        return "Heartbeat", {}

    def _event(
        self, kind: str, trigger: str, context: str, *, id_token: bool = False, stopped: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        info: dict[str, Any] = {"transactionId": self.transaction}
        if stopped:
            info["stoppedReason"] = stopped
        payload: dict[str, Any] = {
            "eventType": kind,
            "timestamp": now(),
            "triggerReason": trigger,
            "seqNo": self.seq,
            "transactionInfo": info,
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": now(), "sampledValue": _samples201(self.energy, context)}],
        }
        if id_token:
            payload["idToken"] = {"idToken": self.token, "type": "ISO14443"}
        self.seq += 1
        return "TransactionEvent", payload


Report = Callable[[str, float | None, str | None], None]  # action, latency (None: no answer), error kind


class LeanStation(asyncio.Protocol):
    """One station driven from callbacks: an answer in schedules the next CALL out."""

    _ids = itertools.count(1)

    def __init__(
        self, host: str, path: str, script: Script, report: Report, *, pace: float, sessions: int | None
    ) -> None:
        subprotocol = "ocpp1.6" if script.version == "1.6" else "ocpp2.0.1"
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        ).encode()
        self.script = script
        self._report = report
        self._pace = pace  # seconds between one answer and the next CALL
        self._sessions_left = sessions
        self._buffer = b""
        self._upgraded = False
        self._pending: tuple[str, str, float] | None = None  # unique id, action, sent at
        self._plan = self._life()
        self.booted = False
        self.running = True
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def _life(self) -> Any:
        """The station's script as a generator of CALLs; it receives each answer."""
        s = self.script
        answer = yield s.boot()
        while answer.get("status") != "Accepted":
            answer = yield s.boot()
        self.booted = True
        yield s.status("Available")
        while self._sessions_left is None or self._sessions_left > 0:
            yield s.heartbeat()
            yield s.status("Preparing")
            yield s.authorize()
            s.started((yield s.start()))
            for _ in range(s.meters):
                yield s.meter()
            yield s.stop()
            yield s.status("Available")
            if self._sessions_left is not None:
                self._sessions_left -= 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded:
            head, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace")))
                return
            self._upgraded, self._buffer = True, rest
            self.connected.set_result(None)
            self._next(None)
        while len(self._buffer) >= 2:
            opcode, size, offset = self._buffer[0] & 0x0F, self._buffer[1] & 0x7F, 2
            if size == 126:
                if len(self._buffer) < 4:
                    return
                (size,) = struct.unpack_from("!H", self._buffer, 2)
                offset = 4
            elif size == 127:
                if len(self._buffer) < 10:
                    return
                (size,) = struct.unpack_from("!Q", self._buffer, 2)
                offset = 10
            if len(self._buffer) < offset + size:
                return
            payload, self._buffer = self._buffer[offset : offset + size], self._buffer[offset + size :]
            if opcode == 0x1:
                self._message(orjson.loads(payload))
            elif opcode == 0x9 and self.transport is not None:  # ping: pong
                self.transport.write(struct.pack("!BB", 0x8A, 0x80 | size) + _ZERO_MASK + payload)
            elif opcode == 0x8:
                self._fail(ConnectionError("the CSMS closed the connection"))

    def _message(self, message: list[Any]) -> None:
        kind, unique_id = message[0], message[1]
        if kind == 2:  # a CALL from the CSMS: the lean station implements none of them
            self._send([4, unique_id, "NotImplemented", "load-mode stations answer no commands", {}])
            return
        if self._pending is None or unique_id != self._pending[0]:
            return
        _, action, sent_at = self._pending
        self._pending = None
        latency = time.perf_counter() - sent_at
        if kind == 3:
            self._report(action, latency, None)
            answer = message[2]
        else:
            self._report(action, latency, f"CALLERROR {message[2]}")
            answer = {}
        if self.running:
            asyncio.get_running_loop().call_later(self._pace * random.uniform(0.5, 1.5), self._next, answer)

    def _next(self, answer: dict[str, Any] | None) -> None:
        if not self.running:
            return
        try:
            action, payload = self._plan.send(answer)
        except StopIteration:
            self.close()
            return
        unique_id = str(next(self._ids))
        self._pending = (unique_id, action, time.perf_counter())
        self._send([2, unique_id, action, payload])

    def _send(self, message: list[Any]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(orjson.dumps(message)))

    def _fail(self, exc: Exception) -> None:
        if not self.connected.done():
            self.connected.set_exception(exc)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.running and self._upgraded:  # not our goodbye: the CSMS or the network ended it
            self._report("connection", None, "lost")
        self.running = False
        if not self.connected.done():
            self.connected.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.finished.done():
            self.finished.set_result(None)

    def close(self) -> None:
        self.running = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_CLOSE)
            self.transport.close()
        if not self.finished.done():
            self.finished.set_result(None)
