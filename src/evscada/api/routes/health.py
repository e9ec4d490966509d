"""Liveness and readiness for load balancers and monitoring."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from evscada import __version__
from evscada.api.deps import Context
from evscada.api.schemas import BridgeHealthOut, HealthOut, HealthStatus

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
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
    body = HealthOut(
        status=status,
        database=database,
        stations_connected=sum(context.connected_by_version().values()),
        version=__version__,
        bridges=[
            BridgeHealthOut(name=b.name, state=b.state, detail=b.detail, queued=b.queued, dropped=b.dropped)
            for b in context.bridges()
        ],
    )
    return JSONResponse(body.model_dump(), status_code=200 if status == "ok" else 503)
