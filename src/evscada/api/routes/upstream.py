"""The OCPP proxy's configuration: a third-party CSMS per station or per site (docs/operations.md, "OCPP proxy")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.params import Id
from evscada.core.model import SiteId, StationId
from evscada.core.services import Core
from evscada.core.upstream.service import Scope, UpstreamCsms, UpstreamMode

router = APIRouter(tags=["OCPP proxy"])


class UpstreamIn(BaseModel):
    """Where evscada connects as the station, and what it lets through. Applies at once to a connected station."""

    url: str = Field(max_length=500, description="ws:// or wss:// base URL; the station id is appended")
    mode: Literal["observe", "upstream_answers"] = "observe"
    station_id: str | None = Field(None, max_length=48, description="the station's id at upstream, if different")
    security_profile: int = Field(0, ge=0, le=3)
    password: str | None = Field(
        None, max_length=255, description="Basic Auth password at upstream; write-only (never returned), sealed at rest"
    )
    client_cert_file: str | None = Field(None, max_length=500, description="profile 3: PEM client certificate path")
    client_key_file: str | None = Field(None, max_length=500, description="profile 3: PEM private key path")
    ca_file: str | None = Field(
        None, max_length=500, description="wss: PEM CA bundle trusted for upstream's certificate besides the system's"
    )
    allowed_actions: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="upstream commands that may reach the station, e.g. RemoteStartTransaction; others are refused",
    )


class UpstreamOut(BaseModel):
    scope: Literal["station", "site"]
    target: str
    url: str
    mode: str
    station_id: str | None
    security_profile: int
    password_set: bool
    client_cert_file: str | None
    client_key_file: str | None
    ca_file: str | None
    allowed_actions: list[str]
    updated_at: datetime | None
    updated_by: str

    @classmethod
    def of(cls, c: UpstreamCsms) -> UpstreamOut:
        return cls(
            scope=c.scope.value,
            target=c.target,
            url=c.url,
            mode=c.mode.value,
            station_id=c.station_id,
            security_profile=c.security_profile,
            password_set=bool(c.password),
            client_cert_file=c.client_cert_file,
            client_key_file=c.client_key_file,
            ca_file=c.ca_file,
            allowed_actions=list(c.allowed_actions),
            updated_at=c.updated_at,
            updated_by=c.updated_by,
        )


def _config(scope: Scope, target: str, body: UpstreamIn) -> UpstreamCsms:
    for action in body.allowed_actions:
        if not action.isalnum() or len(action) > 50:
            raise HTTPException(
                422,
                f"allowed action {action!r} is not an OCPP action name (letters and digits, e.g. Reset)",
            )
    return UpstreamCsms(
        scope=scope,
        target=target,
        url=body.url,
        mode=UpstreamMode(body.mode),
        station_id=body.station_id,
        security_profile=body.security_profile,
        password=body.password,
        client_cert_file=body.client_cert_file,
        client_key_file=body.client_key_file,
        ca_file=body.ca_file,
        allowed_actions=tuple(dict.fromkeys(body.allowed_actions)),
    )


async def _read(core: Core, scope: Scope, target: str) -> UpstreamOut:
    config = await core.upstream.get(scope=scope, target=target)
    if config is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{scope} {target} has no upstream CSMS; PUT one first")
    return UpstreamOut.of(config)


@router.get("/stations/{station_id}/upstream", response_model=UpstreamOut, summary="a station's upstream CSMS")
async def get_station_upstream(station_id: str, core: CoreDep, user: Viewer) -> UpstreamOut:
    await core.queries.station(station_id=StationId(station_id))  # 404 for an unknown station
    return await _read(core, Scope.STATION, station_id)


@router.put("/stations/{station_id}/upstream", response_model=UpstreamOut, summary="set a station's upstream CSMS")
async def put_station_upstream(station_id: str, body: UpstreamIn, core: CoreDep, user: Operator) -> UpstreamOut:
    """Takes effect at once: a connected station's link to its old upstream is closed and one to this is opened."""
    await core.queries.station(station_id=StationId(station_id))
    stored = await core.upstream.configure(_config(Scope.STATION, station_id, body), actor=user.username)
    return UpstreamOut.of(stored)


@router.delete("/stations/{station_id}/upstream", status_code=204, summary="stop proxying a station")
async def delete_station_upstream(station_id: str, core: CoreDep, user: Operator) -> Response:
    if not await core.upstream.remove(scope=Scope.STATION, target=station_id, actor=user.username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} has no upstream CSMS")
    return Response(status_code=204)


@router.get("/sites/{site_id}/upstream", response_model=UpstreamOut, summary="a site's upstream CSMS")
async def get_site_upstream(site_id: Id, core: CoreDep, user: Viewer) -> UpstreamOut:
    await core.sites.get(site_id=SiteId(site_id))  # 404 for an unknown site
    return await _read(core, Scope.SITE, str(site_id))


@router.put("/sites/{site_id}/upstream", response_model=UpstreamOut, summary="set a site's upstream CSMS")
async def put_site_upstream(site_id: Id, body: UpstreamIn, core: CoreDep, user: Operator) -> UpstreamOut:
    """For every station of the site without one of its own; at once for those connected."""
    await core.sites.get(site_id=SiteId(site_id))
    stored = await core.upstream.configure(_config(Scope.SITE, str(site_id), body), actor=user.username)
    return UpstreamOut.of(stored)


@router.delete("/sites/{site_id}/upstream", status_code=204, summary="stop proxying a site's stations")
async def delete_site_upstream(site_id: Id, core: CoreDep, user: Operator) -> Response:
    if not await core.upstream.remove(scope=Scope.SITE, target=str(site_id), actor=user.username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} has no upstream CSMS")
    return Response(status_code=204)
