"""idTags / idTokens: who may charge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.params import Id, Offset, Time
from evscada.api.schemas import IdTokenType
from evscada.core.model import AuthorizationStatus, Token, VehicleId

router = APIRouter(tags=["tokens"])


class TokenIn(BaseModel):
    type: IdTokenType = "ISO14443"
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expires_at: Time | None = Field(None, description="ISO 8601 with offset; after it the token is Expired")
    group_id: str | None = Field(None, max_length=36, description="group / parent idTag")
    vehicle_id: Id | None = Field(
        None, description="the vehicle it charges; left out: the current link stays; null: no vehicle"
    )
    priority: int | None = Field(
        None,
        ge=0,
        le=100,
        description="load management priority of its sessions without a vehicle; left out: kept; null: none",
    )


class TokenOut(TokenIn):
    value: str
    type: str  # type: ignore[assignment]  # as stored: the CLI and the console take any
    expires_at: datetime | None = None  # as stored, whatever the input rule
    vehicle_id: int | None = None

    @classmethod
    def of(cls, token: Token) -> TokenOut:
        return cls(
            value=token.value,
            type=token.type,
            status=str(token.status),  # type: ignore[arg-type]
            expires_at=token.expires_at,
            group_id=token.group_id,
            vehicle_id=token.vehicle_id,
            priority=token.priority,
        )


Search = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="only rows containing this text (any case); not a pattern"),
]
"""A search box's text, as the token and vehicle lists take it."""
Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page, 1 to 1000")]
TOTAL_HEADER = "X-Total-Count"  # how many rows match the search: for "1-50 of 10,000" and the last page


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(
    core: CoreDep,
    _: Viewer,
    response: Response,
    q: Search = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[TokenOut]:
    """A page of tokens by value; `q` keeps those whose value or vehicle's name contains it. The X-Total-Count
    header says how many match."""
    response.headers[TOTAL_HEADER] = str(await core.authorization.count_tokens(search=q))
    return [TokenOut.of(token) for token in await core.authorization.tokens(limit=limit, offset=offset, search=q)]


@router.get("/tokens/{value}", response_model=TokenOut, responses={404: {"description": "unknown token"}})
async def get_token(value: str, core: CoreDep, _: Viewer) -> TokenOut:
    return TokenOut.of(await core.authorization.token(value=value))


@router.put("/tokens/{value}", response_model=TokenOut)
async def put_token(
    value: Annotated[str, Path(min_length=1, max_length=36)], body: TokenIn, core: CoreDep, user: Operator
) -> TokenOut:
    """Create or replace a token (idTag up to 36 characters, the 2.0.1 limit; 1.6 stations take 20)."""
    token = Token(
        value=value,
        type=body.type,
        status=AuthorizationStatus(body.status),
        expires_at=body.expires_at,
        group_id=body.group_id,
        vehicle_id=VehicleId(body.vehicle_id) if body.vehicle_id is not None else None,
        priority=body.priority,
    )
    saved = await core.authorization.save_token(
        token=token,
        actor=user.username,
        keep_vehicle="vehicle_id" not in body.model_fields_set,
        keep_priority="priority" not in body.model_fields_set,
    )
    return TokenOut.of(saved)


@router.post("/tokens/{value}/block", response_model=TokenOut)
async def block_token(value: str, core: CoreDep, user: Operator) -> TokenOut:
    """Stations answer Blocked from now on (stations with a local list learn it with the next list update)."""
    return TokenOut.of(
        await core.authorization.set_status(value=value, status=AuthorizationStatus.BLOCKED, actor=user.username)
    )


@router.post("/tokens/{value}/unblock", response_model=TokenOut)
async def unblock_token(value: str, core: CoreDep, user: Operator) -> TokenOut:
    return TokenOut.of(
        await core.authorization.set_status(value=value, status=AuthorizationStatus.ACCEPTED, actor=user.username)
    )


@router.delete("/tokens/{value}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_token(value: str, core: CoreDep, user: Operator) -> Response:
    await core.authorization.delete_token(value=value, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
