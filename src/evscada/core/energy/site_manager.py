"""Site load management: shares each site's grid limits among its running sessions and sends them as profiles.

Running sessions are read from storage (the truth) whenever something changes; the bus only says when to look
again: a session started or ended, a station went away or came back, new meter values (the measured draw and SoC),
a vehicle's needs, a limit changed, or the periodic recompute. Per site, each recompute:

1. builds the site's tree (connection, feeders, stations: `layout.site_grid`) with the grid operator's curve and
   curtailment, and a `Session` per running transaction from its station's supply (AC/DC, phases, maximum) and
   its vehicle (maximum, priority);
2. plans the sessions whose vehicle has a departure, a known SoC and a known battery (`planner.plan`): the plan's
   cap for this slot becomes the session's `planned_w`, and a vehicle that will be late is alarmed at once;
3. allocates (`allocation.allocate`) and gives a newly arrived session only what is free under the limits in
   force, so that an arrival does not force every other station down at once (the others are rebalanced when
   their rate limit allows);
4. sends what `sending.to_send` says, every site's decreases first and then their increases, each phase one batch
   (`ChargingProfileService.set_many`, a station's own sends in order), as a
   profile on the EVSE (`limit_profiles.py`) in A per phase (AC) or W (DC), valid for `lease` and renewed before it
   lapses; and keeps each station's fail-safe TxDefault (station-wide, below the allocations, no end) current.

If the CSMS goes away, the allocations lapse within `lease` and each station falls back to its fail-safe limit,
which keeps the site inside its lowest limit whatever happens (failsafe.py). A station that refuses a limit or
draws clearly more than it holds is alarmed and counted as uncontrolled (its maximum reserved) until it
reconnects or accepts a limit again.

The grid operator's limit curve and curtailment are stored (and audited), read once at start and kept in memory;
each change is announced on the bus (`SiteGridChanged`), and in a cluster every process follows those announcements
and reads the limits again (`follow`), so a limit set through any api process reaches the leader, which runs load
management, and every console. The trend of each site (draw, allocation, limit) is kept in memory for the last
`HISTORY` recomputes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from evscada.core import events
from evscada.core.access.departures import next_departure
from evscada.core.alarms.engine import Subscribable
from evscada.core.charging.queries import TransactionFilter
from evscada.core.energy.allocation import DEFAULT_POLICY, RESERVES, Allocation, Control, Reason, Session, allocate
from evscada.core.energy.failsafe import Charger, FailSafe, fail_safe_limits
from evscada.core.energy.grid import PHASES, Current, Layout, Limit, LimitPeriod, SiteGrid
from evscada.core.energy.layout import Feeder, site_grid
from evscada.core.energy.limit_profiles import allocation_profile, failsafe_profile, failsafe_value
from evscada.core.energy.planner import PricePeriod, Shortfall, plan
from evscada.core.energy.planner import Vehicle as PlannedVehicle
from evscada.core.energy.planner import VehiclePlan as PlannedOutcome
from evscada.core.energy.sending import SendRule, to_send
from evscada.core.energy.service import ProfileRequest, ProfileSent, ProfileStatus
from evscada.core.energy.session_readings import Meter, SessionReadings
from evscada.core.energy.site_limits import GridLimits, SiteLimits, SiteLimitUnit
from evscada.core.energy.site_view import DrawSample, NodeDraw, SessionDraw, SessionPlan, SiteDraw, SiteDrawShared
from evscada.core.model import (
    AlarmPriority,
    EvseRef,
    RegistrationStatus,
    Site,
    SiteId,
    Station,
    StationId,
    Supply,
    Transaction,
    TransactionState,
    Vehicle,
    VehicleId,
)
from evscada.core.ports import EventBus, Store

if TYPE_CHECKING:
    from evscada.core.services import Core

log = logging.getLogger(__name__)

ACTOR = "site-load-manager"
REJECTED_SOURCE = "profile_rejected"
OVERDRAW_SOURCE = "overdraw"
LATE_SOURCE = "departure_at_risk"
UNKNOWN_MAX_W = 350_000.0  # a session's maximum when nothing tells it: the allocator's ceiling is then the site
HISTORY = 5760  # trend points kept per site: a day at one recompute every 15 s
PLAN_HORIZON = timedelta(hours=24)
OVERDRAW_MARGIN = 0.1  # drawing more than its limit plus this fraction ...
OVERDRAW_MARGIN_W = 1000.0  # ... plus this ...
OVERDRAW_INTERVALS = 4  # ... for this many recompute intervals, once its limit was in force as long, is disobeying
TAPER_INTERVALS = 8  # a vehicle drawing well below its limit this many recompute intervals gives its spare away ...
TAPER_RELEASE = 0.95  # ... until it draws this much of what it kept: then it may rise again


@dataclass(slots=True)
class _Held:
    """A limit a station took: the allocation, when it was sent and until when it holds."""

    allocation: Allocation
    sent_at: datetime
    valid_to: datetime


@dataclass(slots=True)
class _SiteState:
    in_force: dict[str, _Held] = field(default_factory=dict)  # session id -> the limit the station holds
    last: dict[str, Allocation] = field(default_factory=dict)  # session id -> its last allocation
    plans: dict[str, SessionPlan] = field(default_factory=dict)  # session id -> what its plan says
    grid: SiteGrid | None = None
    feeders: dict[str, str] = field(default_factory=dict)  # node id -> a feeder's name
    late: set[str] = field(default_factory=set)  # alarm keys of the late vehicles
    names: dict[str, str] = field(default_factory=dict)  # session id -> its vehicle's name
    vehicles: dict[str, VehicleId] = field(default_factory=dict)  # session id -> its vehicle


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What one recompute reads once for every site."""

    stations: dict[SiteId, list[Station]]
    feeders: dict[SiteId, tuple[Feeder, ...]]
    vehicles: dict[VehicleId, Vehicle]
    token_priorities: dict[str, int]  # tokens with a priority: for sessions without a vehicle


class ManagerBus(Subscribable, EventBus, Protocol):
    """The manager hears what stations do and announces its sites' grid changes to the other processes."""


class SiteLoadManager:
    """One per process; where load management runs (the one process, or the cluster's leader) it recomputes every
    site in one task it owns, and elsewhere it follows the grid limits and shows the leader's views (`follow`)."""

    def __init__(
        self,
        *,
        core: Core,
        store: Store[SiteLimitUnit],
        bus: ManagerBus,
        interval: float,
        rule: SendRule | None = None,
        lease: timedelta = timedelta(minutes=15),
        zone: ZoneInfo | None = None,
        share_views: bool = False,
    ) -> None:
        """`share_views`: in a cluster, publish each site's view after a recompute for the api processes (ADR 12)."""
        self._core = core
        self._store = store
        self._clock = core.clock
        self._bus = bus
        self._interval = interval
        self._grace = timedelta(seconds=OVERDRAW_INTERVALS * interval)
        self._policy = replace(DEFAULT_POLICY, taper_after=timedelta(seconds=TAPER_INTERVALS * interval))
        self._rule = rule or SendRule()
        self._lease = lease
        self._zone = zone or ZoneInfo("UTC")
        self._stack = contextlib.AsyncExitStack()
        self._queue: asyncio.Queue[events.Event] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.grid_limits = GridLimits(store=store, sites=core.sites, clock=core.clock, on_change=self.grid_changed)
        self._state: dict[SiteId, _SiteState] = {}
        self._sent_at: dict[StationId, datetime] = {}
        self._readings = SessionReadings()
        self._offline: set[StationId] = set()
        self._uncontrolled: set[StationId] = set()  # refused a limit or overdraws: its maximum reserved
        self._alarmed: dict[StationId, str] = {}  # station -> the key of its load management alarm
        self._failsafe: dict[StationId, float] = {}  # station -> the fail-safe limit it holds (A or W)
        self._failsafe_w: dict[StationId, float] = {}  # the same in W per EVSE: what it draws once its lease lapsed
        self._history: dict[SiteId, collections.deque[DrawSample]] = {}
        self._share_views = share_views
        self._shared: dict[SiteId, SiteDraw] = {}  # while another process leads: its last view of each site

    async def start(self) -> None:
        kinds = (
            events.TransactionStarted,
            events.TransactionEnded,
            events.MeterValuesRecorded,
            events.StationDisconnected,
            events.StationConnected,
            events.StationBooted,
            events.EvChargingNeedsReported,
        )
        self._queue = await self._stack.enter_async_context(self._bus.subscribe(*kinds))
        await self.grid_limits.load()
        self._task = asyncio.create_task(self._run(), name="site-load-manager")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stack.aclose()

    def now(self) -> datetime:
        return self._clock.now()

    def grid_changed(self, site_id: SiteId) -> None:
        """The site's grid limits or feeders changed: recompute at once here, and tell the other processes."""
        self._wake.set()
        self._bus.publish(events.SiteGridChanged(station_id=StationId(""), at=self._clock.now(), site_id=int(site_id)))

    async def follow(self) -> None:
        """Keep this process's grid limits as stored, and the leader's views of the sites, for as long as it runs
        (in a cluster, in every process).

        A limit set through one api process is stored there; the leader, which runs load management, and the other
        api processes, which show it, read the limits again when they hear of the change. Subscribed before the
        first read, so no change falls between the two. While another process leads, its views of the sites
        (allocations, plans, the trend) are what this one shows."""
        async with self._bus.subscribe(events.SiteGridChanged, SiteDrawShared) as changes:
            reload = True
            while True:
                if reload:
                    try:
                        await self.grid_limits.load()
                    except Exception:  # the database failed: the next change, or a restart, reads them again
                        log.exception("site load manager: reading the sites' grid limits failed")
                    self._wake.set()
                reload = self._heard(await changes.get())
                while not changes.empty():  # a burst of changes: one read
                    reload = self._heard(changes.get_nowait()) or reload

    def _heard(self, event: events.Event) -> bool:
        """Keep a view shared by the leader (unless this process leads); whether the grid limits must be read again."""
        if isinstance(event, SiteDrawShared):
            if self._task is None:
                self._shared[event.draw.site_id] = event.draw
                self._record(event.draw)
            return False
        return True

    def _leader_view(self, site_id: SiteId) -> SiteDraw | None:
        """The leader's latest view of the site while another process leads, if it is recent (a new leader's
        first recompute replaces a departed one's within an interval or two)."""
        if self._task is not None:
            return None
        view = self._shared.get(site_id)
        if view is None or self._clock.now() - view.at > timedelta(seconds=3 * self._interval):
            return None
        return view

    def history(self, site_id: SiteId, since: datetime | None = None) -> list[DrawSample]:
        """The site's trend since a time (all that is kept: the last `HISTORY` recomputes), in memory only."""
        samples = self._history.get(site_id, ())
        return [s for s in samples if since is None or s.at >= since]

    def vehicle_plans(self) -> dict[VehicleId, SessionPlan]:
        """What the last plan says of each charging vehicle that has one: for the dispatch view."""
        if self._task is None and self._shared:  # another process leads
            views = [v for v in map(self._leader_view, list(self._shared)) if v is not None]
            return {
                s.vehicle_id: s.plan
                for view in views
                for s in view.sessions
                if s.vehicle_id is not None and s.plan is not None
            }
        return {
            state.vehicles[session_id]: plan
            for state in self._state.values()
            for session_id, plan in state.plans.items()
            if session_id in state.vehicles
        }

    def manages(self, site: Site) -> bool:
        """Whether the site has something to share: a grid connection (W or A per phase) or a grid operator's limit."""
        return site.grid_capacity_w is not None or site.grid_capacity_a is not None or site.id in self.grid_limits

    def limits(self, site_id: SiteId) -> SiteLimits:
        return self.grid_limits.of(site_id)

    async def set_curve(self, *, site_id: SiteId, curve: Sequence[LimitPeriod], actor: str) -> SiteLimits:
        return await self.grid_limits.set_curve(site_id=site_id, curve=curve, actor=actor)

    async def set_tariff(self, *, site_id: SiteId, tariff: Sequence[PricePeriod], actor: str) -> SiteLimits:
        return await self.grid_limits.set_tariff(site_id=site_id, tariff=tariff, actor=actor)

    async def curtail(self, *, site_id: SiteId, limit: Limit, until: datetime, actor: str) -> SiteLimits:
        return await self.grid_limits.curtail(site_id=site_id, limit=limit, until=until, actor=actor)

    async def lift_curtailment(self, *, site_id: SiteId, actor: str) -> SiteLimits:
        return await self.grid_limits.lift_curtailment(site_id=site_id, actor=actor)

    async def draw(self, *, site_id: SiteId) -> SiteDraw:
        """The site's measured draw now against its effective limit, and each session's last allocation."""
        site = await self._core.sites.get(site_id=site_id)
        shared = self._leader_view(site.id)
        if shared is not None:
            return shared
        state = self._state.get(site.id)
        if state is None or state.grid is None:
            inputs = await self._inputs()
            state = self._state.setdefault(site.id, _SiteState())
            state.grid = self._grid(site, inputs)
        return self._view(site, await self._running(site.id), state, self._clock.now())

    def _view(self, site: Site, running: Sequence[Transaction], state: _SiteState, now: datetime) -> SiteDraw:
        assert state.grid is not None
        sessions = []
        for tx in running:
            allocation = state.last.get(str(tx.pk))
            if allocation is None:
                continue
            meter = self._readings.meter(tx.pk)
            sessions.append(
                SessionDraw(
                    allocation,
                    meter.draw_w if meter else None,
                    tx.evse.evse_id,
                    tx.pk,
                    vehicle_id=tx.vehicle_id,
                    vehicle_name=state.names.get(str(tx.pk)),
                    soc_pct=meter.soc_pct if meter else None,
                    plan=state.plans.get(str(tx.pk)),
                )
            )
        layout = Layout(state.grid)
        nodes = []
        for index, node in enumerate(layout.nodes):
            under = [s for s in sessions if index in layout.path(s.allocation.station_id)]
            parent = next((p.id for p in layout.nodes if node in p.children), None)
            nodes.append(
                NodeDraw(
                    id=node.id,
                    name=state.feeders.get(node.id, site.name),
                    parent=parent,
                    limit=node.limit_at(now),
                    draw_w=sum(s.draw_w or 0.0 for s in under),
                    allocated_w=sum(s.allocation.watts for s in under),
                    stations=tuple(sorted({st for n in node.walk() for st in n.stations})),
                )
            )
        return SiteDraw(
            site_id=site.id,
            at=now,
            capacity_w=site.grid_capacity_w,
            limit=state.grid.root.limit_at(now),
            draw_w=sum(s.draw_w or 0.0 for s in sessions),
            sessions=tuple(sessions),
            uncontrolled=tuple(sorted(self._uncontrolled & set(nodes[0].stations))),
            nodes=tuple(nodes),
        )

    async def recompute(self) -> None:
        """Allocate and send for every site with a grid limit, each site in its own task."""
        sites = await self._core.sites.list()
        managed = [s for s in sites if self.manages(s)]
        if not managed:
            return
        inputs = await self._inputs()
        sends = _Sends()
        outcomes = await asyncio.gather(
            *(self._recompute(site, inputs, sends) for site in managed), return_exceptions=True
        )
        for site, outcome in zip(managed, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error("site load manager: site %s: %s", site.id, outcome, exc_info=outcome)
        await self._send_all(sends.lowering)  # every site's decreases first: then the increases fit
        await self._send_all(sends.raising)
        await self._fail_safes(sends.fail_safes)

    async def _inputs(self) -> _Inputs:
        stations: dict[SiteId, list[Station]] = {}
        for station in await self._core.stations.list():  # once for every site
            if station.site_id is not None:
                stations.setdefault(station.site_id, []).append(station)
        feeders = await self._core.layout.all_feeders()
        vehicles = {v.id: v for v in await self._core.vehicles.list()}
        return _Inputs(stations, feeders, vehicles, await self._core.authorization.priorities())

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            waiter = asyncio.ensure_future(self._queue.get())
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait(
                    {waiter, woken}, timeout=max(next_tick - loop.time(), 0), return_when="FIRST_COMPLETED"
                )
            finally:
                for f in (waiter, woken):
                    f.cancel()
            due = self._wake.is_set() or loop.time() >= next_tick
            self._wake.clear()
            if waiter.done() and not waiter.cancelled():
                due = self._note(waiter.result()) or due
            while not self._queue.empty():
                due = self._note(self._queue.get_nowait()) or due
            if not due:
                continue
            next_tick = loop.time() + self._interval
            try:
                await self.recompute()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end load management
                log.exception("site load manager: recompute failed")

    def _note(self, event: events.Event) -> bool:
        """Keep what the event says; whether it calls for a recompute now."""
        if isinstance(event, events.MeterValuesRecorded):
            self._readings.metered(event)
            return False
        if isinstance(event, events.EvChargingNeedsReported):
            self._readings.told(event)
        elif isinstance(event, events.StationDisconnected):
            self._offline.add(event.station_id)
            self._failsafe.pop(event.station_id, None)  # a rebooted station may have lost it
        elif isinstance(event, events.StationBooted):
            self._failsafe.pop(event.station_id, None)  # a reboot may have lost it
        elif isinstance(event, events.StationConnected):
            self._offline.discard(event.station_id)
            self._uncontrolled.discard(event.station_id)  # maybe reconfigured or replaced: try it again
            self._sent_at.pop(event.station_id, None)
            self._failsafe.pop(event.station_id, None)
            for state in self._state.values():  # it may have lost its limits: send them again
                for key in [k for k, held in state.in_force.items() if held.allocation.station_id == event.station_id]:
                    del state.in_force[key]
        elif isinstance(event, events.TransactionEnded):
            self._readings.ended(event)
        return True

    async def _running(self, site_id: SiteId) -> list[Transaction]:
        where = TransactionFilter(state=TransactionState.RUNNING, site_id=site_id, limit=100_000)
        return list(await self._core.queries.transactions(where=where))

    def _grid(self, site: Site, inputs: _Inputs) -> SiteGrid:
        limits = self.limits(site.id)
        feeders = inputs.feeders.get(site.id, ())
        return site_grid(
            site, inputs.stations.get(site.id, []), feeders, curve=limits.curve, curtailment=limits.curtailment
        )

    async def _recompute(self, site: Site, inputs: _Inputs, sends: _Sends) -> None:
        now = self._clock.now()
        state = self._state.setdefault(site.id, _SiteState())
        state.grid = grid = self._grid(site, inputs)
        state.feeders = {f"feeder-{f.id}": f.name for f in inputs.feeders.get(site.id, ())}
        stations = {s.id: s for s in inputs.stations.get(site.id, [])}
        running = [tx for tx in await self._running(site.id) if tx.station_id in stations]
        live = {str(tx.pk) for tx in running}
        for gone in [k for k in state.in_force if k not in live]:
            del state.in_force[gone]
        state.last = {k: v for k, v in state.last.items() if k in live}
        for tx, message in self._overdrawing(running, state):
            await self._alarm(site, tx.station_id, tx.evse, OVERDRAW_SOURCE, message)
        sessions = [self._session(tx, stations[tx.station_id], inputs, state) for tx in running]
        sessions = await self._planned(
            site=site, grid=grid, running=running, sessions=sessions, inputs=inputs, state=state, now=now
        )
        allocations = self._allocate(site, grid, sessions, state, now)
        state.last = {a.session_id: a for a in allocations}
        self._sample(site, self._view(site, running, state, now))
        evse_of = {str(tx.pk): tx.evse for tx in running}
        in_force = {k: held.allocation for k, held in state.in_force.items()}
        sent_at = {a.station_id: self._sent_at[a.station_id] for a in allocations if a.station_id in self._sent_at}
        sending = to_send(grid, allocations, in_force, sent_at, now, rule=self._rule)
        chosen = {a.session_id for a in sending}
        lapsing = [a for a in allocations if self._lapsing(a, state, chosen, now)]
        renewing = [self._renewal(a, state.in_force[a.session_id]) for a in lapsing]
        lowering = [a for a in sending if _lowers(a, in_force.get(a.session_id))]
        raising = [a for a in sending if not _lowers(a, in_force.get(a.session_id))]
        supply = {sid: s.supply for sid, s in stations.items()}
        sends.lowering += [_Send(site, a, evse_of[a.session_id], supply.get(a.station_id), state) for a in lowering]
        sends.lowering += [_Send(site, a, evse_of[a.session_id], supply.get(a.station_id), state) for a in renewing]
        sends.raising += [_Send(site, a, evse_of[a.session_id], supply.get(a.station_id), state) for a in raising]
        sends.fail_safes.append(_FailSafes(grid, list(stations.values()), now))

    def _session(self, tx: Transaction, station: Station, inputs: _Inputs, state: _SiteState) -> Session:
        station_id, pk = tx.station_id, tx.pk
        control = Control.CONTROLLED
        if station_id in self._uncontrolled:
            control = Control.UNCONTROLLED
        elif station_id in self._offline:
            control = Control.OFFLINE
        held = state.in_force.get(str(pk))
        reserve = None if held is None else held.allocation.watts
        if control is Control.OFFLINE and held is not None and held.valid_to <= self._clock.now():
            reserve = self._failsafe_w.get(station_id, reserve)  # its allocation lapsed: its fail-safe applies
        meter = self._readings.meter(pk)
        vehicle = inputs.vehicles.get(tx.vehicle_id) if tx.vehicle_id is not None else None
        needs = self._readings.needs(station_id, tx.evse.evse_id)
        maximum = min(
            station.max_power_w or UNKNOWN_MAX_W,
            (vehicle.max_power_w if vehicle is not None else None) or UNKNOWN_MAX_W,
            (needs.max_power_w if needs is not None else None) or UNKNOWN_MAX_W,
        )
        if control is Control.UNCONTROLLED and meter is not None and meter.peak_w > 0 and station.max_power_w is None:
            maximum = meter.peak_w  # its own maximum is unknown: what it was seen to draw
        common: dict[str, Any] = {
            "priority": vehicle.priority if vehicle is not None else inputs.token_priorities.get(tx.id_token or "", 0),
            "started_at": tx.started_at,
            "control": control,
            "last_w": reserve,
            "draw_w": meter.draw_w if meter is not None else None,
            "below_for": self._below_for(meter, held),
        }
        if station.supply is Supply.AC:
            phases = PHASES[: station.phases or 3]
            return Session(str(pk), station_id, maximum, Current.AC, phases, **common)
        return Session(str(pk), station_id, maximum, Current.DC, **common)

    def _below_for(self, meter: Meter | None, held: _Held | None) -> timedelta:
        """How long the vehicle has drawn well below the limit it holds (once its limit had time to apply); a
        tapering vehicle stays so until it draws nearly all it kept, so its limit does not swing."""
        if meter is None or meter.draw_w is None or held is None or meter.at - held.sent_at < self._grace:
            return timedelta(0)
        limit = held.allocation.watts
        tapering = meter.below_since is not None and held.allocation.reason is Reason.TAPERING
        if meter.draw_w < self._policy.taper_below * limit or (tapering and meter.draw_w < TAPER_RELEASE * limit):
            meter.below_since = meter.below_since or meter.at
            return meter.at - meter.below_since
        meter.below_since = None
        return timedelta(0)

    async def _planned(
        self,
        *,
        site: Site,
        grid: SiteGrid,
        running: Sequence[Transaction],
        sessions: list[Session],
        inputs: _Inputs,
        state: _SiteState,
        now: datetime,
    ) -> list[Session]:
        """Plan the sessions with a departure, a SoC and a battery; give each its plan's cap for this slot."""
        vehicles: list[PlannedVehicle] = []
        state.names, state.vehicles = {}, {}
        for tx, session in zip(running, sessions, strict=True):
            vehicle = inputs.vehicles.get(tx.vehicle_id) if tx.vehicle_id is not None else None
            if vehicle is not None:
                state.names[session.id] = vehicle.name
                state.vehicles[session.id] = vehicle.id
            planned = self._planned_vehicle(tx, session, inputs, now)
            if planned is not None and session.control is Control.CONTROLLED:
                vehicles.append(planned)
        names = {v.id: state.names.get(v.id, f"the vehicle at {v.station_id}") for v in vehicles}
        state.plans = {}
        if not vehicles:
            await self._late(site, state, {}, names, running)
            return sessions
        horizon = max(PLAN_HORIZON, max((v.departure or now) - now for v in vehicles) + timedelta(minutes=15))
        made = plan(grid, vehicles, now, horizon, self.limits(site.id).tariff or None)
        caps = made.caps_at(now)
        by_id = {v.id: v for v in vehicles}
        for vp in made.vehicles:
            v = by_id[vp.vehicle_id]
            assert v.departure is not None
            state.plans[vp.vehicle_id] = SessionPlan(
                departure=v.departure,
                target_soc_pct=v.target_soc_pct,
                expected_soc_pct=vp.expected_soc_pct,
                short_wh=vp.short_wh,
                limited_by=vp.limited_by,
                planned_w=caps.get(vp.vehicle_id),
            )
        await self._late(site, state, {vp.vehicle_id: vp for vp in made.late}, names, running)
        return [replace(s, planned_w=caps[s.id]) if s.id in caps else s for s in sessions]

    def _planned_vehicle(
        self, tx: Transaction, session: Session, inputs: _Inputs, now: datetime
    ) -> PlannedVehicle | None:
        vehicle = inputs.vehicles.get(tx.vehicle_id) if tx.vehicle_id is not None else None
        needs = self._readings.needs(tx.station_id, tx.evse.evse_id)
        meter = self._readings.meter(tx.pk)
        departure = next_departure(vehicle, now, self._zone) if vehicle is not None else None
        if needs is not None and needs.departure is not None and needs.departure > now:
            departure = needs.departure  # what the driver told the car today wins over the timetable
        soc = meter.soc_pct if meter is not None else None
        if soc is None and needs is not None:
            soc = needs.soc_pct
        capacity = vehicle.battery_capacity_wh if vehicle is not None else None
        if not capacity and needs is not None:
            capacity = needs.capacity_wh
        if departure is None or soc is None or not capacity:
            return None
        target = (vehicle.target_soc_pct if vehicle is not None else None) or 100.0
        asked = needs.energy_wh if needs is not None else None
        if asked is not None and (vehicle is None or vehicle.target_soc_pct is None):
            target = min(100.0, soc + 100.0 * asked / capacity)  # what it asks for, as a SoC
        return PlannedVehicle(
            id=session.id,
            station_id=session.station_id,
            soc_pct=float(soc),
            capacity_wh=float(capacity),
            max_w=session.max_w,
            departure=departure,
            target_soc_pct=target,
            current=session.current,
            phases=session.phases,
            priority=session.priority,
        )

    async def _late(
        self,
        site: Site,
        state: _SiteState,
        late: dict[str, PlannedOutcome],
        names: dict[str, str],
        running: Sequence[Transaction],
    ) -> None:
        """Alarm each vehicle the plan says will be late, once, while there is time; clear when it no longer is."""
        by_id = {str(tx.pk): tx for tx in running}
        keys = {f"{LATE_SOURCE}:{sid}": sid for sid in late}
        for key in state.late - keys.keys():
            await self._core.alarms.clear(key=key)
        for key, session_id in keys.items():
            if key in state.late:
                continue
            tx, p, vp = by_id[session_id], state.plans[session_id], late[session_id]
            local = p.departure.astimezone(self._zone)
            cause = (
                "the site's capacity is short"
                if vp.limited_by is Shortfall.SITE
                else "its own power and the time left are short"
            )
            await self._core.alarms.raise_alarm(
                key=key,
                source=LATE_SOURCE,
                station_id=tx.station_id,
                evse=tx.evse,
                priority=AlarmPriority.MEDIUM,
                message=(
                    f"{names[session_id]} will leave at {local:%H:%M} with {p.expected_soc_pct:.0f} % instead of "
                    f"{p.target_soc_pct:.0f} % ({p.short_wh / 1000:.1f} kWh short): {cause}"
                ),
                site_id=site.id,
            )
        state.late = set(keys)

    def _allocate(
        self, site: Site, grid: SiteGrid, sessions: list[Session], state: _SiteState, now: datetime
    ) -> list[Allocation]:
        """Allocate; a new arrival gets what is free under the limits in force while that is at least its minimum.

        With a tariff, a plan is also a ceiling: capacity left over must not be spent in an expensive slot."""
        policy = replace(self._policy, top_up_plans=not self.limits(site.id).tariff)
        allocations = allocate(grid, sessions, now, policy)
        arrivals = {s.id for s in sessions if s.control is Control.CONTROLLED and s.id not in state.in_force}
        if not arrivals or len(arrivals) == len(sessions):
            return allocations
        held = [
            replace(s, control=Control.OFFLINE, last_w=state.in_force[s.id].allocation.watts)
            if s.control is Control.CONTROLLED and s.id in state.in_force
            else s
            for s in sessions
        ]
        free = {a.session_id: a for a in allocate(grid, held, now, policy)}
        if any(free[s].reason is Reason.PAUSED and not _paused_anyway(allocations, s) for s in arrivals):
            return allocations  # what is free is too little: share anew, the others must come down
        return [free[a.session_id] if a.session_id in arrivals else a for a in allocations]

    def _lapsing(self, a: Allocation, state: _SiteState, chosen: set[str], now: datetime) -> bool:
        held = state.in_force.get(a.session_id)
        if held is None or a.session_id in chosen or a.reason in RESERVES:
            return False
        return held.valid_to - now < self._lease / 2

    @staticmethod
    def _renewal(new: Allocation, held: _Held) -> Allocation:
        """The limit to renew with: the new one if lower (always safe), else the one in force."""
        return new if new.watts <= held.allocation.watts else held.allocation

    def _overdrawing(self, running: Sequence[Transaction], state: _SiteState) -> list[tuple[Transaction, str]]:
        """The sessions whose station draws clearly more than the limit it took, for a while: it does not obey."""
        found = []
        for tx in running:
            held, meter = state.in_force.get(str(tx.pk)), self._readings.meter(tx.pk)
            if held is None or meter is None or meter.draw_w is None or tx.station_id in self._uncontrolled:
                continue
            allowed = held.allocation.watts * (1 + OVERDRAW_MARGIN) + OVERDRAW_MARGIN_W
            settled = meter.at - held.sent_at >= self._grace
            if meter.draw_w <= allowed or not settled:
                meter.over_since = None
                continue
            meter.over_since = meter.over_since or meter.at
            if meter.at - meter.over_since >= self._grace:
                self._uncontrolled.add(tx.station_id)
                message = (
                    f"the station draws {meter.draw_w / 1000:.1f} kW against its limit of "
                    f"{held.allocation.watts / 1000:.1f} kW: its maximum is reserved until it obeys"
                )
                found.append((tx, message))
        return found

    async def _alarm(self, site: Site, sid: StationId, evse: EvseRef, source: str, message: str) -> None:
        key = f"{source}:{sid}"
        self._alarmed[sid] = key
        log.warning("%s: %s", sid, message)
        await self._core.alarms.raise_alarm(
            key=key,
            source=source,
            station_id=sid,
            evse=evse,
            priority=AlarmPriority.HIGH,
            message=message,
            site_id=site.id,
        )

    async def _send_all(self, sends: Sequence[_Send]) -> None:
        """One batch for a phase's sends of every site (`ChargingProfileService.set_many`: a constant number of
        transactions, a station's own sends in order, the stations at once); then what each station took."""
        if not sends:
            return
        now = self._clock.now()
        valid_to = now + self._lease
        requests = []
        for send in sends:
            requests.append(self._request(send, valid_to))
            self._sent_at[send.allocation.station_id] = now
        answers = await self._set(requests)
        for send, (status, answer) in zip(sends, answers, strict=True):
            try:
                await self._send(send, status, answer, now, valid_to)
            except Exception as exc:  # one site's alarm failing must not cost the others their bookkeeping
                log.error("site load manager: site %s: %s", send.site.id, exc, exc_info=exc)

    def _request(self, send: _Send, valid_to: datetime) -> ProfileRequest:
        allocation, evse_id = send.allocation, send.evse.evse_id
        profile = allocation_profile(allocation, evse_id, send.supply, valid_to)
        return ProfileRequest(allocation.station_id, evse_id, profile, allocation.reason.value)

    async def _send(
        self, send: _Send, status: ProfileStatus, answer: str | None, now: datetime, valid_to: datetime
    ) -> None:
        """Keep what the station took: its limit in force, or an alarm if it refused (away: nothing)."""
        allocation, sid = send.allocation, send.allocation.station_id
        if status is ProfileStatus.ACCEPTED:
            send.state.in_force[allocation.session_id] = _Held(allocation, now, valid_to)
            await self._obeys(sid)
            return
        if status is ProfileStatus.FAILED and sid in self._offline:
            return  # away: its last limit stays reserved until it is back
        await self._refused(send.site, sid, send.evse, answer)

    async def _set(self, requests: Sequence[ProfileRequest]) -> list[tuple[ProfileStatus, str | None]]:
        """Each request's status and answer; one that could not be sent FAILED with its error's code."""
        results = await self._core.charging_profiles.set_many(requests, actor=ACTOR)
        return [
            (r.profile.status, r.profile.answer) if isinstance(r, ProfileSent) else (ProfileStatus.FAILED, r.code)
            for r in results
        ]

    async def _obeys(self, sid: StationId) -> None:
        key = self._alarmed.pop(sid, None)
        if key is not None and key.startswith(REJECTED_SOURCE):
            await self._core.alarms.clear(key=key)
        elif key is not None:
            self._alarmed[sid] = key  # an overdraw clears when the station is seen to obey again (reconnect)

    async def _refused(self, site: Site, sid: StationId, evse: EvseRef, answer: str | None) -> None:
        self._uncontrolled.add(sid)
        message = f"the station did not take its load management limit ({answer}): its maximum is reserved"
        await self._alarm(site, sid, evse, REJECTED_SOURCE, message)

    async def _fail_safes(self, sites: Sequence[_FailSafes]) -> None:
        """Keep each online station's station-wide TxDefault at its fail-safe share (sent when it changes), for
        every site at once, decided after its allocations were answered."""
        due = [(station, limits) for site in sites for station, limits in self._fail_safes_due(site)]
        if not due:
            return
        requests = [ProfileRequest(s.id, 0, failsafe_profile(limits, s.supply), "fail_safe") for s, limits in due]
        answers = await self._set(requests)
        for (station, limits), (status, answer) in zip(due, answers, strict=True):
            self._send_failsafe(station, limits, status, answer)

    def _fail_safes_due(self, site: _FailSafes) -> list[tuple[Station, FailSafe]]:
        known = [s for s in site.stations if s.max_power_w is not None and s.supply is not None]
        if not known:
            return []
        chargers = [
            Charger(
                s.id,
                s.max_power_w or UNKNOWN_MAX_W,
                evses=1,
                current=Current.AC if s.supply is Supply.AC else Current.DC,
                phases=PHASES[: s.phases or 3],
                obeys=s.id not in self._uncontrolled,
            )
            for s in known
        ]
        limits = {f.station_id: f for f in fail_safe_limits(site.grid, chargers, site.now)}
        return [
            (s, limits[s.id])
            for s in known
            if s.online
            and s.registration is RegistrationStatus.ACCEPTED
            and s.id not in self._offline
            and s.id not in self._uncontrolled
            and self._failsafe.get(s.id) != failsafe_value(limits[s.id], s.supply)
        ]

    def _send_failsafe(self, station: Station, limits: FailSafe, status: ProfileStatus, answer: str | None) -> None:
        value = failsafe_value(limits, station.supply)
        if status is ProfileStatus.ACCEPTED:
            self._failsafe[station.id] = value
            self._failsafe_w[station.id] = min(limits.evse_w)
        elif not (status is ProfileStatus.FAILED and station.id in self._offline):
            log.warning("%s: fail-safe limit %s (%s)", station.id, status, answer)
            self._failsafe[station.id] = value  # not again until it reconnects; the allocation path alarms

    def _sample(self, site: Site, view: SiteDraw) -> None:
        self._record(view)
        if self._share_views:
            self._bus.publish(SiteDrawShared(station_id=StationId(""), at=view.at, draw=view))

    def _record(self, view: SiteDraw) -> None:
        samples = self._history.setdefault(view.site_id, collections.deque(maxlen=HISTORY))
        allocated = sum(s.allocation.watts for s in view.sessions)
        samples.append(DrawSample(view.at.astimezone(UTC), view.draw_w, allocated, view.limit.watts))


def _paused_anyway(allocations: Sequence[Allocation], session_id: str) -> bool:
    """Whether the full allocation pauses this session too: then what is free is not the problem."""
    return any(a.session_id == session_id and a.reason is Reason.PAUSED for a in allocations)


def _lowers(new: Allocation, held: Allocation | None) -> bool:
    """A new session (drawing its maximum until told) or a decrease: sent before the increases."""
    return held is None or new.watts < held.watts


@dataclass(frozen=True, slots=True)
class _Send:
    """An allocation to send, with what its bookkeeping needs."""

    site: Site
    allocation: Allocation
    evse: EvseRef
    supply: Supply | None
    state: _SiteState


@dataclass(frozen=True, slots=True)
class _FailSafes:
    """A site whose stations' fail-safe limits are decided once its allocations were answered."""

    grid: SiteGrid
    stations: list[Station]
    now: datetime


@dataclass(slots=True)
class _Sends:
    """What one recompute sends, gathered from every site and sent as one batch per phase: decreases and renewals
    first, then increases, then fail-safes."""

    lowering: list[_Send] = field(default_factory=list)
    raising: list[_Send] = field(default_factory=list)
    fail_safes: list[_FailSafes] = field(default_factory=list)
