"""The FastAPI application: routes under /api/v1, domain errors turned into HTTP statuses."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from evscada import __version__
from evscada.api.deps import ApiContext
from evscada.api.params import refuse_nul, refuse_nul_outside_body
from evscada.api.routes import (
    alarms,
    audit,
    certificates,
    charging_profiles,
    commands,
    device_model,
    events,
    files,
    firmware,
    health,
    local_lists,
    metrics,
    reservations,
    stations,
    tokens,
    transactions,
)
from evscada.api.routes import feeders as feeder_routes
from evscada.api.routes import historian as historian_routes
from evscada.api.routes import iec104 as iec104_routes
from evscada.api.routes import notifications as notification_routes
from evscada.api.routes import reports as report_routes
from evscada.api.routes import site_limits as site_limit_routes
from evscada.api.routes import sites as site_routes
from evscada.api.routes import upstream as upstream_routes
from evscada.api.routes import users as user_routes
from evscada.api.routes import vehicles as vehicle_routes
from evscada.api.routes import webhooks as webhook_routes
from evscada.core.errors import DomainError, ErrorCategory

ROUTERS = tuple(
    module.router
    for module in (
        health,
        stations,
        transactions,
        tokens,
        commands,
        events,
        historian_routes,
        webhook_routes,
        notification_routes,
        alarms,
        local_lists,
        reservations,
        charging_profiles,
        device_model,
        site_routes,
        site_limit_routes,
        feeder_routes,
        vehicle_routes,
        user_routes,
        audit,
        files,
        report_routes,
        firmware,
        certificates,
        upstream_routes,
        iec104_routes,
    )
)

# Swagger UI ships in the package (see console/static/vendor/VERSIONS): FastAPI's default loads it from a CDN, which
# leaves /api/docs blank on a site without internet.
SWAGGER_UI = Path(__file__).resolve().parent / "static" / "swagger-ui"
SWAGGER_UI_URL = "/api/static/swagger-ui"

# What each kind of domain error means to an HTTP client. The command routes answer a station that is offline, slow
# or answering an error themselves (409, 504, 502), from the command's outcome.
STATUS_OF: dict[ErrorCategory, int] = {
    ErrorCategory.NOT_FOUND: 404,
    ErrorCategory.CONFLICT: 409,
    ErrorCategory.INVALID: 422,
    ErrorCategory.CREDENTIALS: 422,  # what an operator set, e.g. security profile 1 without a password
    ErrorCategory.UNAUTHENTICATED: 401,
    ErrorCategory.THROTTLED: 429,
    ErrorCategory.UNSUPPORTED: 400,
    ErrorCategory.UNAVAILABLE: 400,
    ErrorCategory.STATION_ERROR: 400,
}


def create_monitoring(context: ApiContext) -> FastAPI:
    """A gateway process's HTTP in a cluster: /api/v1/health and /metrics only, for the load balancer and
    Prometheus; the API and console are the api processes' (ADR 12)."""
    monitoring = FastAPI(title="evscada gateway", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    monitoring.state.api = context  # read by deps.get_context only
    monitoring.include_router(health.router, prefix="/api/v1")
    monitoring.include_router(metrics.router)
    return monitoring


def create_api(context: ApiContext) -> FastAPI:
    """The REST API under /api/v1 and /metrics; the composition root may mount more (the console) on it."""
    api = FastAPI(
        title="evscada",
        version=__version__,
        description="Charging stations, their transactions and remote control. Authenticate with an API key "
        "(`evscada user key NAME`) as `Authorization: Bearer evs_...`.",
        docs_url=None,  # served below, from the package
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    api.state.api = context  # read by deps.get_context only
    api.mount(SWAGGER_UI_URL, StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @api.get("/api/docs", include_in_schema=False)
    async def api_docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy that serves us under a prefix
        return get_swagger_ui_html(
            openapi_url=f"{root}{api.openapi_url}",
            title=f"{api.title} - Swagger UI",
            swagger_js_url=f"{root}{SWAGGER_UI_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER_UI_URL}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge asking validator.swagger.io
        )

    for router in ROUTERS:
        api.include_router(router, prefix="/api/v1", dependencies=[Depends(refuse_nul)])
    api.include_router(metrics.router)  # /metrics, where Prometheus looks by default
    # Streamed uploads and stations' downloads: refuse_nul would read the whole body, so only path and query are
    # checked. Stations' uploads and downloads carry their token as the credential.
    outside_body = [Depends(refuse_nul_outside_body)]
    api.include_router(files.upload_router, dependencies=outside_body)
    api.include_router(firmware.image_router, prefix="/api/v1", dependencies=outside_body)
    api.include_router(firmware.download_router, dependencies=outside_body)

    @api.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        body = {"detail": exc.message, "code": exc.code}
        if exc.field is not None:
            body["field"] = exc.field
        return JSONResponse(body, status_code=STATUS_OF[exc.category])

    return api
