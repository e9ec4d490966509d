"""Composition root: builds storage, bus, core and gateway from Settings; owns start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI

from evscada.api.app import create_api, create_monitoring
from evscada.api.deps import ApiContext
from evscada.api.schemas import transaction_json
from evscada.api.server import HttpServer
from evscada.bus import Bus
from evscada.bus.frames import FrameServer, RemoteFrames
from evscada.bus.leases import Leadership
from evscada.bus.local import LocalBus
from evscada.bus.node_channel import NodeChannel
from evscada.bus.ownership import StationOwnership
from evscada.bus.redis import RedisBus
from evscada.bus.routing import CommandServer, RoutingCommander
from evscada.console.app import mount_console
from evscada.console.web import ConsoleContext
from evscada.core.alarms.engine import AlarmEngine
from evscada.core.alarms.rules import AlarmRules
from evscada.core.certificates.authority import CertificateAuthority, new_authority
from evscada.core.certificates.model import AuthorityMode
from evscada.core.clock import SystemClock
from evscada.core.control.commands import StationCommander
from evscada.core.energy.sending import SendRule
from evscada.core.energy.site_manager import SiteLoadManager
from evscada.core.events import UpstreamConfigChanged
from evscada.core.model import StationId
from evscada.core.ports import Clock
from evscada.core.services import Core, CoreConfig
from evscada.core.upstream.service import Scope
from evscada.gateway.commander import GatewayCommander
from evscada.gateway.ocpp16.handlers import ADAPTER as OCPP16
from evscada.gateway.ocpp201.handlers import ADAPTER as OCPP201
from evscada.gateway.ocpp201.handlers import ADAPTER_21 as OCPP21
from evscada.gateway.registry import SessionRegistry
from evscada.gateway.server import Gateway, GatewayConfig
from evscada.gateway.services import StationServices
from evscada.integrations.iec104.server import Iec104Bridge
from evscada.integrations.mqtt.bridge import MqttBridge
from evscada.integrations.notifications.notifier import Notifier
from evscada.integrations.ocsp import fetch_ocsp
from evscada.integrations.opcua.server import OpcUaBridge
from evscada.integrations.webhooks.runner import Webhooks
from evscada.security.authority_files import load_or_create
from evscada.security.passwords import Argon2Hasher
from evscada.security.secret_box import FernetSecretBox
from evscada.settings import Settings
from evscada.storage.db import Database
from evscada.storage.files.local import LocalFileStore
from evscada.storage.files.s3 import S3FileStore, S3Location
from evscada.storage.historian.aggregator import MeterAggregator
from evscada.storage.historian.retention import Pruner
from evscada.storage.store import SqlStore

log = logging.getLogger(__name__)

# Seconds between copies of logged stations' ring buffers to the database (message logging on the station page).
FRAME_RECORD_INTERVAL = 1.0

ADAPTERS = {adapter.subprotocol: adapter for adapter in (OCPP21, OCPP201, OCPP16)}


def build_core(
    settings: Settings,
    store: SqlStore,
    bus: Bus,
    clock: Clock | None = None,
    registry: SessionRegistry | None = None,
    *,
    authority: CertificateAuthority | Callable[[], CertificateAuthority] | None = None,
    commander: StationCommander | None = None,
) -> Core:
    """The core; without a registry or a commander (CLI tools) commands find every station offline."""
    core = Core.build(
        store=store,
        bus=bus,
        clock=clock or SystemClock(),
        hasher=Argon2Hasher(),
        commander=commander or GatewayCommander(SessionRegistry() if registry is None else registry),
        config=CoreConfig(
            heartbeat_interval=settings.heartbeat_interval,
            register_unknown_stations=settings.register_unknown_stations,
            upstream_buffer_limit=settings.upstream_buffer_limit,
            allow_concurrent_transactions=settings.allow_concurrent_transactions,
            accepted_data_transfer_vendors=frozenset(settings.accepted_data_transfer_vendors),
            historian=settings.historian.query_config(),
            login_backoff=settings.console.login_backoff.rules(),
            operator_zone=settings.operator_zone,
            files=settings.files.config(),
            reports=settings.reports.config(settings.operator_zone),
            certificates=settings.certificates.config(),
            firmware=settings.firmware.config(),
        ),
        file_store=file_store(settings),
        authority=authority,
        ocsp_fetch=fetch_ocsp,
    )
    core.upstream.secrets = FernetSecretBox(Path(settings.upstream_key_file))  # OCPP proxy passwords, sealed at rest
    return core


def file_store(settings: Settings) -> LocalFileStore | S3FileStore:
    """Where station files, firmware images and reports are kept: files.backend chooses."""
    files = settings.files
    if files.backend == "s3" and files.s3_bucket is not None:  # the settings require a bucket with "s3"
        secret = files.s3_secret_access_key
        return S3FileStore(
            S3Location(
                bucket=files.s3_bucket,
                endpoint_url=files.s3_endpoint_url,
                region=files.s3_region,
                access_key_id=files.s3_access_key_id,
                secret_access_key=secret.get_secret_value() if secret is not None else None,
                prefix=files.s3_prefix,
            )
        )
    return LocalFileStore(files.folder_path)


def station_authority(settings: Settings) -> CertificateAuthority:
    """The built-in CA from its files, made when neither exists (the first CSR it signs)."""
    section = settings.certificates
    certificate, key = load_or_create(
        section.ca_cert_path,
        section.ca_key_path,
        make_new=lambda: new_authority(organisation=section.organisation, now=SystemClock().now()),
    )
    return CertificateAuthority(certificate, key)


def build_web(api: ApiContext, console: ConsoleContext | None) -> FastAPI:
    """The HTTP application: the REST API (/api/v1, /metrics), then the console's pages on / unless turned off."""
    web = create_api(api)
    if console is not None:
        mount_console(web, console)
    return web


class Application:
    """The running CSMS; `async with Application(settings) as app:` starts and stops everything."""

    # The cluster's parts (ADR 12), set by _cluster_parts when cluster.redis_url is; None in one process.
    redis: aioredis.Redis | None = None
    node_channel: NodeChannel | None = None
    ownership: StationOwnership | None = None
    command_server: CommandServer | None = None
    routing: RoutingCommander | None = None  # commands to stations on any node
    remote_frames: RemoteFrames | None = None  # the console's view of stations' frames on any node
    leadership: Leadership | None = None

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.database = Database(settings.database_url, pool_size=settings.database_pool_size)
        self.store = SqlStore(self.database)
        cluster = settings.cluster
        self.role = cluster.role
        self.node_id = cluster.node
        # What this process does: `all` both; a gateway holds stations, an api process serves HTTP (ADR 12).
        self.holds_stations = self.role in ("all", "gateway")
        # A gateway's HTTP listener (when http_port is set) serves only health and metrics.
        self.serves_http = settings.http_port is not None
        registry = SessionRegistry()
        local_commander = GatewayCommander(registry)
        self.bus: LocalBus | RedisBus
        if cluster.redis_url is not None:
            self.bus = self._cluster_parts(cluster.redis_url, local_commander)
        else:
            self.bus = LocalBus()
        certificates = settings.certificates
        authority: CertificateAuthority | Callable[[], CertificateAuthority] | None = None
        if certificates.mode == AuthorityMode.BUILTIN:
            authority = lambda: station_authority(settings)  # noqa: E731  # made on first use
            trusted = settings.tls_client_ca_file
            if trusted is not None and trusted.resolve() == certificates.ca_cert_path.resolve():
                authority = station_authority(settings)  # the TLS listener trusts it from the start: made now
        router = self.routing or local_commander
        self.core = build_core(settings, self.store, self.bus, clock, registry, authority=authority, commander=router)
        # Built in every role (an api process's is never started: its counters stay empty).
        self.gateway = Gateway(
            services=StationServices.of(self.core),
            registry=registry,
            claims=self.ownership if self.holds_stations else None,
            adapters=[ADAPTERS[name] for name in settings.ocpp_versions],
            storage_fault=self.database.faults.current,
            config=GatewayConfig(
                host=settings.ocpp_host,
                port=settings.ocpp_port,
                tls_port=settings.ocpp_tls_port,
                tls_cert_file=settings.tls_cert_file,
                tls_key_file=settings.tls_key_file,
                tls_client_ca_file=settings.tls_client_ca_file,
                call_timeout=settings.call_timeout,
                frame_log_size=settings.frame_log_size,
                compression=settings.websocket_compression,
                ping_interval=settings.websocket_ping_interval,
                max_message_size=settings.websocket_max_message_size,
                listen_backlog=settings.ocpp_listen_backlog,
                backoff=settings.station_backoff,
                upstream_reconnect_max=settings.upstream_reconnect_max,
            ),
        )
        self.aggregator = MeterAggregator(
            self.database,
            batch=settings.historian.aggregate_batch,
            max_share=settings.historian.aggregate_max_share,
            commit_settle_seconds=settings.historian.commit_settle_seconds,
            gateway_busy=lambda: self.store.writes_waiting,
        )
        self.pruner = Pruner(self.database, settings.historian, clock or SystemClock())
        self._tasks: list[asyncio.Task[None]] = []  # this process's own work
        self._singleton_tasks: list[asyncio.Task[None]] = []  # work that runs once per cluster (ADR 12)
        self._singletons_running = False
        self._last_seen_elsewhere: dict[StationId, datetime] = {}
        self._singletons_lock = asyncio.Lock()
        self.http: HttpServer | None = None
        self.webhooks = Webhooks(
            store=self.store,
            bus=self.bus,
            clock=self.core.clock,
            settings=settings.webhooks,
            transaction_json=transaction_json,
        )
        self.notifier = Notifier(config=settings.notifications, store=self.store, bus=self.bus, clock=self.core.clock)
        # The SCADA bridges (docs/scada-bridges.md): off unless their settings switch them on.
        # In a cluster they run in api (or all) processes, which see every node's events and route commands.
        bridges_here = self.role in ("all", "api")
        self.mqtt = (
            MqttBridge(core=self.core, bus=self.bus, settings=settings.mqtt)
            if settings.mqtt.enabled and bridges_here
            else None
        )
        self.opcua = (
            OpcUaBridge(core=self.core, bus=self.bus, settings=settings.opcua)
            if settings.opcua.enabled and bridges_here
            else None
        )
        self.alarm_engine: AlarmEngine | None = None
        if settings.alarms.enabled:
            self.alarm_engine = AlarmEngine(
                core=self.core,
                bus=self.bus,
                rules=AlarmRules(settings.alarms),
                last_seen=self._last_seen,
                resume_connected=self.leadership is not None,
            )

        self.load_manager: SiteLoadManager | None = None
        if settings.load_management_interval_seconds is not None:
            self.load_manager = SiteLoadManager(
                core=self.core,
                store=self.store,
                bus=self.bus,
                interval=settings.load_management_interval_seconds,
                rule=SendRule(min_interval=timedelta(seconds=settings.load_management_send_interval_seconds)),
                lease=timedelta(seconds=settings.load_management_lease_seconds),
                zone=settings.operator_zone,
                share_views=self.leadership is not None,
            )
        # The IEC 104 server's commands act through the load manager: built after it.
        self.iec104 = (
            Iec104Bridge(core=self.core, bus=self.bus, settings=settings.iec104, load_manager=self.load_manager)
            if settings.iec104.enabled and bridges_here
            else None
        )

    def _cluster_parts(self, redis_url: str, local_commander: GatewayCommander) -> RedisBus:
        """Redis, its bus, station ownership, command routing and the leader lease (ADR 12)."""
        cluster, settings = self.settings.cluster, self.settings
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        # One subscription per node for what other nodes send it: ownership kicks, commands, their replies.
        self.node_channel = NodeChannel(self.redis, node_id=self.node_id, prefix=cluster.prefix)
        self.ownership = StationOwnership(
            self.redis,
            node_id=self.node_id,
            prefix=cluster.prefix,
            ttl_seconds=cluster.ownership_seconds,
            channel=self.node_channel,
        )
        self.routing = RoutingCommander(
            self.redis,
            node_id=self.node_id,
            prefix=cluster.prefix,
            ownership=self.ownership,
            local=local_commander if self.holds_stations else None,
            timeout=settings.call_timeout + 5,
        )
        if self.holds_stations:
            self.command_server = CommandServer(
                self.redis,
                node_id=self.node_id,
                prefix=cluster.prefix,
                local=local_commander,
                channel=self.node_channel,
            )
            FrameServer(self.node_channel, self._station_frames)
        self.remote_frames = RemoteFrames(self.node_channel, self.ownership, self._station_frames)
        self.leadership = Leadership(
            self.redis,
            node_id=self.node_id,
            prefix=cluster.prefix,
            lease_seconds=cluster.lease_seconds,
            elected=self._start_singletons,
            deposed=self._stop_singletons,
        )
        return RedisBus(self.redis, node_id=self.node_id, prefix=cluster.prefix)

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await self.database.migrate()
        if isinstance(files := self.core.files.file_store, S3FileStore):
            await files.check()  # a missing bucket or refused credentials stop start-up, saying what to do
        if self.leadership is None:
            await self._start_singletons()  # before the gateway: no station's first event goes unheard
        else:
            if self.load_manager is not None:  # grid limits set through any process reach this one (ADR 12)
                self._tasks.append(asyncio.create_task(self.load_manager.follow(), name="grid-limits"))
            await self._join_cluster()
        for bridge in self.bridges():  # before the gateway: they must see the first station's first event
            await bridge.start()
        if self.holds_stations:
            await self.gateway.start()
        if self.serves_http:
            await self._start_http()
        if self.holds_stations:
            self._tasks.append(
                asyncio.create_task(
                    self.core.frame_log.keep_recording(self._station_frames, FRAME_RECORD_INTERVAL), name="frame-log"
                )
            )
            self._tasks.append(
                asyncio.create_task(
                    self.gateway.registry.keep_last_seen_flushed(self.store, self.settings.last_seen_flush_interval),
                    name="last-seen-flush",
                )
            )
            if self.ownership is not None:
                self._tasks.append(asyncio.create_task(self._follow_upstream_changes(), name="upstream-changes"))

    async def _join_cluster(self) -> None:
        """Redis first (a clear error when it does not answer), then events, ownership, commands, the lease."""
        assert self.redis is not None and isinstance(self.bus, RedisBus) and self.leadership is not None
        try:
            await self.redis.ping()
        except Exception as exc:
            raise OSError(
                f"cluster.redis_url {_safe_url(self.settings.cluster.redis_url or '')} does not answer "
                f"({type(exc).__name__}: {exc}); start Redis or correct the URL"
            ) from None
        await self.bus.start()
        if self.node_channel is not None:
            await self.node_channel.start()
        if self.ownership is not None:
            await self.ownership.start()
        if self.command_server is not None:
            await self.command_server.start()
        if self.routing is not None:
            await self.routing.start()
        await self.leadership.start()
        log.info("node %s joined the cluster %r as %s", self.node_id, self.settings.cluster.prefix, self.role)

    async def _start_http(self) -> None:
        """The API and console (roles all and api), or a gateway's health and metrics."""
        api = ApiContext(
            core=self.core,
            bus=self.bus,
            notifier=self.notifier,
            wake_webhooks=self.webhooks.worker.wake,
            connected_by_version=lambda: Counter(s.adapter.version for s in self.gateway.registry.sessions()),
            message_counts=self.gateway.message_counts,
            handshake_refusals=self.gateway.refusals,
            upstream_counts=self.gateway.upstream_counts,
            export_settle_seconds=self.settings.export_settle_seconds,
            storage_fault=self.database.faults.current,
            load_manager=self.load_manager,
            bridges=lambda: [bridge.health() for bridge in self.bridges()],
            iec104_points=None if self.iec104 is None else self.iec104.point_list,
            cluster=None if self.leadership is None else self.cluster_health,
        )
        console = (
            ConsoleContext(settings=self.settings.console, station_frames=self._frames_anywhere)
            if self.settings.console.enabled
            else None
        )
        web = build_web(api, console) if self.role != "gateway" else create_monitoring(api)
        assert self.settings.http_port is not None
        self.http = HttpServer(web, host=self.settings.http_host, port=self.settings.http_port, closing=api.closing)
        await self.http.start()
        if self.role == "gateway":
            return
        upload_base = self.settings.upload_base_url(self.http.port)
        self.core.files.upload_base_url = upload_base
        self.core.firmware.download_base_url = upload_base  # stations fetch images from the same listener
        log.info(
            "stations upload files to %s (set files.public_base_url if they reach the CSMS by another address)",
            upload_base.partition("://")[2],
        )

    async def _start_singletons(self) -> None:
        """The work that runs once per cluster: in one process always; in a cluster, in the leader (ADR 12).

        Each piece picks up from the database (outboxes, report runs, campaign state), so a new leader goes on where
        the last one stopped."""
        async with self._singletons_lock:
            if self._singletons_running:
                return
            self._singletons_running = True
            await self.notifier.start()  # before the alarm engine: no alarm goes unheard
            if self.alarm_engine is not None:
                await self.alarm_engine.start()
            if self.load_manager is not None:
                await self.load_manager.start()
            settings = self.settings
            jobs: list[tuple[str, Coroutine[Any, Any, None]]] = [
                # The historian's background work: downsampling and retention, off the gateway's path.
                ("aggregator", self.aggregator.run(settings.historian.aggregate_interval)),
                ("retention", self.pruner.run()),
                ("file-retention", self.core.files.keep_swept(settings.files.retention_interval_seconds)),
                (
                    "certificate-renewal",
                    self.core.certificates.keep_renewing(settings.certificates.renewal_check_seconds),
                ),
                # Firmware campaigns go on where they were after a restart: their state is in the database.
                (
                    "firmware-campaigns",
                    self.core.firmware_campaigns.keep_running(settings.firmware.campaign_interval_seconds),
                ),
                # KPI reports: a report due while the CSMS was down is made now, once (core/reports/service.py).
                ("kpi-reports", self.core.reports.keep_scheduled(settings.reports.check_interval_seconds)),
            ]
            if self.leadership is not None:
                jobs.append(("last-seen-read", self._keep_last_seen_read()))
            self.core.reports.announce = self.notifier.announce_report
            self._singleton_tasks = [asyncio.create_task(job, name=name) for name, job in jobs]
            self.webhooks.start()

    async def _stop_singletons(self) -> None:
        async with self._singletons_lock:
            if not self._singletons_running:
                return
            self._singletons_running = False
            for task in self._singleton_tasks:
                task.cancel()
            for task in self._singleton_tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._singleton_tasks.clear()
            await self.webhooks.stop()
            if self.load_manager is not None:
                await self.load_manager.stop()
            if self.alarm_engine is not None:
                await self.alarm_engine.stop()
            await self.notifier.stop()  # after the engine: its last alarm changes still reach the outbox

    async def _follow_upstream_changes(self) -> None:
        """In a cluster an OCPP proxy change made through any api process re-links the station where it is held."""
        async with self.bus.subscribe(UpstreamConfigChanged) as changes:
            while True:
                change = await changes.get()
                assert isinstance(change, UpstreamConfigChanged)
                try:
                    await self.gateway.upstream_links.reconfigure(Scope(change.scope), change.target)
                except Exception:
                    log.exception("applying the upstream change of %s %s failed", change.scope, change.target)

    def cluster_health(self) -> dict[str, Any]:
        """This node in the cluster: role, leadership, stations held, the bus's Redis link."""
        assert self.leadership is not None and isinstance(self.bus, RedisBus)
        return {
            "node": self.node_id,
            "role": self.role,
            "leading": self.leadership.leading,
            "lease_error": self.leadership.last_error,
            "stations_held": len(self.gateway.registry),
            "bus": self.bus.health(),
        }

    def _last_seen(self, station_id: StationId) -> datetime | None:
        """A station's last message: from its session here, else (in a cluster) as its gateway last wrote it."""
        session = self.gateway.registry.get(station_id)
        if session is not None:
            return session.last_seen
        return self._last_seen_elsewhere.get(station_id)

    async def _keep_last_seen_read(self) -> None:
        """In a cluster, the leader's alarm engine judges silence of stations held by other gateways from the
        last-seen times they write every `last_seen_flush_interval`."""
        interval = self.settings.last_seen_flush_interval
        while True:
            try:
                stations = await self.core.stations.list()
                self._last_seen_elsewhere = {s.id: s.last_seen for s in stations if s.last_seen is not None}
            except Exception:
                log.exception("reading stations' last-seen times failed; retrying in %.0f s", interval)
            await asyncio.sleep(interval)

    def bridges(self) -> list[MqttBridge | OpcUaBridge | Iec104Bridge]:
        """The bridges switched on in the settings."""
        return [bridge for bridge in (self.mqtt, self.opcua, self.iec104) if bridge is not None]

    def _station_frames(self, station_id: StationId) -> list[tuple[float, str, str]]:
        """The recent OCPP frames of a station connected here (the frame log records them)."""
        session = self.gateway.registry.get(station_id)
        return list(session.frames) if session is not None else []

    async def _frames_anywhere(self, station_id: StationId) -> list[tuple[float, str, str]]:
        """The recent OCPP frames of a station on this node or, in a cluster, on the node holding it (the console
        shows them)."""
        if self.remote_frames is None:
            return self._station_frames(station_id)
        return await self.remote_frames.frames(station_id, limit=self.settings.frame_log_size)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for bridge in self.bridges():
            await bridge.stop()
        if self.http is not None:
            await self.http.stop()
        await self.core.certificates.close()
        await self.gateway.stop()
        # After the gateway: the alarm engine hears the stations' disconnects at shutdown.
        if self.leadership is not None:
            await self.leadership.stop()  # stops the leader's work and frees the lease for the next leader
        await self._stop_singletons()
        if self.routing is not None:
            await self.routing.stop()
        if self.command_server is not None:
            await self.command_server.stop()
        if self.ownership is not None:
            await self.ownership.stop()
        if self.node_channel is not None:
            await self.node_channel.stop()
        if isinstance(self.bus, RedisBus):
            await self.bus.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.gateway.registry.flush_last_seen(self.store)
        await self.store.close()
        await self.database.close()
        if isinstance(files := self.core.files.file_store, S3FileStore):
            await files.close()

    async def __aenter__(self) -> Application:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object | TracebackType | None) -> None:
        await self.stop()


def tune_garbage_collector() -> None:
    """For a long-running server: freeze what start-up built and collect cycles less often.

    Almost everything the gateway allocates per message is freed by reference counting; the cycle collector's
    default pace (every 700 allocations) rescans the young objects of thousands of sessions for nothing. Measured:
    MeterValues 5,795 -> 7,444 round trips/s (docs/performance.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Application(settings) as app:
        tune_garbage_collector()
        listening = [f"OCPP {scheme} port {port}" for scheme, port in sorted(app.gateway.ports.items())]
        if app.http is not None:
            listening.append(f"HTTP port {app.http.port}")
        role = f"node {app.node_id}, role {app.role}; " if app.leadership is not None else ""
        log.info(
            "evscada is running (%s%s; database %s); Ctrl-C stops it",
            role,
            ", ".join(listening) or "no listeners",
            _safe_url(settings.database_url),
        )
        await stop.wait()
        log.info("stopping: closing %d station connections", len(app.gateway.registry))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
