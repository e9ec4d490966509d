"""Test helpers: a handle on the running CSMS, and real OCPP clients built on the `ocpp` package."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v201 import ChargePoint as ChargePoint201
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from evscada.app import Application
from evscada.core.model import AuthorizationStatus, SecurityProfile, StationId, Token
from evscada.storage import tables

# A minimal BootNotification per sub-protocol (2.1 speaks 2.0.1's here).
BOOT = {
    "ocpp1.6": {"chargePointVendor": "V", "chargePointModel": "M"},
    "ocpp2.0.1": {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
    "ocpp2.1": {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
}


class Csms:
    """The CSMS under test, with shortcuts to register things and read what landed in the database."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def url(self, station_id: str, *, tls: bool = False, base: str = "/ocpp") -> str:
        scheme = "wss" if tls else "ws"
        return f"{scheme}://127.0.0.1:{self.app.gateway.ports[scheme]}{base}/{station_id}"

    async def add_station(
        self, station_id: str, *, profile: int = 0, password: str | None = None, pending: bool = False
    ) -> None:
        from evscada.core.model import RegistrationStatus

        await self.app.core.stations.register(
            station_id=StationId(station_id),
            security_profile=SecurityProfile(profile),
            password=password,
            registration=RegistrationStatus.PENDING if pending else RegistrationStatus.ACCEPTED,
        )

    async def add_token(self, value: str, *, status: str = "Accepted", **fields: Any) -> None:
        await self.app.core.authorization.save_token(
            token=Token(value=value, status=AuthorizationStatus(status), **fields)
        )

    async def rows(self, table_name: str, **where: Any) -> list[dict[str, Any]]:
        table = {**tables.metadata.tables, **tables.views.tables}[table_name]
        statement = select(table).where(*(table.c[key] == value for key, value in where.items()))
        async with self.app.database.transaction() as connection:
            result = await connection.execute(statement)
            return [dict(row) for row in result.mappings()]

    async def station(self, station_id: str) -> dict[str, Any]:
        (row,) = await self.rows("stations", id=station_id)
        return row


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def open_socket(
    url: str, subprotocol: str, *, headers: dict[str, str] | None = None, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[ClientConnection]:
    async with connect(
        url,
        subprotocols=[subprotocol],
        additional_headers=headers,
        ssl=ssl_context,  # type: ignore[list-item]
        open_timeout=10,
        ping_interval=None,
    ) as ws:
        yield ws


async def exchange(ws: ClientConnection, frame: list[Any], *, timeout: float = 30) -> list[Any]:
    """Send one OCPP-J frame on a raw socket and read the next frame back."""
    await ws.send(json.dumps(frame))
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return answer


@contextlib.asynccontextmanager
async def station16(csms: Csms, station_id: str, **options: Any) -> AsyncIterator[ChargePoint16]:
    """A real OCPP 1.6 ChargePoint (the `ocpp` package's client side) connected over a real socket."""
    async with connected_station(ChargePoint16, "ocpp1.6", csms, station_id, **options) as cp:
        yield cp


@contextlib.asynccontextmanager
async def station201(csms: Csms, station_id: str, **options: Any) -> AsyncIterator[ChargePoint201]:
    async with connected_station(ChargePoint201, "ocpp2.0.1", csms, station_id, **options) as cp:
        yield cp


@contextlib.asynccontextmanager
async def connected_station(
    cls: type,
    subprotocol: str,
    csms: Csms,
    station_id: str,
    *,
    password: str | None = None,
    tls: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    base: str = "/ocpp",
    response_timeout: float = 30,
    until_registered: bool = False,
) -> AsyncIterator[Any]:
    """An `ocpp`-library client of class `cls` over a real socket, reading until the block ends; with
    `until_registered`, the block starts once the gateway holds the session (so commands find the station)."""
    headers = basic_auth(station_id, password) if password is not None else None
    url = csms.url(station_id, tls=tls, base=base)
    async with open_socket(url, subprotocol, headers=headers, ssl_context=ssl_context) as ws:
        cp = cls(station_id, ws, response_timeout=response_timeout)
        reader = asyncio.create_task(cp.start())
        try:
            if until_registered:
                await until_connected(csms, station_id)
            yield cp
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def until_connected(csms: Csms, station_id: str) -> None:
    """Wait (up to 10 s, a loaded machine) until the gateway's registry holds the station's session and its OCPP
    version is stored: the API judges a command by the stored version (a 1.6 profile's rules, for one)."""
    sid = StationId(station_id)
    for _ in range(500):
        if csms.app.gateway.registry.get(sid) is not None:
            stored = (await csms.app.core.queries.station(station_id=sid)).station
            if stored.ocpp_version is not None:
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{station_id} never registered a session with its OCPP version stored")


class Recording:
    """A station mix-in that remembers the CSMS's calls and answers each with a status chosen per action."""

    list_version: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, str] = {}  # action -> the status to answer (default Accepted)

    def got(self, action: str, payload: dict[str, Any]) -> str:
        self.received.append((action, payload))
        return self.answers.get(action, "Accepted")

    def last(self, action: str) -> dict[str, Any]:
        return [p for a, p in self.received if a == action][-1]


async def eventually(check: Any, *, timeout: float = 15.0) -> Any:
    """Poll an async predicate until it returns something truthy (for effects that land after a reply). The default
    wait is long because CI machines are shared: a loaded one has stalled a process for more than 5 s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)
