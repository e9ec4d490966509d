"""Liveness and readiness for load balancers and monitoring."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from evscada import __version__
from evscada.api.deps import Context
from evscada.api.schemas import HealthOut

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthOut)
async def health(context: Context) -> JSONResponse:
    """No authentication: 200 when the database answers, 503 when it does not."""
    try:
        await context.core.queries.database_latency()
        database = "ok"
    except Exception as exc:  # any database failure makes the node unready, and says why
        database = f"error: {type(exc).__name__}"
    body = HealthOut(
        status="ok" if database == "ok" else "degraded",
        database=database,
        stations_connected=sum(context.connected_by_version().values()),
        version=__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)
