"""The grid operator's interface: a site's limit curve, an emergency curtailment, and its draw against its limit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field, model_validator

from evscada.api.deps import Context, Operator, Viewer
from evscada.api.params import Id, Time
from evscada.core.energy.grid import Limit, LimitPeriod
from evscada.core.energy.planner import PricePeriod
from evscada.core.energy.site_limits import SiteLimits
from evscada.core.energy.site_manager import SiteLoadManager
from evscada.core.energy.site_view import SessionPlan, SiteDraw
from evscada.core.model import SiteId

router = APIRouter(tags=["site load management"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown site"},
    503: {"description": "load management does not run in this process"},
}


class LimitIn(BaseModel):
    """A maximum in kW for the whole site and/or in A per phase; at least one."""

    max_kw: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_a: float | None = Field(None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_given(self) -> LimitIn:
        if self.max_kw is None and self.max_a is None:
            raise ValueError("give max_kw, max_a or both")
        return self

    def limit(self) -> Limit:
        return Limit(amps=self.max_a, watts=None if self.max_kw is None else self.max_kw * 1e3)


class PeriodIn(LimitIn):
    start: Time
    end: Time | None = None


class CurveIn(BaseModel):
    periods: list[PeriodIn] = Field(max_length=1000)


class CurtailmentIn(LimitIn):
    until: Time


class PricePeriodIn(BaseModel):
    start: Time
    end: Time
    price_per_kwh: float = Field(ge=0, le=1e6, allow_inf_nan=False)


class TariffIn(BaseModel):
    """Energy prices per period (any currency, per kWh); where none applies the planner sees no price."""

    periods: list[PricePeriodIn] = Field(max_length=10_000)


class LimitOut(BaseModel):
    max_kw: float | None
    max_a: float | None

    @classmethod
    def of(cls, limit: Limit) -> LimitOut:
        return cls(max_kw=None if limit.watts is None else limit.watts / 1e3, max_a=limit.amps)


class LimitsOut(BaseModel):
    periods: list[dict[str, Any]]
    curtailment: dict[str, Any] | None
    tariff: list[dict[str, Any]]

    @classmethod
    def of(cls, limits: SiteLimits) -> LimitsOut:
        c = limits.curtailment
        return cls(
            periods=[{"start": p.start, "end": p.end, **LimitOut.of(p.limit).model_dump()} for p in limits.curve],
            curtailment=None if c is None else {"until": c.until, **LimitOut.of(c.limit).model_dump()},
            tariff=[{"start": p.start, "end": p.end, "price_per_kwh": p.price} for p in limits.tariff],
        )


class PlanOut(BaseModel):
    """The departure plan of a session's vehicle: whether it reaches its target SoC by its departure."""

    departure: Any
    target_soc_pct: float
    expected_soc_pct: float
    short_kwh: float
    late: bool
    limited_by: str | None
    planned_kw: float | None

    @classmethod
    def of(cls, plan: SessionPlan) -> PlanOut:
        return cls(
            departure=plan.departure,
            target_soc_pct=plan.target_soc_pct,
            expected_soc_pct=round(plan.expected_soc_pct, 1),
            short_kwh=round(plan.short_wh / 1e3, 3),
            late=plan.late,
            limited_by=None if plan.limited_by is None else plan.limited_by.value,
            planned_kw=None if plan.planned_w is None else plan.planned_w / 1e3,
        )


class SessionDrawOut(BaseModel):
    transaction_pk: int
    station_id: str
    evse_id: int
    allocated_kw: float
    allocated_a: float | None
    reason: str
    draw_kw: float | None
    vehicle_id: int | None
    vehicle: str | None
    soc_pct: float | None
    plan: PlanOut | None


class NodeOut(BaseModel):
    id: str
    name: str
    parent: str | None
    limit: LimitOut
    draw_kw: float
    allocated_kw: float
    stations: list[str]


class DrawOut(BaseModel):
    site_id: int
    at: Any
    capacity_kw: float | None
    limit: LimitOut
    draw_kw: float
    sessions: list[SessionDrawOut]
    uncontrolled: list[str]
    nodes: list[NodeOut]  # the connection first, then its feeders

    @classmethod
    def of(cls, draw: SiteDraw) -> DrawOut:
        return cls(
            site_id=draw.site_id,
            at=draw.at,
            capacity_kw=None if draw.capacity_w is None else draw.capacity_w / 1e3,
            limit=LimitOut.of(draw.limit),
            draw_kw=draw.draw_w / 1e3,
            sessions=[
                SessionDrawOut(
                    transaction_pk=s.transaction_pk,
                    station_id=s.allocation.station_id,
                    evse_id=s.evse_id,
                    allocated_kw=s.allocation.watts / 1e3,
                    allocated_a=s.allocation.amps,
                    reason=s.allocation.reason.value,
                    draw_kw=None if s.draw_w is None else s.draw_w / 1e3,
                    vehicle_id=s.vehicle_id,
                    vehicle=s.vehicle_name,
                    soc_pct=s.soc_pct,
                    plan=None if s.plan is None else PlanOut.of(s.plan),
                )
                for s in draw.sessions
            ],
            uncontrolled=list(draw.uncontrolled),
            nodes=[
                NodeOut(
                    id=n.id,
                    name=n.name,
                    parent=n.parent,
                    limit=LimitOut.of(n.limit),
                    draw_kw=n.draw_w / 1e3,
                    allocated_kw=n.allocated_w / 1e3,
                    stations=list(n.stations),
                )
                for n in draw.nodes
            ],
        )


def _manager(context: Context) -> SiteLoadManager:
    if context.load_manager is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "site load management is turned off")
    return context.load_manager


@router.put("/sites/{site_id}/limit-curve", response_model=LimitsOut, responses=_RESPONSES)
async def set_limit_curve(site_id: Id, body: CurveIn, context: Context, user: Operator) -> LimitsOut:
    """Replace the site's load curve: each period's maximum applies from its start until its end (none: open)."""
    for n, p in enumerate(body.periods):
        if p.end is not None and p.end <= p.start:
            raise HTTPException(422, f"periods[{n}]: end must be after start")
    curve = [LimitPeriod(p.start, p.end, p.limit()) for p in body.periods]
    limits = await _manager(context).set_curve(site_id=SiteId(site_id), curve=curve, actor=user.username)
    return LimitsOut.of(limits)


@router.get("/sites/{site_id}/limits", response_model=LimitsOut, responses=_RESPONSES)
async def site_limits(site_id: Id, context: Context, _: Viewer) -> LimitsOut:
    """The site's load curve, curtailment and tariff as the load manager holds them."""
    manager = _manager(context)
    await context.core.sites.get(site_id=SiteId(site_id))
    return LimitsOut.of(manager.limits(SiteId(site_id)))


@router.put("/sites/{site_id}/tariff", response_model=LimitsOut, responses=_RESPONSES)
async def set_tariff(site_id: Id, body: TariffIn, context: Context, user: Operator) -> LimitsOut:
    """Replace the site's energy prices: departure plans then charge in the cheapest slots that still get each
    vehicle ready, and a plan's cap is also its ceiling (no top-up in expensive slots)."""
    ordered = sorted(body.periods, key=lambda p: p.start)
    for n, p in enumerate(ordered):
        if p.end <= p.start:
            raise HTTPException(422, f"periods[{n}]: end must be after start")
        if n and p.start < ordered[n - 1].end:
            raise HTTPException(422, f"periods: {p.start.isoformat()} overlaps the period before it")
    tariff = [PricePeriod(p.start, p.end, p.price_per_kwh) for p in ordered]
    limits = await _manager(context).set_tariff(site_id=SiteId(site_id), tariff=tariff, actor=user.username)
    return LimitsOut.of(limits)


@router.post("/sites/{site_id}/curtailment", response_model=LimitsOut, responses=_RESPONSES)
async def curtail(site_id: Id, body: CurtailmentIn, context: Context, user: Operator) -> LimitsOut:
    """An emergency maximum until a time; it replaces a running one."""
    manager = _manager(context)
    if body.until <= manager.now():
        raise HTTPException(422, "until must be in the future")
    limits = await manager.curtail(site_id=SiteId(site_id), limit=body.limit(), until=body.until, actor=user.username)
    return LimitsOut.of(limits)


@router.delete(
    "/sites/{site_id}/curtailment",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_RESPONSES,
)
async def lift_curtailment(site_id: Id, context: Context, user: Operator) -> Response:
    await _manager(context).lift_curtailment(site_id=SiteId(site_id), actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sites/{site_id}/draw", response_model=DrawOut, responses=_RESPONSES)
async def site_draw(site_id: Id, context: Context, _: Viewer) -> DrawOut:
    """What the site draws now (measured) against its effective limit, and each session's allocation and why."""
    return DrawOut.of(await _manager(context).draw(site_id=SiteId(site_id)))
