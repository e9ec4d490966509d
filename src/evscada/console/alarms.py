"""The alarms page: active alarms and their history from the alarm engine, and operators' actions on them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from evscada.api.deps import CoreDep
from evscada.console.web import PageUser, need, read_form, render
from evscada.core.access.users import Role
from evscada.core.alarms.rules import SOURCES
from evscada.core.alarms.service import AlarmFilter
from evscada.core.errors import DomainError
from evscada.core.model import Alarm, AlarmId, AlarmPriority, AlarmState, SiteId, StationId
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

PRIORITIES = {1: "critical", 2: "high", 3: "medium", 4: "info"}
SHELF_MINUTES = (15, 60, 240, 480, 1440, 10080)  # the durations an operator picks from
ACTIVE_SHOWN = 500
HISTORY_SHOWN = 200
ACTIONS = ("acknowledge", "comment", "shelve", "unshelve")


@dataclass(slots=True)
class AlarmGroup:
    """An alarm shown with the alarms recorded as its consequences (ISA-18.2), folded under it."""

    head: Alarm
    consequences: list[Alarm] = field(default_factory=list)

    @property
    def members(self) -> list[Alarm]:
        return [self.head, *self.consequences]

    @property
    def open_consequences(self) -> list[Alarm]:
        """The consequences nobody has acknowledged yet: what acknowledging the head can take along."""
        return [a for a in self.consequences if a.acknowledged_at is None]


def group_alarms(alarms: Iterable[Alarm]) -> list[AlarmGroup]:
    """Fold each alarm under its cause when the cause is in the list too. A group takes the place of its first member
    in the given order (the most urgent, for a standing list): a priority 1 consequence lifts its cause's group."""
    listed = list(alarms)
    present = {a.id: a for a in listed}
    groups: dict[AlarmId, AlarmGroup] = {}
    for alarm in listed:
        head_id = alarm.cause_id if alarm.cause_id is not None and alarm.cause_id in present else alarm.id
        group = groups.get(head_id)
        if group is None:
            group = groups[head_id] = AlarmGroup(present[head_id])
        if alarm.id != head_id:
            group.consequences.append(alarm)
    for group in groups.values():
        group.consequences.sort(key=lambda a: (a.raised_at, a.id))
    return list(groups.values())


def count_groups(alarms: Iterable[Alarm], counted: Callable[[Alarm], bool]) -> int:
    """How many groups have a member that counts: one fault with three alarms is one thing to look at."""
    return sum(1 for group in group_alarms(alarms) if any(counted(a) for a in group.members))


def needs_attention(alarm: Alarm) -> bool:
    """What the header counts: urgent (priority 1 or 2), not yet seen, not put aside on purpose; active or cleared
    (ISA-18.2: a fault that came and went unseen still needs an operator's eye)."""
    return (
        alarm.priority <= AlarmPriority.HIGH
        and alarm.acknowledged_at is None
        and alarm.shelved_until is None
        and not alarm.suppressed
    )


async def active_alarms(core: Core, station_id: StationId | None = None) -> list[Alarm]:
    """The standing alarms (active, or cleared and not yet acknowledged) an operator must see: most urgent first,
    then newest first. A cleared alarm leaves the list once acknowledged."""
    where = AlarmFilter(standing=True, station_id=station_id, limit=ACTIVE_SHOWN)
    return await core.alarms.list(where=where)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """The history tab's filters as the operator typed them (kept as text to show them back)."""

    station: str = ""
    site: str = ""
    priority: str = ""
    source: str = ""
    state: str = ""
    since: str = ""  # datetime-local, read as UTC
    until: str = ""

    def where(self) -> AlarmFilter:
        return AlarmFilter(
            state=AlarmState(self.state) if self.state in tuple(AlarmState) else None,
            station_id=StationId(self.station) if self.station else None,
            site_id=SiteId(int(self.site)) if self.site.isdigit() else None,
            source=self.source if self.source in SOURCES else None,
            priority=AlarmPriority(int(self.priority)) if self.priority in ("1", "2", "3", "4") else None,
            since=_utc(self.since),
            until=_utc(self.until),
            limit=HISTORY_SHOWN,
        )

    def export_url(self) -> str:
        """The REST API's CSV export with the same filters."""
        where = self.where()
        params: dict[str, Any] = {
            "state": where.state,
            "station_id": where.station_id,
            "site_id": where.site_id,
            "source": where.source,
            "priority": int(where.priority) if where.priority else None,
            "since": where.since.isoformat() if where.since else None,
            "until": where.until.isoformat() if where.until else None,
        }
        return "/api/v1/alarms/export?" + urlencode({k: v for k, v in params.items() if v is not None})


def _utc(text: str) -> datetime | None:
    """A datetime-local field (no zone: UTC, as the console shows times); nonsense is ignored, not an error."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@router.get("/alarms", response_class=HTMLResponse)
async def alarms_page(
    *,
    request: Request,
    core: CoreDep,
    user: PageUser,
    tab: str = "active",
    station: str = "",
    site: str = "",
    priority: str = "",
    source: str = "",
    state: str = "",
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    history = tab == "history"
    query = HistoryQuery(station, site, priority, source, state, since, until)
    alarms = await core.alarms.list(where=query.where()) if history else await active_alarms(core)
    context: dict[str, Any] = {
        "alarms": alarms,
        # The history is a report, one row per alarm; the standing list folds consequences under their cause.
        "alarm_groups": [AlarmGroup(a) for a in alarms] if history else group_alarms(alarms),
        "alarm_history": history,
        "priorities": PRIORITIES,
        "shelf_minutes": SHELF_MINUTES,
        "back": _here(request),
        "bulk": not history,  # the rows carry checkboxes for the page's "acknowledge selected" form
    }
    if request.query_params.get("fragment"):
        return render(request, "alarm_rows.html", user, **context)
    return render(
        request,
        "alarms.html",
        user,
        **context,
        query=query,
        export_url=query.export_url(),
        sources=SOURCES,
        stations=[v.station.id for v in await core.queries.stations()],
        sites=await core.sites.list(),
        message=request.query_params.get("message"),
        failed=request.query_params.get("failed") == "1",
    )


@router.get("/data/alarms/attention")
async def attention(core: CoreDep, user: PageUser) -> JSONResponse:
    """The header's badge: how many urgent alarms nobody has acknowledged yet, a cause and its consequences once."""
    return JSONResponse({"count": count_groups(await active_alarms(core), needs_attention)})


def _here(request: Request) -> str:
    """This page's address without the last action's message: where an action's form comes back to."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("message", "failed", "fragment")]
    return request.url.path + ("?" + urlencode(kept) if kept else "")


def _safe_back(target: str) -> str:
    return target if target.startswith("/alarms") or target.startswith("/stations/") else "/alarms"


def _back(target: str, message: str, failed: bool = False) -> RedirectResponse:
    path, _, anchor = target.partition("#")
    joiner = "&" if "?" in path else "?"
    url = f"{path}{joiner}message={quote(message)}{'&failed=1' if failed else ''}"
    return RedirectResponse(url + (f"#{anchor}" if anchor else ""), status_code=303)


@router.post("/alarms/acknowledge")
async def acknowledge_alarms(request: Request, core: CoreDep, user: PageUser) -> RedirectResponse:
    """Acknowledge the ticked alarms, or all standing unacknowledged ones, with one comment."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    back = _safe_back(form.get("back", "/alarms"))
    ticked = parse_qs((await request.body()).decode()).get("id", [])
    comment = form.get("comment", "")[:1000] or None
    try:
        if form.get("scope") == "all":
            ids = None
        else:
            ids = [AlarmId(int(v)) for v in ticked if v.isdigit()]
            if not ids:
                return _back(back, "select the alarms to acknowledge first", failed=True)
        done = await core.alarms.acknowledge_many(alarm_ids=ids, by=user.username, comment=comment)
    except DomainError as exc:
        return _back(back, exc.message, failed=True)
    count = len(done)
    return _back(back, f"{count} alarm{'' if count == 1 else 's'} acknowledged")


@router.post("/alarms/{alarm_id}/{action}")
async def alarm_action(request: Request, alarm_id: int, action: str, core: CoreDep, user: PageUser) -> RedirectResponse:
    """Acknowledge, comment, shelve or unshelve: the alarm service decides, as for the REST API."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    back = _safe_back(form.get("back", "/alarms"))
    aid = AlarmId(alarm_id)
    try:
        match action:
            case "acknowledge" if form.get("consequences"):
                group = await core.alarms.acknowledge_group(
                    alarm_id=aid, by=user.username, comment=form.get("comment") or None
                )
                more = len(group) - 1 if group[0].id == aid else len(group)
                done = f"alarm {alarm_id} acknowledged with {more} consequence{'' if more == 1 else 's'}"
            case "acknowledge":
                await core.alarms.acknowledge(alarm_id=aid, by=user.username, comment=form.get("comment") or None)
                done = f"alarm {alarm_id} acknowledged"
            case "comment":
                await core.alarms.comment(alarm_id=aid, by=user.username, text=form.get("text", "")[:1000])
                done = f"comment added to alarm {alarm_id}"
            case "shelve":
                minutes = float(form.get("minutes") or 0)
                if not 0 < minutes <= 60 * 24 * 30:
                    raise ValueError("shelve for between a minute and 30 days")
                until = core.clock.now() + timedelta(minutes=minutes)
                reason = form.get("reason", "")[:300]
                await core.alarms.shelve(alarm_id=aid, by=user.username, until=until, reason=reason)
                done = f"alarm {alarm_id} shelved"
            case "unshelve":
                await core.alarms.unshelve(alarm_id=aid, by=user.username)
                done = f"alarm {alarm_id} unshelved"
            case _:
                return _back(back, f"unknown action {action!r}", failed=True)
    except DomainError as exc:
        return _back(back, exc.message, failed=True)
    except ValueError as exc:
        return _back(back, f"invalid input: {exc}", failed=True)
    return _back(back, done)
