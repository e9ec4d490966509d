"""A site's feeders and transformers below its grid connection: their limits, load curves and nesting.

The layout is the admin's, as sites are; a feeder's load curve is the grid operator's interface, as the site's is.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from evscada.api.deps import Admin, Context, CoreDep, Operator, Viewer
from evscada.api.layout_schemas import FeederIn, FeederOut, FeederPatch
from evscada.api.params import Id
from evscada.api.routes.site_limits import CurveIn
from evscada.core.energy.grid import Limit, LimitPeriod
from evscada.core.model import SiteId

router = APIRouter(tags=["site load management"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "unknown site or feeder"}}


@router.get("/sites/{site_id}/feeders", response_model=list[FeederOut], responses=_NOT_FOUND)
async def list_feeders(site_id: Id, core: CoreDep, _: Viewer) -> list[FeederOut]:
    """The site's feeders, each naming the feeder above it (none: the grid connection)."""
    return [FeederOut.of(f) for f in await core.layout.feeders(site_id=SiteId(site_id))]


@router.post(
    "/sites/{site_id}/feeders", response_model=FeederOut, status_code=status.HTTP_201_CREATED, responses=_NOT_FOUND
)
async def add_feeder(site_id: Id, body: FeederIn, core: CoreDep, context: Context, user: Admin) -> FeederOut:
    feeder = await core.layout.add_feeder(
        site_id=SiteId(site_id),
        name=body.name,
        limit=Limit(amps=body.max_a, watts=body.max_w),
        parent_id=body.parent_id,
        actor=user.username,
    )
    _recompute(context, site_id)
    return FeederOut.of(feeder)


@router.get("/sites/{site_id}/feeders/{feeder_id}", response_model=FeederOut, responses=_NOT_FOUND)
async def get_feeder(site_id: Id, feeder_id: Id, core: CoreDep, _: Viewer) -> FeederOut:
    return FeederOut.of(await core.layout.feeder(site_id=SiteId(site_id), feeder_id=feeder_id))


@router.patch("/sites/{site_id}/feeders/{feeder_id}", response_model=FeederOut, responses=_NOT_FOUND)
async def change_feeder(
    site_id: Id, feeder_id: Id, body: FeederPatch, *, core: CoreDep, context: Context, user: Admin
) -> FeederOut:
    """Name, limits and parent; fields left out keep their value (the load curve has its own route)."""
    fields = body.merged(await core.layout.feeder(site_id=SiteId(site_id), feeder_id=feeder_id))
    feeder = await core.layout.update_feeder(
        site_id=SiteId(site_id),
        feeder_id=feeder_id,
        name=fields["name"],
        limit=Limit(amps=fields["max_a"], watts=fields["max_w"]),
        parent_id=fields["parent_id"],
        actor=user.username,
    )
    _recompute(context, site_id)
    return FeederOut.of(feeder)


@router.delete(
    "/sites/{site_id}/feeders/{feeder_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**_NOT_FOUND, 409: {"description": "stations or feeders still hang under it"}},
)
async def delete_feeder(site_id: Id, feeder_id: Id, core: CoreDep, context: Context, user: Admin) -> Response:
    await core.layout.delete_feeder(site_id=SiteId(site_id), feeder_id=feeder_id, actor=user.username)
    _recompute(context, site_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/sites/{site_id}/feeders/{feeder_id}/limit-curve", response_model=FeederOut, responses=_NOT_FOUND)
async def set_feeder_limit_curve(
    site_id: Id, feeder_id: Id, body: CurveIn, *, core: CoreDep, context: Context, user: Operator
) -> FeederOut:
    """Replace the feeder's load curve, as the site's: each period's maximum applies from its start until its end
    (none: open); an empty list removes it."""
    curve = [LimitPeriod(p.start, p.end, p.limit()) for p in body.periods]
    feeder = await core.layout.set_feeder_curve(
        site_id=SiteId(site_id), feeder_id=feeder_id, curve=curve, actor=user.username
    )
    _recompute(context, site_id)
    return FeederOut.of(feeder)


def _recompute(context: Context, site_id: int) -> None:
    """A feeder's limits changed: load management applies them now rather than at its next interval."""
    if context.load_manager is not None:
        context.load_manager.grid_changed(SiteId(site_id))
