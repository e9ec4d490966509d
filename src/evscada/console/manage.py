"""Dispatch (vehicles at their chargers) and access management forms."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from evscada.api.deps import SESSION_COOKIE, Context, CoreDep
from evscada.console.views import ConnectorSummary, StationSummary, summaries
from evscada.console.web import PageUser, need, read_form, render
from evscada.core.access.users import Role
from evscada.core.energy.planner import Shortfall
from evscada.core.energy.site_view import SessionPlan
from evscada.core.errors import DomainError
from evscada.core.historian.monitoring import LiveReading
from evscada.core.model import (
    AuthorizationStatus,
    RegistrationStatus,
    SecurityProfile,
    SiteId,
    StationId,
    Token,
    Vehicle,
    VehicleId,
)
from evscada.core.stations.passwords import check_station_password

router = APIRouter(include_in_schema=False)


def expected_end(reading: LiveReading, capacity_wh: float | None) -> datetime | None:
    """When the battery would be full at today's power: a hint for the control room, not a promise."""
    if reading.soc is None or not capacity_wh or not reading.power_w or reading.power_w <= 0 or reading.at is None:
        return None
    missing_wh = max(0.0, 100.0 - reading.soc) / 100.0 * capacity_wh
    return reading.at + timedelta(hours=missing_wh / reading.power_w)


@router.get("/dispatch", response_class=HTMLResponse)
async def dispatch_page(request: Request, core: CoreDep, context: Context, user: PageUser) -> HTMLResponse:
    at_charger: dict[int, tuple[StationSummary, ConnectorSummary]] = {}
    for s in await summaries(core):
        for c in s.connectors:
            if c.reading is not None and c.reading.vehicle_id is not None:
                at_charger[int(c.reading.vehicle_id)] = (s, c)
    plans = context.load_manager.vehicle_plans() if context.load_manager is not None else {}
    rows = [
        replace(
            _dispatch_row(vehicle, at_charger.get(int(vehicle.id)), core.vehicles.next_departure_at(vehicle)),
            plan=_verdict(plans.get(vehicle.id)),
            late=vehicle.id in plans and plans[vehicle.id].late,
        )
        for vehicle in await core.vehicles.list()
    ]
    rows.sort(key=lambda r: (r.station is None, r.vehicle.name))
    fragment = request.query_params.get("fragment")
    return render(
        request,
        "dispatch_rows.html" if fragment else "dispatch.html",
        user,
        rows=rows,
        zone=core.vehicles.zone,
        message=request.query_params.get("message"),
        failed=request.query_params.get("failed") == "1",
    )


def _verdict(plan: SessionPlan | None) -> str | None:
    """The planner's word on a charging vehicle: in time, or late and by how much, while it can still be helped."""
    if plan is None:
        return None
    if plan.late:
        cause = "site capacity short" if plan.limited_by is Shortfall.SITE else "its own power and time short"
        return (
            f"LATE: leaves with {plan.expected_soc_pct:.0f} % of {plan.target_soc_pct:.0f} %, "
            f"{plan.short_wh / 1000:.1f} kWh short ({cause})"
        )
    return f"on time: {plan.expected_soc_pct:.0f} % at departure"


@dataclass(frozen=True, slots=True)
class DispatchRow:
    vehicle: Vehicle
    station: StationSummary | None  # where it charges now
    connector: ConnectorSummary | None
    faults: list[str]
    end: datetime | None
    departs: datetime | None = None  # when it leaves next (UTC): its one-off departure or its daily one
    plan: str | None = None  # the energy planner's verdict for this vehicle (ready in time or not); shown when set
    late: bool = False  # the plan says it will not reach its target by its departure

    @property
    def one_off(self) -> bool:
        """Whether it next leaves at its one-off departure rather than at its daily time."""
        return self.departs is not None and self.departs == self.vehicle.next_departure


def _dispatch_row(
    vehicle: Vehicle, where: tuple[StationSummary, ConnectorSummary] | None, departs: datetime | None
) -> DispatchRow:
    if where is None:
        return DispatchRow(vehicle, None, None, [], None, departs)
    s, c = where
    faults = [f"{c.connector.status} {c.connector.error_code or ''}".strip()] if c.state == "faulted" else []
    if not s.station.online:
        faults.append("station offline")
    end = expected_end(c.reading, vehicle.battery_capacity_wh) if c.reading else None
    return DispatchRow(vehicle, s, c, faults, end, departs)


@router.post("/dispatch/{vehicle_id}")
async def dispatch_change(request: Request, vehicle_id: int, core: CoreDep, user: PageUser) -> RedirectResponse:
    """One vehicle's departures, target SoC and priority, as an operator sets them on the dispatch page (audited)."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    try:
        current = await core.vehicles.get(vehicle_id=VehicleId(vehicle_id))
        changed = replace(current, **_dispatch_fields(form, core.vehicles.zone))
        await core.vehicles.update(vehicle=changed, actor=user.username)
    except DomainError as exc:
        return _dispatch_back(exc.message, vehicle_id, failed=True)
    except ValueError as exc:
        return _dispatch_back(f"invalid input: {exc}", vehicle_id, failed=True)
    return _dispatch_back(f"{changed.name} saved", vehicle_id)


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


def _dispatch_back(message: str, vehicle_id: int, failed: bool = False) -> RedirectResponse:
    flag = "&failed=1" if failed else ""
    return RedirectResponse(f"/dispatch?message={quote(message)}{flag}#vehicle-{vehicle_id}", status_code=303)


@router.get("/access", response_class=HTMLResponse)
async def access_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    views = await core.queries.stations()
    return render(
        request,
        "access.html",
        user,
        tokens=await core.authorization.tokens(limit=1000, offset=0),
        vehicles=await core.vehicles.list(),
        sites=await core.sites.list(),
        stations=[v.station for v in views],
        users=await core.access.users() if user.role.allows(Role.ADMIN) else [],
        message=request.query_params.get("message"),
        failed=request.query_params.get("failed") == "1",
    )


def _back(message: str, failed: bool = False, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(
        f"/access?message={quote(message)}{'&failed=1' if failed else ''}#{anchor}", status_code=303
    )


def _number(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


@router.post("/access/{kind}")
async def access_action(request: Request, kind: str, core: CoreDep, user: PageUser) -> RedirectResponse:
    """Every access form posts here; each kind checks its own role (tokens: operator; the rest: admin)."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR if kind.startswith("token") else Role.ADMIN)
    try:
        message = await _act(core, kind, form, user.username, request.cookies.get(SESSION_COOKIE))
    except DomainError as exc:
        return _back(exc.message, failed=True, anchor=kind)
    except (ValueError, KeyError) as exc:
        return _back(f"invalid input: {exc}", failed=True, anchor=kind)
    return _back(message, anchor=kind)


async def _act(core: Any, kind: str, form: dict[str, str], actor: str, session: str | None) -> str:
    """One access change, recorded in the audit log under the logged-in user's name (`session`: their cookie)."""
    if kind.startswith("token"):
        return await _token_action(core, kind, form, actor)
    return await _admin_action(core, kind, form, actor, session)


async def _token_action(core: Any, kind: str, form: dict[str, str], actor: str) -> str:
    match kind:
        case "token":
            value = form.get("value", "").strip()
            if not value or len(value) > 36:
                raise ValueError("a token is 1 to 36 characters")
            expires = datetime.fromisoformat(form["expires_at"]) if form.get("expires_at") else None
            if expires is not None and expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            await core.authorization.save_token(
                token=Token(value=value, type=form.get("type") or "ISO14443", expires_at=expires), actor=actor
            )
            if form.get("vehicle_id"):
                await core.vehicles.link_token(
                    token_value=value, vehicle_id=VehicleId(int(form["vehicle_id"])), actor=actor
                )
            return f"token {value} saved"
        case "token-status":
            token = await core.authorization.token(value=form["value"])
            token.status = AuthorizationStatus(form["status"])
            await core.authorization.save_token(token=token, actor=actor)
            return f"token {token.value} is {token.status} now"
        case "token-vehicle":
            vehicle = VehicleId(int(form["vehicle_id"])) if form.get("vehicle_id") else None
            await core.vehicles.link_token(token_value=form["value"], vehicle_id=vehicle, actor=actor)
            return f"token {form['value']} linked"
    raise ValueError(f"unknown form {kind}")


async def _admin_action(core: Any, kind: str, form: dict[str, str], actor: str, session: str | None) -> str:
    match kind:
        case "vehicle":
            capacity = _number(form.get("battery_kwh"))
            vehicle = await core.vehicles.create(
                name=form.get("name", ""),
                plate=form.get("plate") or None,
                fleet_number=form.get("fleet_number") or None,
                fleet=form.get("fleet") or None,
                battery_capacity_wh=capacity * 1000 if capacity is not None else None,
                actor=actor,
            )
            return f"vehicle {vehicle.name} created"
        case "site":
            site = await core.sites.create(
                name=form.get("name", ""),
                address=form.get("address") or None,
                latitude=_number(form.get("latitude")),
                longitude=_number(form.get("longitude")),
                actor=actor,
            )
            return f"site {site.name} created"
        case "station-accept":
            await core.stations.change(
                station_id=StationId(form["id"]), registration=RegistrationStatus.ACCEPTED, actor=actor
            )
            return f"station {form['id']} accepted"
        case "station-security":
            password = check_station_password(form["password"]) if form.get("password") else None
            await core.stations.change(
                station_id=StationId(form["id"]),
                security_profile=SecurityProfile(int(form["security_profile"])),
                password=password,
                actor=actor,
            )
            return f"station {form['id']} changed; it meets the change at its next connection"
        case "station-place":
            await core.sites.place_station(
                station_id=StationId(form["id"]),
                name=form.get("name") or None,
                site_id=SiteId(int(form["site_id"])) if form.get("site_id") else None,
                latitude=_number(form.get("latitude")),
                longitude=_number(form.get("longitude")),
                actor=actor,
            )
            return f"station {form['id']} placed"
        case "user":
            created = await core.access.add_user(
                username=form.get("username", "").strip(),
                role=Role(form.get("role", "viewer")),
                password=form.get("password") or None,
                actor=actor,
            )
            return f"user {created.username} created ({created.role})"
        case "user-change":
            password = form.get("password") or None
            if password is not None and len(password) < 8:
                raise ValueError("a password has at least 8 characters")
            changed = await core.access.change_user(
                username=form["username"],
                actor=actor,
                role=Role(form["role"]) if form.get("role") else None,
                disabled=form.get("enabled") != "1",
                password=password,
                keep_session=session if form["username"] == actor else None,  # an admin's own new password
            )
            state = "disabled" if changed.disabled else "enabled"
            return f"user {changed.username}: {changed.role}, {state}" + (", new password" if password else "")
    raise ValueError(f"unknown form {kind}")
