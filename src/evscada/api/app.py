"""The FastAPI application: routes under /api/v1, domain errors turned into HTTP statuses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from evscada import __version__
from evscada.api.routes import (
    alarms,
    audit,
    commands,
    device_model,
    events,
    health,
    local_lists,
    metrics,
    reservations,
    stations,
    tokens,
    transactions,
)
from evscada.api.routes import historian as historian_routes
from evscada.api.routes import notifications as notification_routes
from evscada.api.routes import sites as site_routes
from evscada.api.routes import users as user_routes
from evscada.api.routes import vehicles as vehicle_routes
from evscada.api.routes import webhooks as webhook_routes
from evscada.bus.local import LocalBus
from evscada.core.access.sites import SiteExists, UnknownSite
from evscada.core.access.users import LastAdmin, LoginFailed, UnknownApiKey, UnknownUser, UserExists
from evscada.core.access.vehicles import UnknownToken, UnknownVehicle, VehicleExists
from evscada.core.alarms.service import AlarmConflict, UnknownAlarm
from evscada.core.charging.queries import InvalidCursor, NotFound
from evscada.core.charging.reservations import ReservationNotActive, UnknownReservation
from evscada.core.errors import AuthenticationFailed, DomainError, InvalidArgument, StationExists, UnknownStation
from evscada.core.notifications.deliveries import UnknownRecipient
from evscada.core.notifications.webhooks import UnknownDelivery, UnknownSubscription
from evscada.core.services import Core
from evscada.core.stations.service import StationConnected

if TYPE_CHECKING:
    from evscada.console.app import Frames
    from evscada.console.config import ConsoleSettings

_STATUS = {
    NotFound.code: 404,
    UnknownStation.code: 404,
    InvalidCursor.code: 422,
    InvalidArgument.code: 422,
    AuthenticationFailed.code: 422,  # e.g. profile 1 without a password
    StationExists.code: 409,
    StationConnected.code: 409,
    UnknownSite.code: 404,
    UnknownVehicle.code: 404,
    UnknownToken.code: 404,
    SiteExists.code: 409,
    LoginFailed.code: 401,
    VehicleExists.code: 409,
    UnknownSubscription.code: 404,
    UnknownDelivery.code: 404,
    UnknownRecipient.code: 404,
    UnknownAlarm.code: 404,
    AlarmConflict.code: 409,
    UnknownReservation.code: 404,
    ReservationNotActive.code: 409,
    UserExists.code: 409,
    UnknownUser.code: 404,
    UnknownApiKey.code: 404,
    LastAdmin.code: 409,
}


def create_api(
    *,
    core: Core,
    bus: LocalBus,
    connected_by_version: Callable[[], Counter[str]],
    message_counts: Counter[tuple[str, str]],
    export_settle_seconds: float = 2.0,
    console: ConsoleSettings | None = None,
    station_frames: Frames | None = None,
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
    api.state.bus = bus
    api.state.connected_by_version = connected_by_version
    api.state.message_counts = message_counts
    api.state.export_settle_seconds = export_settle_seconds
    for module in (health, stations, transactions, tokens, commands, events):
        api.include_router(module.router, prefix="/api/v1")
    api.include_router(historian_routes.router, prefix="/api/v1")
    api.include_router(webhook_routes.router, prefix="/api/v1")
    api.include_router(notification_routes.router, prefix="/api/v1")
    api.include_router(alarms.router, prefix="/api/v1")
    for module in (local_lists, reservations, device_model, site_routes, vehicle_routes, user_routes, audit):
        api.include_router(module.router, prefix="/api/v1")
    api.include_router(metrics.router)  # /metrics, where Prometheus looks by default
    if console is not None and console.enabled:  # the web console: pages on /, after /api and /metrics
        from evscada.console.app import mount_console

        mount_console(api, console, station_frames)

    @api.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "code": exc.code}, status_code=_STATUS.get(exc.code, 400))

    return api
