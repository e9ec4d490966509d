"""The grid operator's limits on each site beyond its connection: a load curve, an emergency curtailment, a tariff.

Stored and audited with who set them, read once at start and then kept in memory for the load manager, which is
told (`on_change`) so that it recomputes at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from evscada.core.access.audit import Auditor, AuditUnit
from evscada.core.access.sites import SiteService
from evscada.core.energy.grid import Curtailment, Limit, LimitPeriod
from evscada.core.energy.layout import period_json
from evscada.core.energy.planner import PricePeriod
from evscada.core.model import SiteId
from evscada.core.ports import Clock, Store


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """What the grid operator set on a site beyond its connection."""

    curve: tuple[LimitPeriod, ...] = ()
    curtailment: Curtailment | None = None
    tariff: tuple[PricePeriod, ...] = ()  # energy prices: the planner charges in the cheapest slots first


class SiteLimitRepository(Protocol):
    async def all(self) -> dict[SiteId, SiteLimits]: ...

    async def replace_curve(self, *, site_id: SiteId, curve: Sequence[LimitPeriod], by: str, at: datetime) -> None: ...

    async def set_curtailment(self, *, site_id: SiteId, curtailment: Curtailment | None, by: str, at: datetime) -> None:
        """Replace the site's curtailment; None lifts it."""
        ...

    async def replace_tariff(
        self, *, site_id: SiteId, tariff: Sequence[PricePeriod], by: str, at: datetime
    ) -> None: ...


class SiteLimitUnit(AuditUnit, Protocol):
    site_limits: SiteLimitRepository


class GridLimits:
    """Every site's limits as stored; each change is stored, audited, kept, then announced."""

    def __init__(
        self,
        *,
        store: Store[SiteLimitUnit],
        sites: SiteService,
        clock: Clock,
        on_change: Callable[[SiteId], None],
    ) -> None:
        self._store = store
        self._sites = sites
        self._clock = clock
        self._audit = Auditor(clock=clock)
        self._on_change = on_change
        self._limits: dict[SiteId, SiteLimits] = {}

    async def load(self) -> None:
        async with self._store.unit() as uow:
            self._limits = await uow.site_limits.all()

    def of(self, site_id: SiteId) -> SiteLimits:
        return self._limits.get(site_id, SiteLimits())

    def __contains__(self, site_id: SiteId) -> bool:
        return site_id in self._limits

    async def set_curve(self, *, site_id: SiteId, curve: Sequence[LimitPeriod], actor: str) -> SiteLimits:
        """Replace the site's limit curve (an empty one removes it)."""
        await self._sites.get(site_id=site_id)
        ordered = tuple(sorted(curve, key=lambda p: p.start))
        async with self._store.unit() as uow:
            await uow.site_limits.replace_curve(site_id=site_id, curve=ordered, by=actor, at=self._clock.now())
            details = {"periods": [period_json(p) for p in ordered]}
            await self._audit.record(
                uow, actor=actor, action="site.limit_curve", target_type="site", target_id=site_id, details=details
            )
        return self._changed(site_id, replace(self.of(site_id), curve=ordered))

    async def set_tariff(self, *, site_id: SiteId, tariff: Sequence[PricePeriod], actor: str) -> SiteLimits:
        """Replace the site's energy prices (an empty list removes them): the plans then charge cheapest first."""
        await self._sites.get(site_id=site_id)
        ordered = tuple(sorted(tariff, key=lambda p: p.start))
        async with self._store.unit() as uow:
            await uow.site_limits.replace_tariff(site_id=site_id, tariff=ordered, by=actor, at=self._clock.now())
            details = {
                "periods": [{"start": p.start.isoformat(), "end": p.end.isoformat(), "price": p.price} for p in ordered]
            }
            await self._audit.record(
                uow, actor=actor, action="site.tariff", target_type="site", target_id=site_id, details=details
            )
        return self._changed(site_id, replace(self.of(site_id), tariff=ordered))

    async def curtail(self, *, site_id: SiteId, limit: Limit, until: datetime, actor: str) -> SiteLimits:
        await self._sites.get(site_id=site_id)
        curtailment = Curtailment(limit, until, since=self._clock.now())
        await self._curtailment(site_id, curtailment, actor, "site.curtail")
        return self._changed(site_id, replace(self.of(site_id), curtailment=curtailment))

    async def lift_curtailment(self, *, site_id: SiteId, actor: str) -> SiteLimits:
        await self._sites.get(site_id=site_id)
        await self._curtailment(site_id, None, actor, "site.curtailment_lifted")
        return self._changed(site_id, replace(self.of(site_id), curtailment=None))

    async def _curtailment(self, site_id: SiteId, curtailment: Curtailment | None, actor: str, action: str) -> None:
        details: dict[str, Any] = {}
        if curtailment is not None:
            details = {"max_a": curtailment.limit.amps, "max_w": curtailment.limit.watts}
            details["until"] = curtailment.until.isoformat()
        async with self._store.unit() as uow:
            await uow.site_limits.set_curtailment(
                site_id=site_id, curtailment=curtailment, by=actor, at=self._clock.now()
            )
            await self._audit.record(
                uow, actor=actor, action=action, target_type="site", target_id=site_id, details=details
            )

    def _changed(self, site_id: SiteId, limits: SiteLimits) -> SiteLimits:
        self._limits[site_id] = limits
        self._on_change(site_id)
        return limits

