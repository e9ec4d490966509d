"""Request dependencies: the core, and the caller's identity and role."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from evscada.core.access.users import Role, User, csrf_token
from evscada.core.services import Core

_bearer = HTTPBearer(auto_error=False, description="an API key made with `evscada user key NAME`")


def get_core(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


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
