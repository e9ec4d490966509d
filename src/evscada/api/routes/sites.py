"""Sites: the places stations stand, with their stations and how those are doing. Changes are the admin's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from evscada.api.deps import Admin, CoreDep, Viewer
from evscada.api.params import Id
from evscada.api.schemas import SiteDetailOut, SiteIn, SiteOut, SitePatch
from evscada.core.charging.queries import StationFilter
from evscada.core.model import Site, SiteId

router = APIRouter(tags=["sites"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "unknown site"}}


@router.get("/sites", response_model=list[SiteOut])
async def list_sites(core: CoreDep, _: Viewer) -> list[SiteOut]:
    return [SiteOut.of(site) for site in await core.sites.list()]


@router.get("/sites/{site_id}", response_model=SiteDetailOut, responses=_NOT_FOUND)
async def get_site(site_id: Id, core: CoreDep, _: Viewer) -> SiteDetailOut:
    """A site with its stations, and counts of stations online / by registration and of connectors by state."""
    site = await core.sites.get(site_id=SiteId(site_id))
    views = await core.queries.stations(where=StationFilter(site_id=site.id))
    return SiteDetailOut.with_stations(site, views)


@router.post(
    "/sites",
    response_model=SiteOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "a site with that name exists"}},
)
async def create_site(body: SiteIn, core: CoreDep, user: Admin) -> SiteOut:
    site = await core.sites.create(
        name=body.name,
        address=body.address,
        latitude=body.latitude,
        longitude=body.longitude,
        grid_capacity_w=body.grid_capacity_w,
        grid_capacity_a=body.grid_capacity_a,
        actor=user.username,
    )
    return SiteOut.of(site)


@router.patch("/sites/{site_id}", response_model=SiteOut, responses=_NOT_FOUND)
async def change_site(site_id: Id, body: SitePatch, core: CoreDep, user: Admin) -> SiteOut:
    """Fields left out keep their value; an explicit null clears one (not the name)."""
    current = await core.sites.get(site_id=SiteId(site_id))
    fields = body.merged(
        {
            "name": current.name,
            "address": current.address,
            "latitude": current.latitude,
            "longitude": current.longitude,
            "grid_capacity_w": current.grid_capacity_w,
            "grid_capacity_a": current.grid_capacity_a,
        }
    )
    return SiteOut.of(await core.sites.update(site=Site(id=current.id, **fields), actor=user.username))


@router.delete(
    "/sites/{site_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_NOT_FOUND
)
async def delete_site(site_id: Id, core: CoreDep, user: Admin) -> Response:
    """Its stations stay, without a site."""
    await core.sites.delete(site_id=SiteId(site_id), actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
