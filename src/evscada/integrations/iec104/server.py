"""The IEC 60870-5-104 server: per site its power, limit in force and curtailment, per station its state, power and
connection as information objects (mapping.py), sent spontaneously when they change and on general interrogation;
a limit set-point and a curtailment command per site act through the energy management.

c104 runs its own threads. Every call into it goes through one worker thread of this bridge, never the event loop:
a command callback holds c104's locks while the core acts on it, and the event loop must never wait on them. The
command callbacks (c104's threads) wait for the core's answer with a timeout and confirm positively or negatively.

No `from __future__ import annotations` here: c104 checks the callbacks' annotations as objects.
"""

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import c104

from evscada.bus import Bus
from evscada.core import events
from evscada.core.energy.grid import Limit, Node
from evscada.core.energy.site_limits import SiteLimits
from evscada.core.energy.site_manager import SiteLoadManager
from evscada.core.errors import DomainError
from evscada.core.model import Site, SiteId, StationId
from evscada.core.services import Core
from evscada.integrations.bridge.backlog import Backlog, BridgeHealth, BridgeState, OverflowAlarm, cancelling, pump
from evscada.integrations.bridge.fleet import Change, FleetView, StationLive
from evscada.integrations.iec104.mapping import (
    STATE_CODES,
    PointSpec,
    Quantity,
    site_points,
    station_points,
)
from evscada.integrations.iec104.settings import Iec104Settings

log = logging.getLogger(__name__)

ACTOR = "iec104"
T = TypeVar("T")
Value = float | bool | int | None  # None: not known (sent with quality "invalid")
_POWER = frozenset({Quantity.SITE_POWER, Quantity.STATION_POWER})
_UNSENT = object()


class Iec104Bridge:
    def __init__(self, *, core: Core, bus: Bus, settings: Iec104Settings, load_manager: SiteLoadManager | None) -> None:
        self.settings = settings
        self._core = core
        self._bus = bus
        self._load_manager = load_manager
        self.fleet = FleetView(core)
        self._alarm = OverflowAlarm(core, "iec104")
        self.backlog: Backlog[Change] = Backlog(settings.queue_size, on_overflow=self._alarm)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="iec104")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: c104.Server | None = None
        self._station: c104.Station | None = None
        self.points: dict[int, PointSpec] = {}  # the mapping in force: IOA -> what it carries
        self._c104: dict[int, c104.Point] = {}  # worker thread only
        self._sent: dict[int, object] = {}  # worker thread only: the value last sent (or set before any client)
        self.values: dict[int, tuple[Value, bool]] = {}  # IOA -> (value, valid) as the server holds it now
        self._sites: dict[SiteId, dict[Quantity, PointSpec]] = {}
        self._slots: dict[StationId, tuple[SiteId, dict[Quantity, PointSpec]]] = {}
        self._members: dict[SiteId, list[StationId]] = {}  # each site's stations in address order
        self._checked: set[StationId] = set()  # stations whose site was read since they appeared here
        self._limits: dict[SiteId, tuple[float | None, bool]] = {}  # site -> (limit in force kW, curtailed)
        self._poll_now = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.state: BridgeState = "starting"
        self.detail: str | None = None
        self.published = 0
        self.commands_received = 0
        self.refused_clients = 0

    # --- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except Exception as exc:
            self.state, self.detail = "failed", f"{type(exc).__name__}: {exc}"
            raise

    async def _start(self) -> None:
        s = self.settings
        self._loop = asyncio.get_running_loop()
        await self.fleet.load()
        sites = await self._core.sites.list()
        for site in sites:
            self._map_site(site.id)
        for station in sorted(self.fleet.stations.values(), key=lambda st: st.station_id):
            self._place(station)
            self._checked.add(station.station_id)
        await self._in_worker(self._build)
        await self._poll(sites)
        await self._write_all()
        try:
            await self._in_worker(self._server_start)
        except Exception as exc:
            raise RuntimeError(
                f"iec104: cannot listen on {s.host}:{s.port} ({exc}); set [iec104] host/port to a free address"
            ) from exc
        self.state, self.detail = "listening", f"{s.host}:{s.port} common address {s.common_address}"
        if s.tls:
            self.detail += " over TLS (client certificates required)"
        log.info("iec104 server: listening on %s, %d information objects", self.detail, len(self.points))
        self._tasks = [
            asyncio.create_task(pump(self._bus, self._on_event), name="iec104-feed"),
            asyncio.create_task(self._keep_writing(), name="iec104-writer"),
            asyncio.create_task(self._keep_polling(), name="iec104-limits"),
        ]

    async def stop(self) -> None:
        async with cancelling(*self._tasks):
            pass
        self._tasks = []
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._in_worker(self._server_stop)
            self._server = None
        self._worker.shutdown(wait=False)
        await self._alarm.close()

    def health(self) -> BridgeHealth:
        return BridgeHealth(
            name="iec104",
            state=self.state,
            detail=self.detail,
            queued=len(self.backlog),
            dropped=self.backlog.dropped,
            published=self.published,
            commands=self.commands_received,
        )

    def point_list(self) -> list[dict[str, Any]]:
        """The mapping in force with each object's value now, in address order (GET /api/v1/iec104/points)."""
        listed = []
        for ioa in sorted(self.points):
            spec = self.points[ioa]
            value, valid = self.values.get(ioa, (None, False))
            listed.append(
                {
                    "ioa": ioa,
                    "type": spec.asdu_type,
                    "direction": spec.direction,
                    "quantity": str(spec.quantity),
                    "site_id": int(spec.site_id),
                    "station_id": spec.station_id,
                    "unit": spec.unit,
                    "description": spec.description,
                    "value": value if spec.direction == "monitor" else None,
                    "valid": valid if spec.direction == "monitor" else None,
                }
            )
        return listed

    async def _in_worker(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, call, *args)

    # --- c104 (worker thread) -------------------------------------------------------------------------------------

    def _build(self) -> None:
        s = self.settings
        server = c104.Server(ip=s.host, port=s.port, transport_security=transport_security(s) if s.tls else None)
        parameters = server.protocol_parameters
        parameters.message_timeout, parameters.confirm_interval, parameters.keep_alive_interval = s.t1, s.t2, s.t3
        server.on_connect(callable=self._on_connect)
        station = server.add_station(common_address=s.common_address)
        if station is None:
            raise RuntimeError(f"iec104: common address {s.common_address} was refused by c104")
        self._server, self._station = server, station

    def _server_stop(self) -> None:
        assert self._server is not None
        self._server.stop()

    def _server_start(self) -> None:
        assert self._server is not None
        self._server.start()
        if not self._server.is_running:
            raise OSError("the server did not start")

    def _point(self, spec: PointSpec) -> c104.Point:
        found = self._c104.get(spec.ioa)
        if found is None:
            assert self._station is not None
            found = self._station.add_point(io_address=spec.ioa, type=getattr(c104.Type, spec.asdu_type), report_ms=0)
            if found is None:
                raise RuntimeError(f"iec104: c104 refused information object {spec.ioa} ({spec.asdu_type})")
            if spec.quantity == Quantity.LIMIT_SETPOINT:
                found.on_receive(callable=self._on_setpoint)
            elif spec.quantity == Quantity.CURTAILMENT:
                found.on_receive(callable=self._on_curtailment)
            self._c104[spec.ioa] = found
        return found

    def _apply(self, updates: list[tuple[PointSpec, Value]]) -> None:
        """Set each value; send it spontaneously when it changed (power: by more than the deadband)."""
        for spec, value in updates:
            point = self._point(spec)
            if spec.direction == "command":
                continue
            valid = value is not None
            if spec.asdu_type == "M_ME_NB_1":
                point.value = c104.Int16(int(value or 0))
            elif spec.asdu_type == "M_SP_NA_1":
                point.value = bool(value)
            else:
                point.value = float(value or 0.0)
            point.quality = c104.Quality() if valid else c104.Quality.Invalid
            self.values[spec.ioa] = (value, valid)
            before = self._sent.get(spec.ioa, _UNSENT)
            if self._server is None or not self._server.is_running:
                self._sent[spec.ioa] = value  # what a general interrogation will find: nothing to send yet
                continue
            if before is not _UNSENT and not worth_sending(spec, before, value, self.settings.power_deadband_kw):
                continue
            self._sent[spec.ioa] = value
            if point.transmit(cause=c104.Cot.SPONTANEOUS):
                self.published += 1

    def _on_connect(self, server: c104.Server, ip: str) -> bool:
        if self.settings.allows(ip):
            log.info("iec104 server: control centre %s connected", ip)
            return True
        self.refused_clients += 1
        log.warning("iec104 server: refused a connection from %s: not in [iec104] allowed_clients", ip)
        return False

    def _on_setpoint(
        self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        value = point.value
        return self._command(point.io_address, lambda site: self._set_limit(site, float(value)))  # type: ignore[arg-type]

    def _on_curtailment(
        self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        on = bool(point.value)
        return self._command(point.io_address, lambda site: self._curtail(site, on))

    def _command(self, ioa: int, act: Callable[[SiteId], Coroutine[Any, Any, str | None]]) -> c104.ResponseState:
        """Run the command on the event loop, wait for its outcome: positive confirmation, or negative with a cause."""
        spec = self.points.get(ioa)
        if spec is None or self._loop is None:
            return c104.ResponseState.FAILURE
        try:
            future = asyncio.run_coroutine_threadsafe(self._counted(spec, act), self._loop)
        except RuntimeError:  # the event loop is closing: evscada is stopping
            return c104.ResponseState.FAILURE
        try:
            refusal = future.result(timeout=self.settings.command_timeout)
        except TimeoutError:
            future.cancel()
            refusal = f"the energy management did not act within {self.settings.command_timeout:g} s"
            log.warning("iec104 command %s on IOA %d refused: %s", spec.quantity, ioa, refusal)
        except Exception as exc:  # a database failure ...: the control centre gets a negative confirmation
            refusal = f"the energy management failed: {type(exc).__name__}: {exc}"
            log.warning("iec104 command %s on IOA %d refused: %s", spec.quantity, ioa, refusal)
        return c104.ResponseState.FAILURE if refusal else c104.ResponseState.SUCCESS

    # --- commands (event loop) ------------------------------------------------------------------------------------

    async def _counted(self, spec: PointSpec, act: Callable[[SiteId], Coroutine[Any, Any, str | None]]) -> str | None:
        self.commands_received += 1
        try:
            refusal = await act(spec.site_id)
        except DomainError as exc:
            refusal = exc.message
        if refusal:
            log.warning("iec104 command %s for site %s refused: %s", spec.quantity, spec.site_id, refusal)
        else:
            log.info("iec104 command %s for site %s done", spec.quantity, spec.site_id)
            self._poll_now.set()
        return refusal

    async def _managed(self, site_id: SiteId) -> tuple[SiteLoadManager, Site] | str:
        """The load manager and the site, or why the site cannot take a command."""
        manager = self._load_manager
        if manager is None:
            return "load management does not run in this process (set load_management_interval_seconds)"
        site = await self._core.sites.get(site_id=site_id)
        if not manager.manages(site):
            return f"site {site_id} ({site.name}) is not load-managed: give it a grid capacity or a limit first"
        return manager, site

    async def _set_limit(self, site_id: SiteId, kw: float) -> str | None:
        """The limit set-point: the site's curtailment to `kw` (as POST /sites/{id}/curtailment), for the hold time."""
        top = self.settings.setpoint_max_kw
        if not math.isfinite(kw) or kw < 0 or kw > top:
            return f"set-point {kw} kW is out of range: 0 to {top:g} kW (setting iec104.setpoint_max_kw)"
        managed = await self._managed(site_id)
        if isinstance(managed, str):
            return managed
        manager, site = managed
        until = manager.now() + timedelta(minutes=self.settings.setpoint_hold_minutes)
        await manager.curtail(site_id=site.id, limit=Limit(watts=kw * 1e3), until=until, actor=ACTOR)
        return None

    async def _curtail(self, site_id: SiteId, on: bool) -> str | None:
        """On: the site's curtailment to curtailment_kw for the hold time; off: lift it (whoever set it)."""
        managed = await self._managed(site_id)
        if isinstance(managed, str):
            return managed
        manager, site = managed
        if not on:
            await manager.lift_curtailment(site_id=site.id, actor=ACTOR)
            return None
        until = manager.now() + timedelta(minutes=self.settings.setpoint_hold_minutes)
        limit = Limit(watts=self.settings.curtailment_kw * 1e3)
        await manager.curtail(site_id=site.id, limit=limit, until=until, actor=ACTOR)
        return None

    # --- the mapping ----------------------------------------------------------------------------------------------

    def _map_site(self, site_id: SiteId) -> dict[Quantity, PointSpec] | None:
        found = self._sites.get(site_id)
        if found is None:
            specs = site_points(self.settings, site_id)
            if not specs:
                log.warning("iec104 server: site %s lies beyond the 3-octet address range: not mapped", site_id)
                return None
            found = self._sites[site_id] = {spec.quantity: spec for spec in specs}
            self.points.update((spec.ioa, spec) for spec in specs)
        return found

    def _place(self, station: StationLive) -> None:
        """Give a station at a site its slot there (the next one: earlier stations keep theirs until a restart)."""
        slot = self._slots.get(station.station_id)
        if slot is not None and slot[0] == station.site_id:
            return
        if slot is not None:  # it moved: its old objects stay, marked invalid, until a restart renumbers
            self._members[slot[0]].remove(station.station_id)
            del self._slots[station.station_id]
        if station.site_id is None or self._map_site(station.site_id) is None:
            return
        members = self._members.setdefault(station.site_id, [])
        used = {self._slots[m][1][Quantity.STATION_STATE].ioa for m in members}
        for index in range(len(members) + 1):
            specs = station_points(self.settings, station.site_id, index, station.station_id)
            if not specs:
                log.warning(
                    "iec104 server: site %s has no address left for station %s (raise iec104.site_stride)",
                    station.site_id,
                    station.station_id,
                )
                return
            if specs[0].ioa not in used:
                break
        members.append(station.station_id)
        by_quantity = {spec.quantity: spec for spec in specs}
        self._slots[station.station_id] = (station.site_id, by_quantity)
        self.points.update((spec.ioa, spec) for spec in specs)

    # --- values ---------------------------------------------------------------------------------------------------

    def _station_values(self, station: StationLive) -> list[tuple[PointSpec, Value]]:
        slot = self._slots.get(station.station_id)
        if slot is None:
            return []
        specs = slot[1]
        return [
            (specs[Quantity.STATION_STATE], STATE_CODES.get(station.state, STATE_CODES["Unknown"])),
            (specs[Quantity.STATION_POWER], round(station.power_w() / 1e3, 3)),
            (specs[Quantity.STATION_ONLINE], station.online),
        ]

    def _site_values(self, site_id: SiteId) -> list[tuple[PointSpec, Value]]:
        specs = self._sites.get(site_id)
        if specs is None:
            return []
        stations = self.fleet.stations
        power = sum(stations[m].power_w() for m in self._members.get(site_id, ()) if m in stations)
        limit_kw, curtailed = self._limits.get(site_id, (None, False))
        return [
            (specs[Quantity.SITE_POWER], round(power / 1e3, 3)),
            (specs[Quantity.SITE_LIMIT], limit_kw),
            (specs[Quantity.SITE_CURTAILED], curtailed),
            (specs[Quantity.LIMIT_SETPOINT], None),
            (specs[Quantity.CURTAILMENT], None),
        ]

    async def _write_all(self) -> None:
        updates = [u for site_id in list(self._sites) for u in self._site_values(site_id)]
        for station in list(self.fleet.stations.values()):
            updates += self._station_values(station)
        await self._in_worker(self._apply, updates)

    def _on_event(self, event: events.Event) -> None:
        self.backlog.put_all(self.fleet.apply(event))

    async def _keep_writing(self) -> None:
        while True:
            change = await self.backlog.get()
            try:
                await self._write(change)
                if self.backlog.resync_due():
                    await self._write_all()
            except Exception:  # one bad value must not stop the server's updates
                log.exception("iec104 server: could not update %s", change.station.station_id)

    async def _write(self, change: Change) -> None:
        station = change.station
        # A station's site is read again when it is new here or (re)connects; not on every value (it may have none).
        if station.station_id not in self._checked or isinstance(
            change.event, (events.StationConnected, events.StationBooted)
        ):
            self._checked.add(station.station_id)
            before = self._slots.get(station.station_id)
            with contextlib.suppress(Exception):
                await self.fleet.refresh(station.station_id)
            station = self.fleet.stations.get(station.station_id, station)
            self._place(station)
            if before is not None and self._slots.get(station.station_id) != before:
                await self._in_worker(self._apply, [(spec, None) for spec in before[1].values()])
                await self._in_worker(self._apply, self._site_values(before[0]))
        updates = self._station_values(station)
        if station.site_id is not None:
            updates += self._site_values(station.site_id)
        if updates:
            await self._in_worker(self._apply, updates)

    async def _keep_polling(self) -> None:
        """Re-read the limits in force: a load curve's period begins by the clock, not by an event."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), timeout=self.settings.limit_poll_seconds)
            self._poll_now.clear()
            try:
                await self._poll(await self._core.sites.list())
                updates = [u for site_id in list(self._sites) for u in self._site_values(site_id)]
                await self._in_worker(self._apply, updates)
            except Exception:
                log.exception("iec104 server: could not read the sites' limits")

    async def _poll(self, sites: list[Site]) -> None:
        now = self._core.clock.now()
        for site in sites:
            if self._map_site(site.id) is None:
                continue
            manager = self._load_manager
            limits = manager.limits(site.id) if manager is not None else SiteLimits()
            node = Node(
                "site",
                limit=Limit(amps=site.grid_capacity_a, watts=site.grid_capacity_w),
                curve=limits.curve,
                curtailment=limits.curtailment,
            )
            watts = node.limit_at(now).watts
            c = limits.curtailment
            curtailed = c is not None and (c.since is None or c.since <= now) and now < c.until
            self._limits[site.id] = (None if watts is None else round(watts / 1e3, 3), curtailed)


def transport_security(settings: Iec104Settings) -> c104.TransportSecurity:
    """IEC 62351-3 TLS: TLS 1.2 or later, the server's certificate, and each control centre's certificate checked
    (chain and validity) against tls_client_ca. lib60870 always asks the client for a certificate: none, or one from
    another CA, ends the handshake before any IEC 104 frame."""
    files = {
        "tls_certificate": settings.tls_certificate,
        "tls_private_key": settings.tls_private_key,
        "tls_client_ca": settings.tls_client_ca,
    }
    for name, path in files.items():
        if path is None or not path.is_file():
            raise RuntimeError(f"iec104: {name} {path} is not a readable file; set [iec104] {name} to a PEM file")
    security = c104.TransportSecurity(validate=True, only_known=False)
    try:
        security.set_certificate(cert=str(settings.tls_certificate), key=str(settings.tls_private_key))
    except ValueError as exc:
        raise RuntimeError(
            f"iec104: cannot load tls_certificate {settings.tls_certificate} with tls_private_key "
            f"{settings.tls_private_key} ({exc}); give a PEM certificate and its unencrypted PEM key"
        ) from exc
    try:
        security.set_ca_certificate(cert=str(settings.tls_client_ca))
    except ValueError as exc:
        raise RuntimeError(
            f"iec104: cannot load tls_client_ca {settings.tls_client_ca} ({exc}); give the PEM certificate of the CA "
            "that issued the control centres' certificates"
        ) from exc
    security.set_version(min=c104.TlsVersion.TLS_1_2)
    return security


def worth_sending(spec: PointSpec, before: object, value: Value, deadband_kw: float) -> bool:
    """Whether a new value goes out spontaneously: any change; for power, one beyond the deadband (or to 0)."""
    if before == value:
        return False
    if spec.quantity not in _POWER or not isinstance(before, float) or not isinstance(value, float):
        return True
    return value == 0.0 or abs(value - before) > deadband_kw
