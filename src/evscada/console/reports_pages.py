"""KPI reports in the console: the reports kept (scheduled and on demand), a preview of one (its summary and key
tables), downloads, and "make one now" for operators. The pages call the core as the API does."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from evscada.api.deps import CoreDep
from evscada.api.routes.reports import ReportRequest, requested_period
from evscada.console.firmware_pages import human_size
from evscada.console.paging import counted, read_paging
from evscada.console.web import PageUser, need, page_of, read_form, render
from evscada.core.access.users import Role
from evscada.core.errors import DomainError
from evscada.core.reports.figures import WEEKDAYS
from evscada.core.reports.periods import ReportKind
from evscada.core.reports.service import Trigger
from evscada.core.reports.settings import WEEKDAY_NAMES

router = APIRouter(include_in_schema=False)


def _back(path: str, message: str, *, failed: bool = False) -> RedirectResponse:
    query = urlencode({"message": message, **({"failed": "1"} if failed else {})})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def _flash(request: Request) -> dict[str, Any]:
    return {"message": request.query_params.get("message"), "failed": request.query_params.get("failed") == "1"}


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    paging, problems = read_paging(request, "/reports")
    items, total = await core.reports.list(limit=paging.limit, offset=paging.offset)
    config = core.reports.config
    return render(
        request,
        "reports.html",
        user,
        reports=items,
        paging=counted(paging, total, len(items)),
        problems=problems,
        human_size=human_size,
        sites=await core.sites.list(),
        groups=sorted(config.station_groups),
        schedule=config.schedule,
        scopes=config.scopes,
        weekdays=WEEKDAY_NAMES,
        today=core.clock.now().astimezone(core.reports.zone).date(),
        **_flash(request),
    )


def _request_of(form: dict[str, str]) -> ReportRequest:
    kind = form.get("kind", "weekly")
    values: dict[str, Any] = {"kind": kind, "scope": form.get("scope", "fleet") or "fleet"}
    if kind == ReportKind.CUSTOM:
        values["start"] = form.get("start") or None
        values["end"] = form.get("end") or None
    else:
        values["day"] = form.get("day") or None
    return ReportRequest.model_validate(values)


@router.post("/reports")
async def make_report(request: Request, core: CoreDep, user: PageUser) -> RedirectResponse:
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    reports = core.reports
    try:
        body = _request_of(_with_zone(form, reports.zone.key))
        scope = reports.scope(body.scope)
        period = requested_period(reports, body, core.clock.now())
        if period.start >= core.clock.now():
            return _back("/reports", "that period has not started yet; pick an earlier day", failed=True)
        report = await reports.make(period=period, scope=scope, trigger=Trigger.ON_DEMAND, requested_by=user.username)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).replace("Value error, ", "") for e in exc.errors())
        return _back("/reports", problems, failed=True)
    except DomainError as exc:
        return _back("/reports", exc.message, failed=True)
    return _back(f"/reports/{report.id}", "report made")


def _with_zone(form: dict[str, str], zone: str) -> dict[str, str]:
    """datetime-local inputs carry no offset: they are the operator's clock, so give them its zone."""
    out = dict(form)
    for name in ("start", "end"):
        text = form.get(name, "").strip()
        if text:
            with contextlib.suppress(ValueError):  # left as typed: the model says what is wrong with it
                out[name] = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).isoformat()
    return out


@router.get("/reports/{report_id}", response_class=HTMLResponse)
async def report_page(report_id: int, request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    with page_of(user):
        report = await core.reports.get(report_id=report_id)
    figures = report.summary
    grid = figures["energy"]["heat_map"]
    peak = max((v for row in grid for v in row), default=0.0) or 1.0
    return render(
        request,
        "reports_detail.html",
        user,
        report=report,
        f=figures,
        heat=[(WEEKDAYS[d], [(v, v / peak) for v in grid[d]]) for d in range(7)],
        top_stations=sorted(figures["energy"]["by_station"].items(), key=lambda kv: -kv[1])[:10],
        human_size=human_size,
        **_flash(request),
    )
