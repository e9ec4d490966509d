"""Access management at scale: tokens, vehicles and users searched and paged on the server, API keys, the audit log,
the notification log and who is on call. Ten thousand tokens render as one page of rows, never all at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from evscada.api.deps import SESSION_COOKIE, Context, CoreDep
from evscada.console.paging import DEFAULT_PAGE_SIZE, PAGE_SIZES, Paging, counted, read_paging, uncounted
from evscada.console.web import PageUser, need, read_form, render
from evscada.core.access.audit import AuditFilter
from evscada.core.access.users import Role, User
from evscada.core.errors import DomainError
from evscada.core.model import (
    AuthorizationStatus,
    RegistrationStatus,
    SecurityProfile,
    SiteId,
    StationId,
    Token,
    VehicleId,
)
from evscada.core.notifications.deliveries import DeliveryFilter, DeliveryStatus
from evscada.core.services import Core
from evscada.core.stations.passwords import check_station_password

router = APIRouter(include_in_schema=False)

MAX_SEARCH = 100  # characters of a search box, as the API takes them
SUGGESTIONS = 20  # vehicles offered while an operator types a name


def _show(
    request: Request, template: str, user: User, paging: Paging | None, problems: list[str], **context: Any
) -> HTMLResponse:
    """Every access page: its tab, the message a form left, and any note about the query it was opened with."""
    message = request.query_params.get("message")
    failed = request.query_params.get("failed") == "1"
    if problems:
        message, failed = "; ".join(problems), True
    return render(
        request, template, user, paging=paging, message=message, failed=failed, page_sizes=PAGE_SIZES, **context
    )


@router.get("/access", response_class=HTMLResponse)
async def access_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    """The overview: counts with links to the lists, sites and stations, and (admins) the first users."""
    views = await core.queries.stations()
    users = await core.access.users() if user.role.allows(Role.ADMIN) else []
    return _show(
        request,
        "access.html",
        user,
        None,
        [],
        tab="overview",
        token_count=await core.authorization.count_tokens(),
        vehicle_count=await core.vehicles.count(),
        sites=await core.sites.list(),
        stations=[v.station for v in views],
        users=users[:DEFAULT_PAGE_SIZE],
        user_count=len(users),
        back="/access",
    )


@router.get("/access/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    paging, problems = read_paging(request, "/access/tokens", "q")
    search = paging.filters["q"] or None
    total = await core.authorization.count_tokens(search=search)
    tokens = await core.authorization.tokens(limit=paging.limit, offset=paging.offset, search=search)
    linked = {VehicleId(t.vehicle_id) for t in tokens if t.vehicle_id is not None}
    paging = counted(paging, total, len(tokens))
    return _show(
        request,
        "access_tokens.html",
        user,
        paging,
        problems,
        tab="tokens",
        tokens=tokens,
        vehicle_names=await core.vehicles.names(vehicle_ids=linked) if linked else {},
        back=paging.here,
    )


@router.get("/access/vehicles", response_class=HTMLResponse)
async def vehicles_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    paging, problems = read_paging(request, "/access/vehicles", "q")
    search = paging.filters["q"] or None
    total = await core.vehicles.count(search=search)
    vehicles = await core.vehicles.list(search=search, limit=paging.limit, offset=paging.offset)
    paging = counted(paging, total, len(vehicles))
    return _show(
        request, "access_vehicles.html", user, paging, problems, tab="vehicles", vehicles=vehicles, back=paging.here
    )


@router.get("/access/users", response_class=HTMLResponse)
async def users_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    """People log in, so there are dozens, not thousands: searched and paged in memory."""
    need(user, Role.ADMIN)
    paging, problems = read_paging(request, "/access/users", "q")
    search = paging.filters["q"].lower()
    matching = [u for u in await core.access.users() if search in u.username.lower() or search == str(u.role)]
    shown = matching[paging.offset : paging.offset + paging.limit]
    paging = counted(paging, len(matching), len(shown))
    return _show(request, "access_users.html", user, paging, problems, tab="users", users=shown, back=paging.here)


@router.get("/access/keys", response_class=HTMLResponse)
async def keys_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    need(user, Role.ADMIN)
    return await _keys(request, core, user, request.query_params.get("user", "").strip())


async def _keys(
    request: Request, core: Core, user: User, username: str, *, new_key: str | None = None, key_name: str = ""
) -> HTMLResponse:
    users = await core.access.users()
    chosen = next((u for u in users if u.username == username), None)
    problems = [f"no user {username!r}; choose one from the list"] if username and chosen is None else []
    keys = await core.access.keys(username=chosen.username) if chosen is not None else []
    response = _show(
        request,
        "access_keys.html",
        user,
        None,
        problems,
        tab="keys",
        users=users,
        chosen=chosen,
        keys=keys,
        new_key=new_key,
        key_name=key_name,
    )
    if new_key is not None:
        response.headers["Cache-Control"] = "no-store"  # the key is in this answer only: keep no copy of it
    return response


@router.post("/access/keys/new", response_class=HTMLResponse)
async def create_key(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    """A new API key for a user, shown in this answer only (not behind a redirect: it must not land in a URL)."""
    form = await read_form(request, user)
    need(user, Role.ADMIN)
    username = form.get("username", "")
    name = form.get("name", "").strip()
    if not 1 <= len(name) <= 100:
        return _keys_back(username, "name the key (1 to 100 characters), e.g. billing-system", failed=True)
    try:
        stored, key = await core.access.issue_api_key(username=username, name=name, actor=user.username)
    except DomainError as exc:
        return _keys_back(username, exc.message, failed=True)
    return await _keys(request, core, user, username, new_key=key, key_name=stored.name)


@router.post("/access/keys/revoke")
async def revoke_key(request: Request, core: CoreDep, user: PageUser) -> RedirectResponse:
    form = await read_form(request, user)
    need(user, Role.ADMIN)
    username = form.get("username", "")
    try:
        key = await core.access.revoke_key(username=username, key_id=int(form.get("key_id", "")), actor=user.username)
    except DomainError as exc:
        return _keys_back(username, exc.message, failed=True)
    except ValueError:
        return _keys_back(username, "which key? reload the page and use its revoke button", failed=True)
    return _keys_back(username, f"key {key.name} ({key.prefix}…) revoked: it is refused from now on")


def _keys_back(username: str, message: str, failed: bool = False) -> Any:
    query = urlencode({"user": username, "message": message, **({"failed": "1"} if failed else {})})
    return RedirectResponse(f"/access/keys?{query}", status_code=303)


@router.get("/access/audit", response_class=HTMLResponse)
async def audit_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    """Newest first; the same rule as the API's /audit: admins only."""
    need(user, Role.ADMIN)
    paging, problems = read_paging(request, "/access/audit", "actor", "action", "q")
    f = paging.filters
    where = AuditFilter(
        actor=f["actor"] or None,
        action=f["action"] or None,
        text=f["q"] or None,
        limit=paging.limit + 1,  # one more than shown: whether there is a next page
        offset=paging.offset,
    )
    entries = await core.audit.entries(where=where)
    paging = uncounted(paging, len(entries))
    return _show(request, "access_audit.html", user, paging, problems, tab="audit", entries=entries[: paging.limit])


@router.get("/access/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request, context: Context, user: PageUser) -> HTMLResponse:
    """Who was told of which alarm over which channel and how it went; and who is on call now. Operators, as the
    API's /notifications."""
    need(user, Role.OPERATOR)
    paging, problems = read_paging(request, "/access/notifications", "recipient", "channel", "status")
    f = paging.filters
    status = None
    if f["status"]:
        try:
            status = DeliveryStatus(f["status"])
        except ValueError:
            problems.append(f"status is one of {', '.join(s.value for s in DeliveryStatus)}; showing all")
    channel = f["channel"] if f["channel"] in ("email", "webhook", "sms") else None
    if f["channel"] and channel is None:
        problems.append("channel is email, webhook or sms; showing all")
    where = DeliveryFilter(
        recipient=f["recipient"] or None,
        channel=channel,
        status=status,
        limit=paging.limit + 1,
        offset=paging.offset,
    )
    deliveries = await context.notifier.deliveries(where=where)
    paging = uncounted(paging, len(deliveries))
    return _show(
        request,
        "access_notifications.html",
        user,
        paging,
        problems,
        tab="notifications",
        deliveries=deliveries[: paging.limit],
        on_call=context.notifier.on_call(),
        statuses=[s.value for s in DeliveryStatus],
    )




@router.get("/data/vehicles")
async def vehicle_suggestions(request: Request, core: CoreDep, user: PageUser) -> JSONResponse:
    """The vehicles whose name, plate, fleet number or fleet contain what was typed so far: for the datalist of a
    token's vehicle field (the server resolves what is finally sent)."""
    search = request.query_params.get("q", "").strip()[:MAX_SEARCH] or None
    vehicles = await core.vehicles.list(search=search, limit=SUGGESTIONS)
    return JSONResponse(
        [{"name": v.name, "fleet_number": v.fleet_number, "plate": v.plate, "fleet": v.fleet} for v in vehicles]
    )


# Where a form goes back to when it does not say: the page that has it.
_HOME = {"token": "/access/tokens", "vehicle": "/access/vehicles", "user": "/access/users"}


def _back(message: str, form: dict[str, str], kind: str, failed: bool = False) -> RedirectResponse:
    """To the page (and search) the form was sent from, with the outcome; only access pages are taken."""
    target = form.get("back", "")
    if not target.startswith("/access") or "//" in target or "\\" in target or "#" in target:
        target = _HOME.get(kind.split("-", maxsplit=1)[0], "/access")
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(
        f"{target}{joiner}message={quote(message)}{'&failed=1' if failed else ''}#{kind}", status_code=303
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
        return _back(exc.message, form, kind, failed=True)
    except (ValueError, KeyError) as exc:
        return _back(f"invalid input: {exc}", form, kind, failed=True)
    return _back(message, form, kind)


async def _act(core: Core, kind: str, form: dict[str, str], actor: str, session: str | None) -> str:
    """One access change, recorded in the audit log under the logged-in user's name (`session`: their cookie)."""
    if kind.startswith("token"):
        return await _token_action(core, kind, form, actor)
    return await _admin_action(core, kind, form, actor, session)


async def _chosen_vehicle(core: Core, form: dict[str, str]) -> VehicleId | None:
    """The vehicle a token form names: typed (name, fleet number or plate, resolved here) or, from older forms and
    scripts, by id; empty means none."""
    if form.get("vehicle_id"):
        return VehicleId(int(form["vehicle_id"]))
    reference = form.get("vehicle", "").strip()
    if not reference:
        return None
    return (await core.vehicles.resolve(reference=reference)).id


async def _token_action(core: Core, kind: str, form: dict[str, str], actor: str) -> str:
    match kind:
        case "token":
            value = form.get("value", "").strip()
            if not value or len(value) > 36:
                raise ValueError("a token is 1 to 36 characters")
            expires = datetime.fromisoformat(form["expires_at"]) if form.get("expires_at") else None
            if expires is not None and expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            vehicle = await _chosen_vehicle(core, form)  # before saving: a wrong name saves nothing
            await core.authorization.save_token(
                token=Token(value=value, type=form.get("type") or "ISO14443", expires_at=expires), actor=actor
            )
            if vehicle is not None:
                await core.vehicles.link_token(token_value=value, vehicle_id=vehicle, actor=actor)
            return f"token {value} saved"
        case "token-status":
            token = await core.authorization.set_status(  # audited as token.block / token.unblock
                value=form["value"], status=AuthorizationStatus(form["status"]), actor=actor
            )
            return f"token {token.value} is {token.status} now"
        case "token-vehicle":
            vehicle = await _chosen_vehicle(core, form)
            await core.vehicles.link_token(token_value=form["value"], vehicle_id=vehicle, actor=actor)
            if vehicle is None:
                return f"token {form['value']} has no vehicle now"
            names = await core.vehicles.names(vehicle_ids={vehicle})
            return f"token {form['value']} linked to {names.get(vehicle, vehicle)}"
    raise ValueError(f"unknown form {kind}")


async def _admin_action(core: Core, kind: str, form: dict[str, str], actor: str, session: str | None) -> str:
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
