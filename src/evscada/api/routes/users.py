"""Users, their roles and API keys: the admin's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from evscada.api.deps import SESSION_COOKIE, Admin, CoreDep
from evscada.api.params import Id
from evscada.api.schemas import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut, PasswordIn, UserIn, UserOut, UserPatch
from evscada.core.access.users import Role

router = APIRouter(tags=["users"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "unknown user (or key)"}}


@router.get("/users", response_model=list[UserOut])
async def list_users(core: CoreDep, _: Admin) -> list[UserOut]:
    return [UserOut.of(user) for user in await core.access.users()]


@router.get("/users/{username}", response_model=UserOut, responses=_NOT_FOUND)
async def get_user(username: str, core: CoreDep, _: Admin) -> UserOut:
    return UserOut.of(await core.access.user(username=username))


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "the username is taken"}},
)
async def create_user(body: UserIn, core: CoreDep, admin: Admin) -> UserOut:
    user = await core.access.add_user(
        username=body.username, role=Role(body.role), password=body.password, actor=admin.username
    )
    return UserOut.of(user)


@router.patch(
    "/users/{username}",
    response_model=UserOut,
    responses={**_NOT_FOUND, 409: {"description": "it would leave no enabled admin"}},
)
async def change_user(username: str, body: UserPatch, core: CoreDep, admin: Admin) -> UserOut:
    """Change the role, or disable (every request refused with 401) / enable the user; a new role or disabling
    ends the user's console sessions. API keys stay; they act with the new role (a disabled user's get 401)."""
    user = await core.access.change_user(
        username=username,
        role=Role(body.role) if body.role else None,
        disabled=body.disabled,
        actor=admin.username,
    )
    return UserOut.of(user)


@router.put(
    "/users/{username}/password", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_NOT_FOUND
)
async def reset_password(username: str, body: PasswordIn, request: Request, core: CoreDep, admin: Admin) -> Response:
    """Set a new password (stored as an argon2 hash; the audit log records only that it changed). The user's console
    sessions end, except the caller's own when they change their own password; API keys stay (revoke them apart)."""
    own = request.cookies.get(SESSION_COOKIE) if admin.username == username else None
    await core.access.change_user(username=username, password=body.password, actor=admin.username, keep_session=own)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{username}/keys", response_model=list[ApiKeyOut], responses=_NOT_FOUND)
async def list_keys(username: str, core: CoreDep, _: Admin) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(key) for key in await core.access.keys(username=username)]


@router.post(
    "/users/{username}/keys",
    response_model=ApiKeyCreatedOut,
    status_code=status.HTTP_201_CREATED,
    responses=_NOT_FOUND,
)
async def create_key(username: str, body: ApiKeyIn, core: CoreDep, admin: Admin) -> ApiKeyCreatedOut:
    """A new key for the user; `key` is shown in this answer only."""
    stored, key = await core.access.issue_api_key(username=username, name=body.name, actor=admin.username)
    return ApiKeyCreatedOut(**ApiKeyOut.of(stored).model_dump(), key=key)


@router.post("/users/{username}/keys/{key_id}/revoke", response_model=ApiKeyOut, responses=_NOT_FOUND)
async def revoke_key(username: str, key_id: Id, core: CoreDep, admin: Admin) -> ApiKeyOut:
    """From now on the key gets 401; it stays listed with the time it was revoked."""
    return ApiKeyOut.of(await core.access.revoke_key(username=username, key_id=key_id, actor=admin.username))
