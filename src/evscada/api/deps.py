"""Request dependencies: what the composition root gave the API, and the caller's identity and role."""

from __future__ import annotations

import asyncio
import hmac
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from evscada.bus import Bus
from evscada.core.access.users import Role, User, csrf_token
from evscada.core.energy.site_manager import SiteLoadManager
from evscada.core.notifications.deliveries import Delivery, DeliveryFilter
from evscada.core.notifications.on_call import OnCallNow
from evscada.core.services import Core
from evscada.integrations.bridge.backlog import BridgeHealth

_bearer = HTTPBearer(auto_error=False, description="an API key made with `evscada user key NAME`")


class Notifications(Protocol):
    """What the notification routes need of the notifier (integrations.notifications)."""

    async def deliveries(self, *, where: DeliveryFilter) -> list[Delivery]: ...

    def on_call(self) -> OnCallNow: ...

    async def send_test(
        self, *, recipient: str, channel: Literal["email", "webhook", "sms"] | None
    ) -> list[Delivery]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiContext:
    """Everything the routes use besides the request: built by the composition root, given to create_api once."""

    core: Core
    bus: Bus
    notifier: Notifications
    wake_webhooks: Callable[[], None]  # new webhook deliveries go out now rather than at the worker's next scan
    connected_by_version: Callable[[], Counter[str]]  # stations connected to this node, by OCPP version
    message_counts: Counter[tuple[str, str]]  # (OCPP version, action) -> calls received on this node
    handshake_refusals: Counter[str]  # reason -> OCPP handshakes refused on this node (unknown_station ...)
    upstream_counts: Counter[str] = field(default_factory=Counter)  # OCPP proxy: forwarded, held, dropped ...
    export_settle_seconds: float
    storage_fault: Callable[[], str | None]  # why the database fails now (a full disk ...); None when it works
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # set when the server stops: live streams end
    load_manager: SiteLoadManager | None = None  # site load management, when it runs in this process
    bridges: Callable[[], list[BridgeHealth]] = list  # the MQTT / OPC UA bridges switched on in this process
    iec104_points: Callable[[], list[dict[str, Any]]] | None = None  # the IEC 104 address map, when the server runs
    cluster: Callable[[], dict[str, Any]] | None = None  # this node, its role, the leader, Redis: in a cluster only


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.api  # placed by create_api, nowhere else
    return context


Context = Annotated[ApiContext, Depends(get_context)]


def get_core(context: Context) -> Core:
    return context.core


CoreDep = Annotated[Core, Depends(get_core)]


# The web console's log-in: a browser session cookie, accepted wherever an API key is.
SESSION_COOKIE = "evscada_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def cookie_user(request: Request, core: Core) -> User | None:
    """The user of the request's session cookie; unsafe methods must also carry the session's CSRF token."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    user = await core.logins.session_user(token)
    if user is None:
        return None
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, csrf_token(token)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"a logged-in browser must send the {CSRF_HEADER} header")
    return user


async def current_user(
    request: Request, core: CoreDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    if credentials is None and (user_of_cookie := await cookie_user(request, core)) is not None:
        return user_of_cookie
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API key is required: Authorization: Bearer evs_...",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = await core.access.authenticate_key(credentials.credentials)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


def role(needed: Role):  # type: ignore[no-untyped-def]
    async def check(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.role.allows(needed):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {needed} role; you are {user.role}")
        return user

    return check


Viewer = Annotated[User, Depends(role(Role.VIEWER))]
Operator = Annotated[User, Depends(role(Role.OPERATOR))]
Admin = Annotated[User, Depends(role(Role.ADMIN))]
