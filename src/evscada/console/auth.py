"""Log in and out: a password checked by the core opens a browser session held in an HttpOnly cookie."""

from __future__ import annotations

import math
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from evscada.api.deps import SESSION_COOKIE, CoreDep
from evscada.console.config import ConsoleSettings
from evscada.console.web import Console, read_form, render, safe_next
from evscada.core.errors import LoginFailed, LoginThrottled

router = APIRouter(include_in_schema=False)


def _secure(request: Request, settings: ConsoleSettings) -> bool:
    mode = settings.cookie_secure
    if mode != "auto":
        return mode == "always"
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return request.url.scheme == "https" or forwarded == "https"


def _same_origin(request: Request) -> bool:
    """A log-in form posted from another site (login CSRF) is refused; browsers send Origin on POST."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "").split(",")[0].strip()}
    return urlsplit(origin).netloc in hosts - {""}


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", None, next=safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, core: CoreDep, console: Console) -> Response:
    if not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "log in from this site's own page")
    form = await read_form(request)
    target = safe_next(form.get("next"))
    username, password = form.get("username", "").strip(), form.get("password", "")
    if not username or not password or len(username) > 100 or len(password) > 1000:
        return render(request, "login.html", None, 422, next=target, error="enter your username and password")
    try:
        token, _ = await core.logins.login(
            username=username,
            password=password,
            lifetime=timedelta(hours=console.settings.session_hours),
            address=request.client.host if request.client else "",
        )
    except LoginFailed as exc:
        return render(request, "login.html", None, 401, next=target, error=exc.message, username=username)
    except LoginThrottled as exc:
        refused = render(request, "login.html", None, 429, next=target, error=exc.message, username=username)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(1, math.ceil(console.settings.session_hours * 3600)),
        httponly=True,
        samesite="lax",
        secure=_secure(request, console.settings),
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, core: CoreDep) -> Response:
    # No CSRF token needed: the worst a forged log-out does is log someone out; SameSite=Lax blocks it anyway.
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await core.logins.logout(token)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
