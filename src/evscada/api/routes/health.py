"""Liveness and readiness for load balancers and monitoring."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from evscada import __version__
from evscada.api.deps import Context
from evscada.api.schemas import BridgeHealthOut, HealthOut, HealthStatus

router = APIRouter(tags=["operations"])
PROXY_LIST_LIMIT = 20  # links not connected listed by name; the totals count them all


class UpstreamLinkOut(BaseModel):
    station_id: str
    url: str
    since: datetime | None = Field(description="when it lost its upstream connection (or started without one)")
    held: int = Field(description="transaction messages in the buffer, waiting for upstream")
    last_error: str | None


class UpstreamHealthOut(BaseModel):
    """The OCPP proxy's links in this process (one per connected station that has an upstream CSMS)."""

    links: int
    connected: int
    held: int = Field(description="messages in the buffer over these links")
    dropped: int = Field(description="messages dropped since start because a station's buffer was full")
    discarded: int = Field(
        0, description="held messages discarded since start because their station's upstream changed or was removed"
    )
    not_connected: list[UpstreamLinkOut] = Field(description=f"the first {PROXY_LIST_LIMIT} by station id")


class HealthWithProxyOut(HealthOut):
    upstream: UpstreamHealthOut | None = Field(None, description="OCPP proxy; absent when no link runs here")


@router.get("/health", response_model=HealthWithProxyOut, responses={503: {"model": HealthWithProxyOut}})
async def health(context: Context) -> JSONResponse:
    """No authentication: 200 when the database answers and takes writes; 503 says which fails, and why.

    A small read succeeds on a full disk, so the writes are judged by what the last ones did: "degraded" while
    they fail (reads still answer), "failing" when the database does not answer at all."""
    status: HealthStatus
    try:
        await context.core.queries.database_latency()
    except Exception as exc:  # any database failure makes the node unready, and says why
        first_line = str(exc).partition("\n")[0][:300]
        status, database = "failing", f"error: {type(exc).__name__}: {first_line}"
    else:
        fault = context.storage_fault()
        status, database = ("ok", "ok") if fault is None else ("degraded", f"writes fail: {fault}")
    proxy = context.core.upstream.health(list_limit=PROXY_LIST_LIMIT)  # the proxy's trouble never fails health
    body = HealthWithProxyOut(
        status=status,
        database=database,
        stations_connected=sum(context.connected_by_version().values()),
        version=__version__,
        bridges=[
            BridgeHealthOut(name=b.name, state=b.state, detail=b.detail, queued=b.queued, dropped=b.dropped)
            for b in context.bridges()
        ],
        upstream=UpstreamHealthOut.model_validate(proxy) if proxy["links"] else None,
        cluster=context.cluster() if context.cluster is not None else None,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if status == "ok" else 503)
