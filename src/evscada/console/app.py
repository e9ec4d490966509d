"""Mount the console on the API's FastAPI app: pages at /, static files at /static/console."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from evscada.console import (
    access_pages,
    alarms,
    auth,
    banner,
    dispatch,
    firmware_pages,
    overview,
    reports_pages,
    sites,
    station_ops,
    station_tokens,
    stations,
    transactions,
    trends,
)
from evscada.console.web import HERE, ConsoleContext, LoginRequired, PageNotFound, login_url, render


def mount_console(api: FastAPI, context: ConsoleContext) -> None:
    """The pages build on the API's log-in and core dependencies, so they go onto the app create_api made."""
    api.state.console = context  # read by web.console_of only
    api.mount("/static/console", StaticFiles(directory=HERE / "static"), name="console-static")
    pages = (auth, overview, stations, sites, trends, transactions, dispatch, access_pages, alarms, banner)
    for module in (*pages, firmware_pages, reports_pages, station_ops, station_tokens):
        api.include_router(module.router)

    @api.exception_handler(PageNotFound)
    async def page_not_found(request: Request, exc: PageNotFound) -> HTMLResponse:
        return render(request, "missing.html", exc.user, 404, message=exc.message)

    @api.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(login_url(exc.next_url), status_code=303)
