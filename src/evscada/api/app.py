"""The FastAPI application: routes under /api/v1, domain errors turned into HTTP statuses."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from evscada import __version__
from evscada.api.routes import commands, events, health, stations, transactions
from evscada.bus.local import LocalBus
from evscada.core.errors import DomainError
from evscada.core.queries import InvalidCursor, NotFound
from evscada.core.services import Core
from evscada.storage.db import Database

_STATUS = {NotFound.code: 404, InvalidCursor.code: 422}


def create_api(
    *,
    core: Core,
    database: Database,
    bus: LocalBus,
    connected_count: Callable[[], int],
    export_settle_seconds: float = 2.0,
) -> FastAPI:
    api = FastAPI(
        title="evscada",
        version=__version__,
        description="Charging stations, their transactions and remote control. Authenticate with an API key "
        "(`evscada user key NAME`) as `Authorization: Bearer evs_...`.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    api.state.core = core
    api.state.database = database
    api.state.bus = bus
    api.state.connected_count = connected_count
    api.state.export_settle_seconds = export_settle_seconds
    for module in (health, stations, transactions, commands, events):
        api.include_router(module.router, prefix="/api/v1")

    @api.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "code": exc.code}, status_code=_STATUS.get(exc.code, 400))

    return api
