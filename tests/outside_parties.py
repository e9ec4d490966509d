"""Real outside parties for tests (a plugin of tests/conftest.py): an SMTP server and an HTTP receiver."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, Request, Response

from evscada.api.server import HttpServer
from evscada.core.model import Alarm, AlarmId, AlarmPriority, AlarmState, EvseRef, StationId


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpSink:
    """A real SMTP server in its own thread (aiosmtpd); every accepted message lands in `messages`."""

    def __init__(self, port: int | None = None, **options: Any) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self._options = options  # aiosmtpd's: ssl_context (implicit TLS), tls_context, require_starttls, ...
        self._controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **self._options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class HttpReceiver:
    """A real HTTP server on an ephemeral port that records every POST; `status` is what it answers."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    status: int = 200

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    state = HttpReceiver()
    app = FastAPI()

    @app.post("/{path:path}")
    async def record(path: str, request: Request) -> Response:
        state.requests.append(Received(path, dict(request.headers), await request.body()))
        return Response(status_code=state.status)

    server = HttpServer(app, host="127.0.0.1", port=0)
    await server.start()
    state.port = server.port
    yield state
    await server.stop()


def make_alarm(
    alarm_id: int,
    station_id: str,
    *,
    priority: int = 1,
    source: str = "station_fault",
    message: str = "Ground fault on connector 1",
    state: AlarmState = AlarmState.ACTIVE,
    **fields: Any,
) -> Alarm:
    now = fields.pop("raised_at", None) or datetime.now(UTC)
    return Alarm(
        id=AlarmId(alarm_id),
        key=f"{source}:{station_id}:{alarm_id}",
        source=source,
        station_id=StationId(station_id),
        evse=EvseRef(1, 1),
        priority=AlarmPriority(priority),
        message=message,
        state=state,
        raised_at=now,
        last_raised_at=now,
        **fields,
    )
