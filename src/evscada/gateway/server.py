"""The OCPP WebSocket listener: path -> station id, sub-protocol, Basic Auth, TLS and client certificates."""

from __future__ import annotations

import asyncio
import base64
import binascii
import http
import logging
import os
import random
import secrets
import ssl
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from evscada.core.alarms.rules import CSMS_STOPPED
from evscada.core.errors import AuthenticationFailed, UnknownStation
from evscada.core.model import Station, StationId
from evscada.core.stations.service import MAX_STATION_ID_LENGTH, Credentials
from evscada.gateway.adapter import VersionAdapter
from evscada.gateway.admission import Admission, BackingOff, StationBackOffSettings
from evscada.gateway.coalescing import CoalescingTransport, WriteCoalescer
from evscada.gateway.registry import SessionRegistry, StationClaims
from evscada.gateway.services import StationServices
from evscada.gateway.session import StationSession
from evscada.gateway.upstream.link import UpstreamLink, UpstreamLinks

log = logging.getLogger(__name__)

PROTOCOL_ERROR = 1002
TRY_AGAIN_LATER = 1013
STORAGE_RETRY_AFTER = (30, 90)  # seconds, at random: stations turned away together do not come back together
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


class _RedactCredentials(logging.Filter):
    """websockets logs every request header at DEBUG; Basic Auth is only base64, so the password would be readable."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() in _CREDENTIAL_HEADERS:
            record.args = (args[0], "[redacted]")
        return True


_REDACT_CREDENTIALS = _RedactCredentials()


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    host: str
    port: int
    tls_port: int | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    call_timeout: float = 30.0
    frame_log_size: int = 100
    compression: bool = False
    ping_interval: float | None = 60.0
    max_message_size: int = 1 << 20
    # A site coming back from a power cut reconnects all at once; asyncio's default of 100 drops the rest, and
    # each dropped station only retries after the kernel's SYN back-off (1, 3, 7, 15 s ...).
    listen_backlog: int = 4096
    backoff: StationBackOffSettings = field(default_factory=StationBackOffSettings)  # type: ignore[arg-type]
    upstream_reconnect_max: float = 60.0  # OCPP proxy: longest wait between attempts to reach an upstream CSMS


@dataclass(slots=True)
class _Hold:
    """A session's claim on its station in a cluster (ADR 12)."""

    token: str  # unique per session: tells this session's claim from a newer one's
    taken_over: str | None = None  # why another session (on another node) took the station from this one


def station_id_from_path(path: str) -> StationId | None:
    """Stations are configured with a base URL and append their id: the last path segment is the id."""
    segments = [s for s in urlsplit(path).path.split("/") if s]
    if not segments:
        return None
    station_id = unquote(segments[-1])
    if not 0 < len(station_id) <= MAX_STATION_ID_LENGTH or not station_id.isprintable():
        return None
    return StationId(station_id)


def basic_auth_password(headers: Headers, station_id: str) -> tuple[str | None, str | None]:
    """(password, problem) from an Authorization: Basic header whose user must be the station id."""
    value = headers.get("Authorization")
    if value is None:
        return None, None
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None, f"unsupported Authorization scheme {scheme!r}"
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, "Authorization header is not valid base64 user:password"
    user, sep, password = decoded.partition(":")
    if not sep:
        return None, "Authorization header lacks the user:password separator"
    if user != station_id:
        return None, f"Basic Auth user {user!r} is not the station id"
    return password, None


class Gateway:
    def __init__(
        self,
        *,
        services: StationServices,
        adapters: Sequence[VersionAdapter],
        config: GatewayConfig,
        registry: SessionRegistry | None = None,
        storage_fault: Callable[[], str | None] | None = None,
        claims: StationClaims | None = None,
    ) -> None:
        self.services = services
        self._claims = claims  # a cluster's station ownership (ADR 12); None: this process alone holds stations
        self._storage_fault = storage_fault or (lambda: None)  # why the database fails now; None when it works
        self.registry = SessionRegistry() if registry is None else registry  # an empty one is falsy
        self._adapters = {adapter.subprotocol: adapter for adapter in adapters}
        self._config = config
        self._servers: list[Server] = []
        self._ports: dict[str, int] = {}
        self._coalescer = WriteCoalescer()
        self.message_counts: Counter[tuple[str, str]] = Counter()  # (OCPP version, action) -> calls received
        self.refusals: Counter[str] = Counter()  # reason -> handshakes refused (unknown_station, backing_off ...)
        self.upstream_counts: Counter[str] = Counter()  # OCPP proxy: forwarded, held, replayed, dropped, refused ...
        self.upstream_links = UpstreamLinks(
            service=services.upstream,
            reconnect_max=config.upstream_reconnect_max,
            counts=self.upstream_counts,
            follow_service=claims is None,  # in a cluster app.py hands it every node's changes
            site_of=services.stations.site_of,
        )
        self._admission = Admission(services=services, settings=config.backoff, refusals=self.refusals)
        self._closing: set[asyncio.Task[None]] = set()  # replaced connections being closed in the background
        self._stopping = False  # stop() closes the connections: their disconnect reason says so
        # connection -> station admitted at the handshake (weak: a handshake may fail after admission)
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, Station] = weakref.WeakKeyDictionary()

    @property
    def ports(self) -> dict[str, int]:
        """Bound ports by scheme ("ws", "wss"), useful when configured with port 0."""
        return dict(self._ports)

    async def start(self) -> None:
        config = self._config
        handshake_log = logging.getLogger("websockets.server")
        if _REDACT_CREDENTIALS not in handshake_log.filters:
            handshake_log.addFilter(_REDACT_CREDENTIALS)
        options: dict[str, Any] = {
            "subprotocols": list(self._adapters),
            "select_subprotocol": self._select_subprotocol,
            "process_request": self._process_request,
            "compression": "deflate" if config.compression else None,
            "ping_interval": config.ping_interval,
            "ping_timeout": config.ping_interval,
            "max_size": config.max_message_size,
            "open_timeout": 60,
            "server_header": "evscada",
            "logger": handshake_log,
            "backlog": config.listen_backlog,
        }
        await self._listen("ws", config.port, options)
        if config.tls_cert_file is not None and config.tls_port is not None:
            await self._listen("wss", config.tls_port, {**options, "ssl": build_server_tls_context(config)})
        log.info("OCPP listening on %s", ", ".join(f"{s}://{config.host}:{p}" for s, p in self.ports.items()))

    async def _listen(self, scheme: str, port: int, options: dict[str, Any]) -> None:
        try:
            server = await serve(self._serve_station, self._config.host, port, **options)
        except OSError as exc:
            setting = "ocpp_port / EVSCADA_OCPP_PORT" if scheme == "ws" else "ocpp_tls_port / EVSCADA_OCPP_TLS_PORT"
            raise OSError(
                f"stations cannot be served on {scheme}://{self._config.host}:{port} "
                f"({os.strerror(exc.errno) if exc.errno else exc}); stop what holds the port (another evscada?) "
                f"or set {setting} to a free port"
            ) from None
        self._servers.append(server)
        self._ports[scheme] = next(iter(server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        self._stopping = True
        for server in self._servers:
            server.close(close_connections=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _select_subprotocol(self, connection: ServerConnection, offered: Sequence[str]) -> str | None:
        # The station lists its versions in order of preference; take the first we speak.
        for subprotocol in offered:
            if subprotocol in self._adapters:
                return subprotocol
        return None  # handshake completes without the header, then we close (OCPP-J 3.1.2)

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = station_id_from_path(request.path)
        if station_id is None:
            self.refusals["no_station_id"] += 1
            return connection.respond(http.HTTPStatus.NOT_FOUND, "the URL must end with the station id\n")
        if (fault := self._storage_fault()) is not None:
            # Accepted and then closed (1011), a station counts the connection as made and comes back at once: 200
            # stations did 8,587 times in 40 s on a full disk. A refused handshake is a failed attempt, which its
            # reconnect back-off slows down; some also honour Retry-After (docs/operations.md, "Disk full").
            self.refusals["storage_failing"] += 1
            log.debug("%s: connection refused: the database fails (%s)", station_id, fault)
            response = connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "the CSMS cannot store data now\n")
            response.headers["Retry-After"] = str(random.randint(*STORAGE_RETRY_AFTER))  # spread the reconnects
            return response
        password, problem = basic_auth_password(request.headers, station_id)
        tls_object = connection.transport.get_extra_info("ssl_object")
        credentials = Credentials(
            password=password, tls=tls_object is not None, client_certificate_cn=_client_cn(tls_object)
        )
        address = str(connection.remote_address[0]) if connection.remote_address else "unknown"
        try:
            station = await self._admission.admit(
                station_id=station_id, address=address, credentials=credentials, header_problem=problem
            )
        except UnknownStation:
            # Whatever it sent: an unknown id raises no security event, which anyone could fill the alarm list with.
            log.warning("%s: connection refused: unknown station (from %s)", station_id, address)
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"unknown station {station_id}\n")
        except BackingOff as exc:
            log.debug("%s: connection refused unchecked: %s (from %s)", station_id, exc.message, address)
            return _unauthorized(connection, exc.message, retry_after=exc.retry_after)
        except AuthenticationFailed as exc:
            log.warning("%s: connection refused: %s (from %s)", station_id, exc.message, address)
            return _unauthorized(connection, exc.message)
        self._admitted[connection] = station
        return None

    async def _serve_station(self, connection: ServerConnection) -> None:
        station = self._admitted.pop(connection, None)
        if station is None:  # cannot happen: process_request admitted it
            await connection.close(PROTOCOL_ERROR, "not admitted")
            return
        adapter = self._adapters.get(connection.subprotocol or "")
        if adapter is None:
            log.warning(
                "%s: no supported OCPP sub-protocol offered (%s); closing",
                station.id,
                connection.request.headers.get("Sec-WebSocket-Protocol") if connection.request else None,
            )
            await connection.close(PROTOCOL_ERROR, "none of the offered sub-protocols is supported")
            return
        # websockets writes through connection.transport; answers now leave in bursts (see coalescing.py).
        connection.transport = CoalescingTransport(connection.transport, self._coalescer)  # type: ignore[assignment]
        session = StationSession(
            station_id=station.id,
            connection=connection,
            adapter=adapter,
            services=self.services,
            registration=station.registration,
            call_timeout=self._config.call_timeout,
            frame_log_size=self._config.frame_log_size,
            message_counts=self.message_counts,
        )
        previous = self.registry.add(session)
        if previous is not None:
            log.info("%s: new connection replaces the previous one", station.id)
            # Not awaited here: a station reconnects because its old link is dead, and a dead peer never answers
            # the close; the new session would wait close_timeout (10 s) before reading its BootNotification.
            closing = asyncio.create_task(previous.close("replaced by a new connection of the same station"))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        hold = await self._claim(session)
        try:
            await self.services.stations.connected(station_id=station.id, ocpp_version=adapter.version)
        except Exception:
            if (fault := self._storage_fault()) is None:
                raise
            log.warning("%s: connection closed: the database fails (%s)", station.id, fault, exc_info=True)
            self.registry.remove(session)
            await self._release(session, hold)
            await connection.close(TRY_AGAIN_LATER, "the CSMS cannot store data now")
            return
        log.info("%s: connected (OCPP %s) from %s", station.id, adapter.version, connection.remote_address)
        await self._upstream_link(session, station)
        reason = "connection closed"
        try:
            await session.run(connection)
        except ConnectionClosed:
            pass  # an abnormal close is still just the end of the session; its code is the reason
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if connection.close_code is not None:
                reason = f"closed with code {connection.close_code} {connection.close_reason or ''}".strip()
            if self._stopping:
                reason = CSMS_STOPPED  # not the station's doing: no offline alarm, now or after the restart
            await self.upstream_links.detach(session)  # also a link started by a configuration change
            await self._release(session, hold)
            # A session taken over by another node's is no disconnection: the station is connected there.
            if self.registry.remove(session) and hold.taken_over is None:
                await self.services.stations.disconnected(station_id=station.id, reason=reason)
                log.info("%s: disconnected (%s)", station.id, reason)

    async def _claim(self, session: StationSession) -> _Hold:
        """In a cluster, make this session the station's owner: the last connection wins on every node."""
        hold = _Hold(token=secrets.token_hex(8))
        if self._claims is not None:

            async def drop(why: str) -> None:
                hold.taken_over = why
                await session.close(why)

            await self._claims.claim(session.station_id, hold.token, drop)
        return hold

    async def _release(self, session: StationSession, hold: _Hold) -> None:
        if self._claims is not None:
            await self._claims.release(session.station_id, hold.token)

    async def _upstream_link(self, session: StationSession, station: Station) -> UpstreamLink | None:
        """The OCPP proxy for this connection, when the station or its site has an upstream CSMS (and from when one
        is set while the station is connected: UpstreamLinks)."""
        return await self.upstream_links.attach(session, station)


def _unauthorized(connection: ServerConnection, message: str, *, retry_after: int | None = None) -> Response:
    response = connection.respond(http.HTTPStatus.UNAUTHORIZED, f"{message}\n")
    response.headers["WWW-Authenticate"] = 'Basic realm="evscada", charset="UTF-8"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def build_server_tls_context(config: GatewayConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # OCPP security profiles 2 and 3
    assert config.tls_cert_file is not None and config.tls_key_file is not None
    context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    if config.tls_client_ca_file is not None:
        context.load_verify_locations(config.tls_client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL  # profile 3 stations present one; profile 2 stations do not
    return context


def _client_cn(tls_object: Any) -> str | None:
    if tls_object is None:
        return None
    certificate = tls_object.getpeercert()
    if not certificate:
        return None
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
