"""Dispatch for a depot: every vehicle by fleet and site, its next departure and target, whether it will make it
(the energy planner's verdict) and the active alarms of the charger it is plugged into; operators set departures.

The filters are query parameters (fleet, site, status, q): a view is a bookmark, and the page works without JS."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import QueryParams

from evscada.api.deps import Context, CoreDep
from evscada.console.views import ConnectorSummary, StationSummary, summaries
from evscada.console.web import PageUser, need, read_form, render
from evscada.core.access.users import Role
from evscada.core.alarms.service import AlarmFilter
from evscada.core.energy.planner import Shortfall
from evscada.core.energy.site_view import SessionPlan
from evscada.core.errors import DomainError, InvalidArgument
from evscada.core.historian.monitoring import LiveReading
from evscada.core.model import Alarm, AlarmPriority, AlarmState, StationId, Vehicle, VehicleId

router = APIRouter(include_in_schema=False)

NONE = "-"  # the filter value for "no fleet" / "not at a site"
NO_FLEET = "No fleet"
NO_SITE = "Not at a site"
FILTERS = ("fleet", "site", "status", "q")
MAX_SEARCH = 100
ALARMS_READ = 5000  # active alarms read per page view: far more than a depot ever has at once


class Verdict(enum.StrEnum):
    """Will the vehicle make its departure: the planner's `late` flag, and the faults that put its plan at risk."""

    LATE = "late"  # the plan says it leaves short of its target
    AT_RISK = "at-risk"  # on time by the plan, but an active alarm on its charger threatens that
    ON_TIME = "on-time"
    NO_PLAN = "no-plan"  # not plugged in, no departure or SoC, or its site is not load-managed

    @property
    def label(self) -> str:
        return {"late": "late", "at-risk": "at risk", "on-time": "on time", "no-plan": "no plan"}[self.value]


class PlugState(enum.StrEnum):
    CHARGING = "charging"  # drawing power now
    WAITING = "waiting"  # plugged in, not drawing (the plan holds it back, the car paused, it is full)
    NOT_PLUGGED = "not-plugged"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")


STATUSES = {"late": "late", "at-risk": "at risk", "charging": "charging", "waiting": "waiting"}
STATUSES["not-plugged"] = "not plugged"


def expected_end(reading: LiveReading, capacity_wh: float | None) -> datetime | None:
    """When the battery would be full at today's power: a hint for the control room, not a promise."""
    if reading.soc is None or not capacity_wh or not reading.power_w or reading.power_w <= 0 or reading.at is None:
        return None
    missing_wh = max(0.0, 100.0 - reading.soc) / 100.0 * capacity_wh
    return reading.at + timedelta(hours=missing_wh / reading.power_w)


@dataclass(frozen=True, slots=True)
class DispatchRow:
    vehicle: Vehicle
    station: StationSummary | None  # where it charges now
    connector: ConnectorSummary | None
    faults: list[str]  # what the connector and station say, shown when no alarm covers it yet
    end: datetime | None
    departs: datetime | None = None  # when it leaves next (UTC): its one-off departure or its daily one
    plan: str | None = None  # the energy planner's verdict for this vehicle (ready in time or not); shown when set
    late: bool = False  # the plan says it will not reach its target by its departure
    verdict: Verdict = Verdict.NO_PLAN
    alarms: tuple[Alarm, ...] = ()  # active alarms of the station (station-wide) or the EVSE it is plugged into

    @property
    def one_off(self) -> bool:
        """Whether it next leaves at its one-off departure rather than at its daily time."""
        return self.departs is not None and self.departs == self.vehicle.next_departure

    @property
    def site(self) -> str:
        return self.station.site.name if self.station is not None and self.station.site is not None else NO_SITE

    @property
    def site_key(self) -> str:
        return str(self.station.site.id) if self.station is not None and self.station.site is not None else NONE

    @property
    def fleet(self) -> str:
        return self.vehicle.fleet or NO_FLEET

    @property
    def state(self) -> PlugState:
        if self.connector is None:
            return PlugState.NOT_PLUGGED
        power = self.connector.reading.power_w if self.connector.reading is not None else None
        drawing = (power is not None and power > 0) or self.connector.connector.status == "Charging"
        return PlugState.CHARGING if drawing else PlugState.WAITING

    @property
    def trouble(self) -> bool:
        return bool(self.alarms or self.faults)

    def matches(self, status: str | None, search: str) -> bool:
        if status in ("late", "at-risk") and self.verdict != status:
            return False
        if status in ("charging", "waiting", "not-plugged") and self.state != status:
            return False
        if not search:
            return True
        v = self.vehicle
        where = [self.station.station.id, self.station.title] if self.station is not None else []
        texts = [v.name, v.plate, v.fleet_number, v.fleet, self.site, *where]
        return any(search in text.casefold() for text in texts if text)


@dataclass(frozen=True, slots=True)
class SiteGroup:
    name: str
    key: str
    rows: list[DispatchRow]


@dataclass(frozen=True, slots=True)
class FleetGroup:
    name: str
    key: str
    sites: list[SiteGroup] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(s.rows) for s in self.sites)


_SEVERITY = {Verdict.LATE: 0, Verdict.AT_RISK: 1, Verdict.ON_TIME: 2, Verdict.NO_PLAN: 3}
_LAST = datetime.max.replace(tzinfo=UTC)


def group_rows(rows: Iterable[DispatchRow]) -> list[FleetGroup]:
    """Fleets by name, each split by site (no fleet and no site last); in a site the worst off first, then the
    earliest departure: what needs a dispatcher's hand is at the top of its section."""
    fleets: dict[str, dict[str, list[DispatchRow]]] = {}
    for row in rows:
        fleets.setdefault(row.fleet, {}).setdefault(row.site, []).append(row)

    def order(name: str, none: str) -> tuple[bool, str]:
        return name == none, name.casefold()

    groups = []
    for fleet in sorted(fleets, key=lambda f: order(f, NO_FLEET)):
        sites = []
        for site in sorted(fleets[fleet], key=lambda s: order(s, NO_SITE)):
            members = sorted(
                fleets[fleet][site], key=lambda r: (_SEVERITY[r.verdict], r.departs or _LAST, r.vehicle.name)
            )
            sites.append(SiteGroup(site, members[0].site_key, members))
        fleet_key = NONE if fleet == NO_FLEET else fleet
        groups.append(FleetGroup(fleet, fleet_key, sites))
    return groups


def _plan_text(plan: SessionPlan | None) -> str | None:
    """The planner's word on a charging vehicle: in time, or late and by how much, while it can still be helped."""
    if plan is None:
        return None
    if plan.late:
        cause = "site capacity short" if plan.limited_by is Shortfall.SITE else "its own power and time short"
        return (
            f"leaves with {plan.expected_soc_pct:.0f} % of {plan.target_soc_pct:.0f} %, "
            f"{plan.short_wh / 1000:.1f} kWh short ({cause})"
        )
    return f"{plan.expected_soc_pct:.0f} % at departure"


def _affecting(alarms: Sequence[Alarm], station_id: StationId, evse_id: int) -> tuple[Alarm, ...]:
    """The alarms that stop or threaten charging at this EVSE: its own and the station-wide ones."""
    found = [a for a in alarms if a.station_id == station_id and (a.evse is None or a.evse.evse_id in (0, evse_id))]
    return tuple(sorted(found, key=lambda a: (a.priority, a.raised_at)))


def dispatch_row(
    vehicle: Vehicle,
    where: tuple[StationSummary, ConnectorSummary] | None,
    departs: datetime | None,
    plan: SessionPlan | None = None,
    alarms: Sequence[Alarm] = (),
) -> DispatchRow:
    """One vehicle as dispatch shows it: where it charges, the plan's verdict, and what threatens it."""
    if where is None:
        return DispatchRow(vehicle, None, None, [], None, departs)
    s, c = where
    faults = [f"{c.connector.status} {c.connector.error_code or ''}".strip()] if c.state == "faulted" else []
    if not s.station.online:
        faults.append("station offline")
    end = expected_end(c.reading, vehicle.battery_capacity_wh) if c.reading else None
    affecting = _affecting(alarms, s.station.id, c.connector.evse_id)
    threats = [a for a in affecting if a.priority < AlarmPriority.INFO]  # information alone threatens nothing
    if plan is None:
        verdict = Verdict.NO_PLAN
    elif plan.late:
        verdict = Verdict.LATE
    else:
        verdict = Verdict.AT_RISK if threats or faults else Verdict.ON_TIME
    return DispatchRow(
        vehicle,
        s,
        c,
        faults,
        end,
        departs,
        plan=_plan_text(plan),
        late=verdict is Verdict.LATE,
        verdict=verdict,
        alarms=affecting,
    )


@dataclass(frozen=True, slots=True)
class DispatchFilter:
    """The view asked for; every field optional. `fleet` and `site` take NONE for "no fleet" / "not at a site"."""

    fleet: str = ""
    site: str = ""
    status: str = ""
    search: str = ""

    @property
    def active(self) -> bool:
        return bool(self.fleet or self.site or self.status or self.search)

    def keep(self, row: DispatchRow) -> bool:
        if self.fleet and (NONE if row.fleet == NO_FLEET else row.fleet) != self.fleet:
            return False
        if self.site and row.site_key != self.site:
            return False
        return row.matches(self.status or None, self.search.casefold())


def read_filter(params: QueryParams, fleets: Sequence[str], site_ids: Sequence[str]) -> DispatchFilter:
    """The filters as typed; a value that fits nothing says so (a stale bookmark, a hand-edited URL)."""
    found = {name: (params.get(name) or "").strip() for name in FILTERS}
    if found["status"] and found["status"] not in STATUSES:
        raise InvalidArgument(
            f"status '{found['status']}' is not one of {', '.join(STATUSES)}: choose one from the list",
            field="status",
        )
    if found["fleet"] and found["fleet"] != NONE and found["fleet"] not in fleets:
        raise InvalidArgument(
            f"there is no fleet '{found['fleet']}': choose one from the list (a vehicle's fleet is set under Access)",
            field="fleet",
        )
    if found["site"] and found["site"] != NONE and found["site"] not in site_ids:
        raise InvalidArgument(
            f"there is no site '{found['site']}': choose one from the list (sites are numbered, as on the Sites page)",
            field="site",
        )
    if len(found["q"]) > MAX_SEARCH:
        raise InvalidArgument(f"the search is at most {MAX_SEARCH} characters: shorten it", field="q")
    return DispatchFilter(fleet=found["fleet"], site=found["site"], status=found["status"], search=found["q"])


def _view_query(params: Iterable[tuple[str, str]]) -> str:
    """Only the filters, without empty ones: what a redirect back to the same view carries."""
    return urlencode([(k, v) for k, v in params if k in FILTERS and v.strip()])


@router.get("/dispatch", response_class=HTMLResponse)
async def dispatch_page(request: Request, core: CoreDep, context: Context, user: PageUser) -> HTMLResponse:
    at_charger: dict[int, tuple[StationSummary, ConnectorSummary]] = {}
    for s in await summaries(core):
        for c in s.connectors:
            if c.reading is not None and c.reading.vehicle_id is not None:
                at_charger[int(c.reading.vehicle_id)] = (s, c)
    plans = context.load_manager.vehicle_plans() if context.load_manager is not None else {}
    alarms = await core.alarms.list(where=AlarmFilter(state=AlarmState.ACTIVE, limit=ALARMS_READ))
    vehicles = await core.vehicles.list()
    rows = [
        dispatch_row(
            vehicle,
            at_charger.get(int(vehicle.id)),
            core.vehicles.next_departure_at(vehicle),
            plans.get(vehicle.id),
            alarms,
        )
        for vehicle in vehicles
    ]
    sites = sorted(await core.sites.list(), key=lambda s: s.name.casefold())
    fleets = sorted({v.fleet for v in vehicles if v.fleet}, key=str.casefold)
    error: InvalidArgument | None = None
    try:
        wanted = read_filter(request.query_params, fleets, [str(s.id) for s in sites])
        shown = [r for r in rows if wanted.keep(r)]
    except InvalidArgument as exc:
        error, wanted, shown = exc, DispatchFilter(), []
    tally = {v: sum(1 for r in shown if r.verdict is v) for v in Verdict}
    return render(
        request,
        "dispatch_rows.html" if request.query_params.get("fragment") else "dispatch.html",
        user,
        422 if error else 200,
        groups=group_rows(shown),
        total=len(rows),
        shown=len(shown),
        tally=tally,
        verdicts=list(Verdict),
        wanted=wanted,
        typed={name: request.query_params.get(name, "") for name in FILTERS},
        view=_view_query(request.query_params.multi_items()),
        fleets=fleets,
        sites=sites,
        statuses=STATUSES,
        none=NONE,
        error=error,
        zone=core.vehicles.zone,
        message=request.query_params.get("message"),
        failed=request.query_params.get("failed") == "1",
    )


@router.post("/dispatch/{vehicle_id}")
async def dispatch_change(request: Request, vehicle_id: int, core: CoreDep, user: PageUser) -> RedirectResponse:
    """One vehicle's departures, target SoC and priority, as an operator sets them on the dispatch page (audited)."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    view = _view_query(parse_qsl(form.get("view", "")))  # back to the filtered view the form was in
    try:
        current = await core.vehicles.get(vehicle_id=VehicleId(vehicle_id))
        changed = replace(current, **_dispatch_fields(form, core.vehicles.zone))
        await core.vehicles.update(vehicle=changed, actor=user.username)
    except DomainError as exc:
        return _dispatch_back(exc.message, vehicle_id, view, failed=True)
    except ValueError as exc:
        return _dispatch_back(f"invalid input: {exc}", vehicle_id, view, failed=True)
    return _dispatch_back(f"{changed.name} saved", vehicle_id, view)


def _dispatch_fields(form: dict[str, str], zone: ZoneInfo) -> dict[str, Any]:
    """The form's text as vehicle fields: an empty field clears, times are on the operator's clock."""
    daily = form.get("departure_time", "").strip()
    one_off = form.get("next_departure", "").strip()
    target = form.get("target_soc_pct", "").strip()
    priority = form.get("priority", "").strip()
    try:
        departure_time = time.fromisoformat(daily) if daily else None
    except ValueError:
        raise ValueError(f"departure time {daily!r} is not a time of day such as 04:30") from None
    try:
        next_departure = datetime.fromisoformat(one_off) if one_off else None
    except ValueError:
        raise ValueError(f"one-off departure {one_off!r} is not a date and time such as 2026-03-29T04:30") from None
    if next_departure is not None and next_departure.tzinfo is None:
        next_departure = next_departure.replace(tzinfo=zone)  # as the operator's clock shows it
    try:
        target_soc_pct = float(target) if target else None
        whole_priority = int(priority) if priority else 0
    except ValueError:
        raise ValueError("target SoC is a number of per cent, priority a whole number") from None
    return {
        "departure_time": departure_time,
        "next_departure": next_departure,
        "target_soc_pct": target_soc_pct,
        "priority": whole_priority,
    }


def _dispatch_back(message: str, vehicle_id: int, view: str = "", failed: bool = False) -> RedirectResponse:
    flag = "&failed=1" if failed else ""
    where = f"{view}&" if view else ""
    return RedirectResponse(f"/dispatch?{where}message={quote(message)}{flag}#vehicle-{vehicle_id}", status_code=303)
