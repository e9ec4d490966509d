"""The audit log, for admins: who changed what, and which commands were sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from evscada.api.deps import Admin, CoreDep
from evscada.api.params import Offset, Time
from evscada.api.schemas import AuditOut
from evscada.core.access.audit import AuditFilter

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditOut])
async def audit_log(
    *,
    core: CoreDep,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=255, description="a username, cli or system")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="an action or its prefix: token, token.block, command")
    ] = None,
    target_type: Annotated[str | None, Query(max_length=32, description="station, token, vehicle, site ...")] = None,
    target_id: Annotated[str | None, Query(max_length=255)] = None,
    since: Annotated[Time | None, Query(description="ISO 8601 with offset; from this time on")] = None,
    until: Annotated[Time | None, Query(description="before this time")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="text in the actor, action or target id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="rows per page, 1 to 1000")] = 100,
    offset: Offset = 0,
) -> list[AuditOut]:
    """Newest first."""
    where = AuditFilter(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        text=q,
    )
    return [AuditOut.of(entry) for entry in await core.audit.entries(where=where)]
