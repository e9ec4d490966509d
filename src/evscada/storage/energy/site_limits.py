"""SQL for the grid operator's limits on sites: load curve periods and a curtailment, one row each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.energy.grid import Curtailment, Limit, LimitPeriod
from evscada.core.energy.planner import PricePeriod
from evscada.core.energy.site_limits import SiteLimits
from evscada.core.model import SiteId
from evscada.storage import tables as t

_sl = t.site_limits.c
PERIOD, CURTAILMENT, PRICE = "period", "curtailment", "price"


def _limit(row: RowMapping) -> Limit:
    return Limit(amps=row["max_a"], watts=row["max_w"])


class SqlSiteLimits:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def all(self) -> dict[SiteId, SiteLimits]:
        rows = (await self._c.execute(select(t.site_limits).order_by(_sl.site_id, _sl.starts_at))).mappings()
        curves: dict[SiteId, list[LimitPeriod]] = {}
        curtailments: dict[SiteId, Curtailment] = {}
        tariffs: dict[SiteId, list[PricePeriod]] = {}
        for row in rows:
            site_id = SiteId(row["site_id"])
            curves.setdefault(site_id, [])
            if row["kind"] == CURTAILMENT:
                curtailments[site_id] = Curtailment(_limit(row), row["ends_at"], since=row["starts_at"])
            elif row["kind"] == PRICE:
                tariffs.setdefault(site_id, []).append(PricePeriod(row["starts_at"], row["ends_at"], row["price"]))
            else:
                curves[site_id].append(LimitPeriod(row["starts_at"], row["ends_at"], _limit(row)))
        return {
            site_id: SiteLimits(tuple(curve), curtailments.get(site_id), tuple(tariffs.get(site_id, ())))
            for site_id, curve in curves.items()
        }

    async def replace_tariff(self, *, site_id: SiteId, tariff: Sequence[PricePeriod], by: str, at: datetime) -> None:
        await self._c.execute(delete(t.site_limits).where(_sl.site_id == site_id, _sl.kind == PRICE))
        if tariff:
            await self._c.execute(
                insert(t.site_limits),
                [
                    {
                        "site_id": site_id,
                        "kind": PRICE,
                        "starts_at": p.start,
                        "ends_at": p.end,
                        "price": p.price,
                        "set_by": by,
                        "set_at": at,
                    }
                    for p in tariff
                ],
            )

    async def replace_curve(self, *, site_id: SiteId, curve: Sequence[LimitPeriod], by: str, at: datetime) -> None:
        await self._c.execute(delete(t.site_limits).where(_sl.site_id == site_id, _sl.kind == PERIOD))
        if curve:
            await self._c.execute(
                insert(t.site_limits),
                [
                    {
                        "site_id": site_id,
                        "kind": PERIOD,
                        "starts_at": p.start,
                        "ends_at": p.end,
                        "max_a": p.limit.amps,
                        "max_w": p.limit.watts,
                        "set_by": by,
                        "set_at": at,
                    }
                    for p in curve
                ],
            )

    async def set_curtailment(self, *, site_id: SiteId, curtailment: Curtailment | None, by: str, at: datetime) -> None:
        """Replace the site's curtailment; None lifts it."""
        await self._c.execute(delete(t.site_limits).where(_sl.site_id == site_id, _sl.kind == CURTAILMENT))
        if curtailment is not None:
            await self._c.execute(
                insert(t.site_limits).values(
                    site_id=site_id,
                    kind=CURTAILMENT,
                    starts_at=curtailment.since,
                    ends_at=curtailment.until,
                    max_a=curtailment.limit.amps,
                    max_w=curtailment.limit.watts,
                    set_by=by,
                    set_at=at,
                )
            )
