"""Site load management: shares each site's grid limit among its running sessions and sends the limits as profiles.

Running sessions are read from storage (the truth) whenever something changes; the bus only says when to look
again: a session started or ended, a station went away or came back, new meter values (the measured draw), a
limit changed, or the periodic recompute. Each session gets a TxDefault profile in W on its EVSE (the CSMS does
not know which supply a connector has, so every session is weighed as a power load), sent by the charging profile
service under `sending.to_send`: decreases that keep the site inside its limit at once, other changes only when
material and not within the rate limit. A station that refuses or does not answer is alarmed and counted as
uncontrolled (its maximum reserved) until it reconnects; the alarm clears when it accepts a limit.

The grid operator's limit curve and curtailment are stored (and audited), read once at start and kept in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from evscada.core import events
from evscada.core.access.audit import Auditor, AuditUnit
from evscada.core.alarms.engine import Subscribable
from evscada.core.charging.queries import TransactionFilter
from evscada.core.energy.allocation import Allocation, Control, Session, allocate
from evscada.core.energy.grid import Current, Curtailment, Limit, LimitPeriod, Node, SiteGrid
from evscada.core.energy.profiles import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
)
from evscada.core.energy.sending import SendRule, to_send
from evscada.core.energy.service import ProfileStatus
from evscada.core.errors import DomainError
from evscada.core.model import (
    AlarmPriority,
    EvseRef,
    Site,
    SiteId,
    StationId,
    Transaction,
    TransactionPk,
    TransactionState,
)
from evscada.core.ports import Store

if TYPE_CHECKING:
    from evscada.core.services import Core

log = logging.getLogger(__name__)

ACTOR = "site-load-manager"
ALARM_SOURCE = "profile_rejected"
PROFILE_ID_BASE = 900_000  # profile ids of the manager's TxDefault profiles: this plus the EVSE id
STACK_LEVEL = 1  # above a station's own TxDefault at level 0
UNKNOWN_MAX_W = 350_000.0  # a session's maximum when nothing tells it: the allocator's ceiling is then the site


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """What the grid operator set on a site beyond its connection."""

    curve: tuple[LimitPeriod, ...] = ()
    curtailment: Curtailment | None = None


class SiteLimitRepository(Protocol):
    async def all(self) -> dict[SiteId, SiteLimits]: ...

    async def replace_curve(self, *, site_id: SiteId, curve: Sequence[LimitPeriod], by: str, at: datetime) -> None: ...

    async def set_curtailment(self, *, site_id: SiteId, curtailment: Curtailment | None, by: str, at: datetime) -> None:
        """Replace the site's curtailment; None lifts it."""
        ...


class SiteLimitUnit(AuditUnit, Protocol):
    site_limits: SiteLimitRepository


@dataclass(frozen=True, slots=True)
class SessionDraw:
    allocation: Allocation
    draw_w: float | None
    evse_id: int
    transaction_pk: TransactionPk


@dataclass(frozen=True, slots=True)
class SiteDraw:
    """A site now: what it draws against its effective limit, and each session's allocation."""

    site_id: SiteId
    at: datetime
    capacity_w: float | None
    limit: Limit
    draw_w: float
    sessions: tuple[SessionDraw, ...]
    uncontrolled: tuple[StationId, ...]


@dataclass(slots=True)
class _Meter:
    at: datetime
    wh: float
    draw_w: float | None = None
    peak_w: float = 0.0  # the most it drew: what an uncontrolled session is reserved


@dataclass(slots=True)
class _SiteState:
    in_force: dict[str, Allocation] = field(default_factory=dict)  # session id -> the limit the station holds
    last: dict[str, Allocation] = field(default_factory=dict)  # session id -> its last allocation


class SiteLoadManager:
    """One per process that holds station connections; recomputes one site at a time, in one task it owns."""

    def __init__(
        self,
        *,
        core: Core,
        store: Store[SiteLimitUnit],
        bus: Subscribable,
        interval: float,
        rule: SendRule | None = None,
    ) -> None:
        self._core = core
        self._store = store
        self._clock = core.clock
        self._audit = Auditor(clock=core.clock)
        self._bus = bus
        self._interval = interval
        self._rule = rule or SendRule()
        self._stack = contextlib.AsyncExitStack()
        self._queue: asyncio.Queue[events.Event] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._limits: dict[SiteId, SiteLimits] = {}
        self._state: dict[SiteId, _SiteState] = {}
        self._sent_at: dict[StationId, datetime] = {}
        self._meters: dict[TransactionPk, _Meter] = {}
        self._offline: set[StationId] = set()
        self._uncontrolled: set[StationId] = set()  # refused a limit: its maximum reserved, until it reconnects
        self._alarmed: set[StationId] = set()

    async def start(self) -> None:
        kinds = (
            events.TransactionStarted,
            events.TransactionEnded,
            events.MeterValuesRecorded,
            events.StationDisconnected,
            events.StationConnected,
        )
        self._queue = await self._stack.enter_async_context(self._bus.subscribe(*kinds))
        async with self._store.unit() as uow:
            self._limits = await uow.site_limits.all()
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

    def limits(self, site_id: SiteId) -> SiteLimits:
        return self._limits.get(site_id, SiteLimits())

    async def set_curve(self, *, site_id: SiteId, curve: Sequence[LimitPeriod], actor: str) -> SiteLimits:
        """Replace the site's limit curve (an empty one removes it)."""
        await self._core.sites.get(site_id=site_id)
        ordered = tuple(sorted(curve, key=lambda p: p.start))
        async with self._store.unit() as uow:
            await uow.site_limits.replace_curve(site_id=site_id, curve=ordered, by=actor, at=self._clock.now())
            details = {"periods": [_period_json(p) for p in ordered]}
            await self._audit.record(
                uow, actor=actor, action="site.limit_curve", target_type="site", target_id=site_id, details=details
            )
        return self._changed(site_id, SiteLimits(ordered, self.limits(site_id).curtailment))

    async def curtail(self, *, site_id: SiteId, limit: Limit, until: datetime, actor: str) -> SiteLimits:
        await self._core.sites.get(site_id=site_id)
        curtailment = Curtailment(limit, until, since=self._clock.now())
        await self._curtailment(site_id, curtailment, actor, "site.curtail")
        return self._changed(site_id, SiteLimits(self.limits(site_id).curve, curtailment))

    async def lift_curtailment(self, *, site_id: SiteId, actor: str) -> SiteLimits:
        await self._core.sites.get(site_id=site_id)
        await self._curtailment(site_id, None, actor, "site.curtailment_lifted")
        return self._changed(site_id, SiteLimits(self.limits(site_id).curve, None))

    async def _curtailment(self, site_id: SiteId, curtailment: Curtailment | None, actor: str, action: str) -> None:
        details: dict[str, Any] = {}
        if curtailment is not None:
            details = {"max_a": curtailment.limit.amps, "max_w": curtailment.limit.watts}
            details["until"] = curtailment.until.isoformat()
        async with self._store.unit() as uow:
            await uow.site_limits.set_curtailment(
                site_id=site_id, curtailment=curtailment, by=actor, at=self._clock.now()
            )
            await self._audit.record(
                uow, actor=actor, action=action, target_type="site", target_id=site_id, details=details
            )

    def _changed(self, site_id: SiteId, limits: SiteLimits) -> SiteLimits:
        """Keep the stored limits and recompute at once."""
        self._limits[site_id] = limits
        self._wake.set()
        return limits

    async def draw(self, *, site_id: SiteId) -> SiteDraw:
        """The site's measured draw now against its effective limit, and each session's last allocation."""
        site = await self._core.sites.get(site_id=site_id)
        now = self._clock.now()
        grid = self._grid(site, await self._stations(site.id))
        state = self._state.get(site.id, _SiteState())
        running = await self._running(site.id)
        sessions = []
        for tx in running:
            allocation = state.last.get(str(tx.pk))
            if allocation is not None:
                meter = self._meters.get(tx.pk)
                sessions.append(SessionDraw(allocation, meter.draw_w if meter else None, tx.evse.evse_id, tx.pk))
        return SiteDraw(
            site_id=site.id,
            at=now,
            capacity_w=site.grid_capacity_w,
            limit=grid.root.limit_at(now),
            draw_w=sum(s.draw_w or 0.0 for s in sessions),
            sessions=tuple(sessions),
            uncontrolled=tuple(sorted(self._uncontrolled)),
        )

    async def recompute(self) -> None:
        """Allocate and send for every site with a grid limit."""
        managed = [s for s in await self._core.sites.list() if s.grid_capacity_w is not None or s.id in self._limits]
        if not managed:
            return
        stations: dict[SiteId, list[StationId]] = {}
        for station in await self._core.stations.list():  # once for every site
            if station.site_id is not None:
                stations.setdefault(station.site_id, []).append(station.id)
        for site in managed:
            await self._recompute(site, tuple(stations.get(site.id, ())))

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
            if event.transaction_pk is not None and event.energy_register_wh is not None:
                self._metered(event.transaction_pk, event.at, event.energy_register_wh)
            return False
        if isinstance(event, events.StationDisconnected):
            self._offline.add(event.station_id)
        elif isinstance(event, events.StationConnected):
            self._offline.discard(event.station_id)
            self._uncontrolled.discard(event.station_id)  # maybe reconfigured or replaced: try it again
            self._sent_at.pop(event.station_id, None)
        elif isinstance(event, events.TransactionEnded):
            self._meters.pop(event.transaction_pk, None)
        return True

    def _metered(self, pk: TransactionPk, at: datetime, wh: float) -> None:
        """The draw is the energy register's slope between two readings."""
        meter = self._meters.get(pk)
        if meter is None:
            self._meters[pk] = _Meter(at, wh)
            return
        seconds = (at - meter.at).total_seconds()
        if seconds > 0:
            draw = max(wh - meter.wh, 0.0) * 3600 / seconds
            self._meters[pk] = _Meter(at, wh, draw, max(meter.peak_w, draw))

    async def _stations(self, site_id: SiteId) -> tuple[StationId, ...]:
        return tuple(s.id for s in await self._core.stations.list() if s.site_id == site_id)

    async def _running(self, site_id: SiteId) -> list[Transaction]:
        where = TransactionFilter(state=TransactionState.RUNNING, site_id=site_id, limit=100_000)
        return list(await self._core.queries.transactions(where=where))

    def _grid(self, site: Site, stations: tuple[StationId, ...]) -> SiteGrid:
        limits = self.limits(site.id)
        root = Node(
            id=f"site-{site.id}",
            limit=Limit(watts=site.grid_capacity_w),
            curve=limits.curve,
            curtailment=limits.curtailment,
            stations=stations,
        )
        return SiteGrid(root)

    async def _recompute(self, site: Site, stations: tuple[StationId, ...]) -> None:
        now = self._clock.now()
        grid = self._grid(site, stations)
        running = await self._running(site.id)
        state = self._state.setdefault(site.id, _SiteState())
        live = {str(tx.pk) for tx in running}
        for gone in [k for k in state.in_force if k not in live]:
            del state.in_force[gone]
            state.last.pop(gone, None)
        evse_of = {str(tx.pk): tx.evse for tx in running}
        sessions = [self._session(tx, state) for tx in running]
        allocations = allocate(grid, sessions, now)
        state.last = {a.session_id: a for a in allocations}
        sent_at = {a.station_id: self._sent_at[a.station_id] for a in allocations if a.station_id in self._sent_at}
        sending = to_send(grid, allocations, state.in_force, sent_at, now, rule=self._rule)
        for allocation in sorted(sending, key=lambda a: not _lowers(a, state.in_force.get(a.session_id))):
            await self._send(site, allocation, evse_of[allocation.session_id], state)

    def _session(self, tx: Transaction, state: _SiteState) -> Session:
        station_id, pk = tx.station_id, tx.pk
        control = Control.CONTROLLED
        if station_id in self._uncontrolled:
            control = Control.UNCONTROLLED
        elif station_id in self._offline:
            control = Control.OFFLINE
        held = state.in_force.get(str(pk))
        meter = self._meters.get(pk)
        maximum = UNKNOWN_MAX_W
        if control is Control.UNCONTROLLED and meter is not None and meter.peak_w > 0:
            maximum = meter.peak_w  # its own maximum is unknown: what it was seen to draw
        return Session(
            id=str(pk),
            station_id=station_id,
            max_w=maximum,
            current=Current.DC,
            started_at=tx.started_at,
            control=control,
            last_w=held.watts if held is not None else None,
            draw_w=meter.draw_w if meter is not None else None,
        )

    async def _send(self, site: Site, allocation: Allocation, evse: EvseRef, state: _SiteState) -> None:
        sid, now = allocation.station_id, self._clock.now()
        profile = ChargingProfile(
            id=PROFILE_ID_BASE + evse.evse_id,
            stack_level=STACK_LEVEL,
            purpose=ProfilePurpose.TX_DEFAULT,
            kind=ProfileKind.ABSOLUTE,
            schedule=ChargingSchedule(
                unit=RateUnit.WATTS, periods=(SchedulePeriod(start_s=0, limit=float(int(allocation.watts))),)
            ),
        )
        self._sent_at[sid] = now
        try:
            sent = await self._core.charging_profiles.set(
                station_id=sid, evse_id=evse.evse_id, profile=profile, actor=ACTOR, reason=allocation.reason.value
            )
            status, answer = sent.profile.status, sent.profile.answer
        except DomainError as exc:
            status, answer = ProfileStatus.FAILED, exc.code
        key = f"{ALARM_SOURCE}:{sid}"
        if status is ProfileStatus.ACCEPTED:
            state.in_force[allocation.session_id] = allocation
            if sid in self._alarmed:
                self._alarmed.discard(sid)
                await self._core.alarms.clear(key=key)
            return
        if status is ProfileStatus.FAILED and sid in self._offline:
            return  # away: its last limit stays reserved until it is back
        log.warning("%s: load management profile %s (%s): counted as uncontrolled", sid, status, answer)
        self._uncontrolled.add(sid)
        self._alarmed.add(sid)
        await self._core.alarms.raise_alarm(
            key=key,
            source=ALARM_SOURCE,
            station_id=sid,
            evse=evse,
            priority=AlarmPriority.HIGH,
            message=f"the station did not take its load management limit ({answer}): its maximum is reserved",
            site_id=site.id,
        )


def _lowers(new: Allocation, held: Allocation | None) -> bool:
    """A new session (drawing its maximum until told) or a decrease: sent before the increases."""
    return held is None or new.watts < held.watts


def _period_json(p: LimitPeriod) -> dict[str, Any]:
    end = None if p.end is None else p.end.isoformat()
    return {"start": p.start.isoformat(), "end": end, "max_a": p.limit.amps, "max_w": p.limit.watts}
