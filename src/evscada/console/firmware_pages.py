"""Firmware and station files in the console: images, campaigns with their progress and each station's state,
start/halt/resume/abort for operators; station files listed, filtered, paged, downloaded and deleted. The pages call
the core as the API does (its campaign body and checks are reused)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from evscada.api.deps import CoreDep
from evscada.api.routes.firmware import CampaignBody, plan_of
from evscada.console.paging import PAGE_SIZES, counted, read_paging
from evscada.console.web import PageUser, need, page_of, read_form, render
from evscada.core.access.users import Role
from evscada.core.errors import DomainError
from evscada.core.files.service import FileKind
from evscada.core.firmware.model import CampaignStatus, TargetState
from evscada.core.model import StationId

router = APIRouter(include_in_schema=False)

RECENT_UPDATES = 25
STATION_UPDATES = 20
STATE_ORDER = list(TargetState)


def _back(path: str, message: str, *, failed: bool = False) -> RedirectResponse:
    query = urlencode({"message": message, **({"failed": "1"} if failed else {})})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def _flash(request: Request) -> dict[str, Any]:
    return {"message": request.query_params.get("message"), "failed": request.query_params.get("failed") == "1"}


def human_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"


@router.get("/firmware", response_class=HTMLResponse)
async def firmware_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    images = await core.firmware.images()
    campaigns = await core.firmware_campaigns.campaigns()
    updates, _ = await core.firmware.updates(limit=RECENT_UPDATES)
    return render(
        request,
        "firmware.html",
        user,
        images=images,
        image_names={i.id: f"{i.name} {i.version}" for i in images},
        campaigns=campaigns,
        updates=updates,
        sites=await core.sites.list(),
        states=STATE_ORDER,
        human_size=human_size,
        **_flash(request),
    )


@router.post("/firmware/images/{image_id}/delete")
async def delete_image(image_id: int, request: Request, core: CoreDep, user: PageUser) -> RedirectResponse:
    await read_form(request, user)
    need(user, Role.OPERATOR)
    try:
        image = await core.firmware.delete_image(image_id, actor=user.username)
    except DomainError as exc:
        return _back("/firmware", exc.message, failed=True)
    return _back("/firmware", f"image {image.name} {image.version} deleted")


def _campaign_body(form: dict[str, str]) -> CampaignBody:
    """The form as the API's body: the same rules and the same messages."""

    def number(name: str) -> str | None:
        return form.get(name, "").strip() or None

    window = None
    if form.get("window_start") or form.get("window_end"):
        window = {"start": form.get("window_start", ""), "end": form.get("window_end", "")}
    station_ids = [s for s in form.get("station_ids", "").replace(",", " ").split() if s]
    return CampaignBody.model_validate(
        {
            "name": form.get("name", "").strip(),
            "image_id": form.get("image_id", ""),
            "target": {
                "site_id": number("site_id"),
                "model": number("model"),
                "firmware_version": number("firmware_version"),
                "station_ids": station_ids,
            },
            "pilot_size": number("pilot_size") or 1,
            "batch_size": number("batch_size") or 10,
            "maintenance_window": window,
            "max_failures": number("max_failures"),
            "max_failure_percent": number("max_failure_percent"),
            "signed": form.get("signed") == "on",
        }
    )


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"] if p not in ("body",))
        parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts).replace("Value error, ", "")


@router.post("/firmware/campaigns")
async def create_campaign(request: Request, core: CoreDep, user: PageUser) -> RedirectResponse:
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    try:
        body = _campaign_body(form)
        campaign = await core.firmware_campaigns.create(plan=plan_of(body), actor=user.username)
    except ValidationError as exc:
        return _back("/firmware", _problems(exc), failed=True)
    except DomainError as exc:
        return _back("/firmware", exc.message, failed=True)
    return _back(f"/firmware/campaigns/{campaign.id}", f"campaign made with {campaign.total} stations: start it here")


@router.get("/firmware/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign_page(campaign_id: int, request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    with page_of(user):
        campaign = await core.firmware_campaigns.campaign(campaign_id)
        targets = await core.firmware_campaigns.targets(campaign_id)
    images = {i.id: i for i in await core.firmware.images()}
    image = images.get(campaign.plan.image_id)  # None: deleted since
    return render(
        request,
        "firmware_campaign.html",
        user,
        campaign=campaign,
        targets=targets,
        image=image,
        states=STATE_ORDER,
        in_window=core.firmware_campaigns.in_window(campaign),
        zone=str(core.firmware_campaigns.zone),
        statuses=CampaignStatus,
        **_flash(request),
    )


@router.post("/firmware/campaigns/{campaign_id}/{action}")
async def campaign_action(
    campaign_id: int, action: str, request: Request, core: CoreDep, user: PageUser
) -> RedirectResponse:
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    here = f"/firmware/campaigns/{campaign_id}"
    service = core.firmware_campaigns
    try:
        if action == "start":
            await service.start(campaign_id, actor=user.username)
        elif action == "halt":
            await service.halt(campaign_id, actor=user.username)
        elif action == "resume":
            await service.resume(campaign_id, actor=user.username, retry_failed=form.get("retry_failed") == "on")
        elif action == "abort":
            await service.abort(campaign_id, actor=user.username)
        else:
            return _back(here, f"unknown action {action!r}: start, halt, resume or abort", failed=True)
    except DomainError as exc:
        return _back(here, exc.message, failed=True)
    done = {"start": "started", "halt": "halted", "resume": "resumed", "abort": "aborted"}[action]
    return _back(here, f"campaign {done}")


@router.get("/firmware/stations/{station_id}", response_class=HTMLResponse)
async def station_firmware_page(station_id: str, request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    """One station's firmware: the version it booted with and its updates, each with every status it reported."""
    with page_of(user):
        view = await core.queries.station(station_id=StationId(station_id))
    listed, total = await core.firmware.updates(station_id=StationId(station_id), limit=STATION_UPDATES)
    updates = [await core.firmware.update(u.id) for u in listed]  # with their histories
    return render(
        request, "firmware_station.html", user, station=view.station, updates=updates, total=total, **_flash(request)
    )


# Station files


@router.get("/files", response_class=HTMLResponse)
async def files_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    paging, problems = read_paging(request, "/files", "station", "kind")
    kind: FileKind | None = None
    if paging.filters["kind"]:
        try:
            kind = FileKind(paging.filters["kind"])
        except ValueError:
            problems.append(f"kind is one of {', '.join(FileKind)}; showing every kind")
    station = paging.filters["station"] or None
    page = await core.files.files(
        station_id=StationId(station) if station else None, kind=kind, limit=paging.limit, offset=paging.offset
    )
    paging = counted(paging, page.total, len(page.files))
    flash = _flash(request)
    if problems:
        flash = {"message": "; ".join(problems), "failed": True}
    return render(
        request,
        "files.html",
        user,
        files=page.files,
        paging=paging,
        kinds=list(FileKind),
        page_sizes=PAGE_SIZES,
        human_size=human_size,
        **flash,
    )


@router.post("/files/{file_id}/delete")
async def delete_file(file_id: int, request: Request, core: CoreDep, user: PageUser) -> RedirectResponse:
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    back = form.get("back", "/files")
    back = back if back.startswith("/files") else "/files"
    try:
        deleted = await core.files.delete(file_id, actor=user.username)
    except DomainError as exc:
        return _back("/files", exc.message, failed=True)
    separator = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{separator}{urlencode({'message': f'{deleted.filename} deleted'})}", 303)
