"""How a simulated station reaches the CSMS: one Connection per attempt, over the `ocpp` package's client (full)
or the lean socket (load mode); `fleet.run_station` retries refused and lost ones the same way for both."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.frames import CloseCode

from evscada.simulator.model import StationSpec
from evscada.simulator.ocpp16.link import Link16
from evscada.simulator.ocpp201.link import Link201
from evscada.simulator.station import Link

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
_LINKS: dict[str, type[Link16] | type[Link201]] = {"1.6": Link16, "2.0.1": Link201}


@dataclass(frozen=True, slots=True)
class Connection:
    link: Link
    serve: Callable[[], Coroutine[Any, Any, None]]  # answers the CSMS's calls; raises when the connection ends
    abort: Callable[[], None]  # ends it without a close frame, as a cut cable would


class Refused(Exception):
    """The CSMS answered the WebSocket handshake with an HTTP error (unknown station, bad password...)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


# (base URL, station) -> an open connection for the length of the `async with`.
Dial = Callable[[str, StationSpec], AbstractAsyncContextManager[Connection]]


def basic_auth(spec: StationSpec) -> str | None:
    """The Authorization header of security profiles 1 and 2, or None."""
    if spec.password is None:
        return None
    return "Basic " + base64.b64encode(f"{spec.station_id}:{spec.password}".encode()).decode()


def tls_context(spec: StationSpec) -> ssl.SSLContext:
    """What the station trusts and presents over wss:// (blocking: it reads the certificate files it writes)."""
    context = ssl.create_default_context(cadata=spec.tls_trust) if spec.tls_trust else ssl.create_default_context()
    if spec.client_certificate is not None:
        chain, key = spec.client_certificate
        with tempfile.TemporaryDirectory(prefix="evscada-sim-") as folder:
            cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert_file.write_text(chain)
            key_file.touch(mode=0o600)
            key_file.write_text(key)
            context.load_cert_chain(cert_file, key_file)
    return context


@contextlib.asynccontextmanager
async def dial_ocpp(base_url: str, spec: StationSpec) -> AsyncIterator[Connection]:
    """A full station's connection: websockets and the `ocpp` package's ChargePoint."""
    authorization = basic_auth(spec)
    tls = await asyncio.to_thread(tls_context, spec) if base_url.startswith("wss:") else None
    async with contextlib.AsyncExitStack() as stack:
        try:
            ws = await stack.enter_async_context(
                connect(
                    f"{base_url.rstrip('/')}/{spec.station_id}",
                    subprotocols=[SUBPROTOCOLS[spec.version]],  # type: ignore[list-item]
                    additional_headers={"Authorization": authorization} if authorization else None,
                    open_timeout=30,
                    ssl=tls,
                )
            )
        except InvalidStatus as exc:
            raise Refused(exc.response.status_code) from exc
        link = _LINKS[spec.version](spec.station_id, ws, response_timeout=30)
        try:
            yield Connection(link, link.start, ws.transport.abort)
        except asyncio.CancelledError:
            # The simulation is ending: say so (1001), where websockets would report its own failure (1011).
            await ws.close(CloseCode.GOING_AWAY, "simulator stopping")
            raise
