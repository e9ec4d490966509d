"""Mount the console on the API's FastAPI app: pages at /, static files at /static/console."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from evscada.console import alarms, auth, manage, station_ops, station_tokens, stations, transactions, trends
from evscada.console.config import ConsoleSettings
from evscada.console.web import HERE, LoginRequired, PageNotFound, login_url, render
from evscada.core.model import StationId

Frames = Callable[[StationId], list[tuple[float, str, str]]]


def mount_console(api: FastAPI, settings: ConsoleSettings, station_frames: Frames | None = None) -> None:
    api.state.console = settings
    api.state.station_frames = station_frames
    api.mount("/static/console", StaticFiles(directory=HERE / "static"), name="console-static")
    for module in (auth, stations, trends, transactions, manage, alarms, station_ops, station_tokens):
        api.include_router(module.router)

    @api.exception_handler(PageNotFound)
    async def page_not_found(request: Request, exc: PageNotFound) -> HTMLResponse:
        return render(request, "missing.html", exc.user, 404, message=exc.message)

    @api.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(login_url(exc.next_url), status_code=303)
