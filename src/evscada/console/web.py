"""What every console page shares: templates, the logged-in user, CSRF for forms, rendering."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from evscada.api.deps import SESSION_COOKIE, CoreDep
from evscada.console.config import ConsoleSettings
from evscada.core.access.users import Role, User, csrf_token
from evscada.core.errors import NotFound
from evscada.core.model import StationId

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

MAX_FORM_BYTES = 64 * 1024

Frames = Callable[[StationId], Awaitable[list[tuple[float, str, str]]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleContext:
    """What the pages use besides the core (theirs through the API's dependencies): given to mount_console once."""

    settings: ConsoleSettings
    station_frames: Frames  # a station's recent OCPP frames (time, direction, text) wherever it is connected


class LoginRequired(Exception):
    """A page asked for without a live session: the browser goes to the log-in page and comes back."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageNotFound(Exception):
    """An unknown station or transaction asked for as a page: a readable page, not the API's JSON."""

    def __init__(self, user: User, message: str) -> None:
        super().__init__(message)
        self.user = user
        self.message = message


@contextlib.contextmanager
def page_of(user: User) -> Iterator[None]:
    """Turn the core's NotFound into a 404 page."""
    try:
        yield
    except NotFound as exc:
        raise PageNotFound(user, exc.message) from None


def console_of(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console  # placed by mount_console, nowhere else
    return context


Console = Annotated[ConsoleContext, Depends(console_of)]


async def page_user(request: Request, core: CoreDep) -> User:
    token = request.cookies.get(SESSION_COOKIE)
    user = await core.logins.session_user(token) if token else None
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return user


PageUser = Annotated[User, Depends(page_user)]


def need(user: User, role: Role) -> None:
    """Refuse, whatever the page showed: the server decides who may act."""
    if not user.role.allows(role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role; you are {user.role}")


async def read_form(request: Request, user: User | None = None) -> dict[str, str]:
    """An urlencoded form's fields; for a logged-in user the form must carry the session's CSRF token."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "form too large")
    try:
        fields = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the form is not UTF-8") from None
    if user is not None:
        token = request.cookies.get(SESSION_COOKIE, "")
        if not hmac.compare_digest(fields.get("csrf", ""), csrf_token(token)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the form is stale or from elsewhere; reload the page")
    return fields


def safe_next(target: str | None) -> str:
    """Only paths on this site: a log-in link must not send anyone elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/overview"
    return target


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='')}"


def render(request: Request, template: str, user: User | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    return templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf": csrf_token(token) if user is not None and token else "",
            "can_operate": user is not None and user.role.allows(Role.OPERATOR),
            "is_admin": user is not None and user.role.allows(Role.ADMIN),
            "settings": console_of(request).settings,
            "now": datetime.now(UTC),
            **context,
        },
        status_code=status_code,
    )


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago': how operators read times on a status screen."""
    if moment is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} d ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def fmt_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def kw(watts: float | None) -> str:
    return "" if watts is None else f"{watts / 1000:.1f} kW"


def kwh(wh: float | None) -> str:
    """An energy (a session's, a battery's): never below 0, rounded first so a hair below 0 shows 0.00, not -0.00."""
    return "" if wh is None else f"{max(0.0, round(wh / 1000, 2)) + 0.0:.2f} kWh"


templates.env.filters.update(ago=ago, duration=duration, time=fmt_time, kw=kw, kwh=kwh)
