"""A site's electrical layout: the feeders (or transformers) below its grid connection and where each station hangs.

Operators keep it: feeders with their own limits and load curves, nested under the connection or under each
other, and each station's supply (its feeder, what one EVSE delivers, AC or DC, the phases it is wired to).
`site_grid` turns it into the tree load management computes on (core/energy/grid.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from evscada.core.access.audit import SYSTEM, Auditor, AuditUnit
from evscada.core.access.sites import SiteRepository
from evscada.core.energy.grid import NO_LIMIT, Curtailment, Limit, LimitPeriod, Node, SiteGrid
from evscada.core.errors import FeederInUse, InvalidArgument, UnknownFeeder, UnknownSite, UnknownStation
from evscada.core.model import Site, SiteId, Station, StationId, Supply
from evscada.core.ports import Clock, Store
from evscada.core.stations.repositories import StationRepository

log = logging.getLogger(__name__)

MAX_FEEDER_W = 100e6  # 100 MW: more than any site's connection
MAX_FEEDER_A = 100e3  # 100 kA per phase
MAX_EVSE_W = 1e6  # 1 MW: a megawatt charger's EVSE
MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Feeder:
    """A feeder or transformer of a site: its static limit, its load curve, and the feeder above it (None: the
    grid connection)."""

    id: int
    site_id: SiteId
    name: str
    parent_id: int | None = None
    limit: Limit = NO_LIMIT
    curve: tuple[LimitPeriod, ...] = ()


class FeederRepository(Protocol):
    async def add(self, *, feeder: Feeder) -> Feeder:
        """Insert; returns it with its id."""
        ...

    async def get(self, *, feeder_id: int) -> Feeder | None: ...

    async def of_site(self, *, site_id: SiteId) -> list[Feeder]:
        """Ordered by id."""
        ...

    async def all(self) -> list[Feeder]:
        """Every site's, ordered by site and id."""
        ...

    async def save(self, *, feeder: Feeder) -> None:
        """Replace its name, parent, limit and curve."""
        ...

    async def delete(self, *, feeder_id: int) -> bool: ...

    async def stations_on(self, *, feeder_id: int) -> list[StationId]:
        """The stations that hang from it directly."""
        ...


class LayoutUnit(AuditUnit, Protocol):
    feeders: FeederRepository
    sites: SiteRepository
    stations: StationRepository


# Pure: the grid load management computes on.


def site_grid(
    site: Site,
    stations: Sequence[Station],
    feeders: Sequence[Feeder],
    *,
    curve: Sequence[LimitPeriod] = (),
    curtailment: Curtailment | None = None,
) -> SiteGrid:
    """The site as a tree: its grid connection at the root (`grid_capacity_w`, the grid operator's curve and
    curtailment), its feeders nested below it with their limits and curves, each station under its feeder.

    Only this site's stations and feeders count; a station whose feeder is not among them hangs from the root, as
    does a feeder whose parent is not (a layout is checked when it is changed, this never fails on one)."""
    own = {f.id: f for f in feeders if f.site_id == site.id}
    children: dict[int | None, list[Feeder]] = {}
    for feeder in own.values():
        parent = feeder.parent_id if feeder.parent_id in own and not _loops(feeder, own) else None
        children.setdefault(parent, []).append(feeder)
    hung: dict[int | None, list[StationId]] = {}
    for station in stations:
        if station.site_id is None or station.site_id == site.id:
            feeder_id = station.feeder_id if station.feeder_id in own else None
            hung.setdefault(feeder_id, []).append(station.id)

    def node(feeder: Feeder) -> Node:
        return Node(
            id=f"feeder-{feeder.id}",
            limit=feeder.limit,
            curve=feeder.curve,
            children=tuple(node(c) for c in sorted(children.get(feeder.id, ()), key=lambda f: f.id)),
            stations=tuple(hung.get(feeder.id, ())),
        )

    root = Node(
        id=f"site-{site.id}",
        limit=Limit(amps=site.grid_capacity_a, watts=site.grid_capacity_w),
        curve=tuple(curve),
        curtailment=curtailment,
        children=tuple(node(f) for f in sorted(children.get(None, ()), key=lambda f: f.id)),
        stations=tuple(hung.get(None, ())),
    )
    return SiteGrid(root)


def _loops(feeder: Feeder, feeders: dict[int, Feeder]) -> bool:
    """Whether following parents from this feeder comes back to it."""
    seen = {feeder.id}
    parent = feeder.parent_id
    while parent is not None and parent in feeders:
        if parent in seen:
            return True
        seen.add(parent)
        parent = feeders[parent].parent_id
    return False


def period_json(p: LimitPeriod) -> dict[str, Any]:
    """A load curve period as the audit log and the feeders' JSON column keep it."""
    end = None if p.end is None else p.end.isoformat()
    return {"start": p.start.isoformat(), "end": end, "max_a": p.limit.amps, "max_w": p.limit.watts}


def period_of(data: dict[str, Any]) -> LimitPeriod:
    end = data.get("end")
    return LimitPeriod(
        datetime.fromisoformat(data["start"]),
        None if end is None else datetime.fromisoformat(end),
        Limit(amps=data.get("max_a"), watts=data.get("max_w")),
    )


# Rules


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"a feeder needs a name of 1 to {MAX_NAME_LENGTH} characters", field="name")
    return name


def _check_limit(limit: Limit) -> None:
    if limit.amps is None and limit.watts is None:
        raise InvalidArgument("a feeder needs a limit: give max_w, max_a or both", field="max_w")
    if limit.watts is not None and not (math.isfinite(limit.watts) and 0 < limit.watts <= MAX_FEEDER_W):
        raise InvalidArgument(f"max_w must be above 0 and at most {MAX_FEEDER_W:.0f} W (100 MW)", field="max_w")
    if limit.amps is not None and not (math.isfinite(limit.amps) and 0 < limit.amps <= MAX_FEEDER_A):
        raise InvalidArgument(f"max_a must be above 0 and at most {MAX_FEEDER_A:.0f} A per phase", field="max_a")


def check_curve(curve: Sequence[LimitPeriod]) -> tuple[LimitPeriod, ...]:
    """The periods in order of their start; each needs a maximum (0 or more) and an end after its start."""
    for n, p in enumerate(curve):
        if p.end is not None and p.end <= p.start:
            raise InvalidArgument(f"periods[{n}]: end must be after start", field=f"periods[{n}].end")
        if p.limit.amps is None and p.limit.watts is None:
            raise InvalidArgument(f"periods[{n}]: give a maximum in W, in A or both", field=f"periods[{n}]")
        for value in (p.limit.amps, p.limit.watts):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InvalidArgument(f"periods[{n}]: a maximum is a number of 0 or more", field=f"periods[{n}]")
    return tuple(sorted(curve, key=lambda p: p.start))


def _check_supply(max_power_w: float | None, supply: Supply | None, phases: int | None) -> None:
    if max_power_w is not None and not (math.isfinite(max_power_w) and 0 < max_power_w <= MAX_EVSE_W):
        raise InvalidArgument(
            f"max_power_w (per EVSE) must be above 0 and at most {MAX_EVSE_W:.0f} W", field="max_power_w"
        )
    if phases is not None:
        if phases not in (1, 2, 3):
            raise InvalidArgument("phases must be 1, 2 or 3", field="phases")
        if supply is not Supply.AC:
            raise InvalidArgument(
                "phases are for an AC supply only: set supply to AC, or leave phases out", field="phases"
            )


def _limit_details(limit: Limit) -> dict[str, float | None]:
    return {"max_a": limit.amps, "max_w": limit.watts}


class ElectricalLayout:
    """Keeps each site's feeders and each station's supply; every change is audited in its own transaction."""

    def __init__(self, *, store: Store[LayoutUnit], clock: Clock, audit: Auditor | None = None) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit or Auditor(clock=clock)

    async def feeders(self, *, site_id: SiteId) -> list[Feeder]:
        """The site's feeders, ordered by id."""
        async with self._store.unit() as uow:
            await _site(uow, site_id)
            return await uow.feeders.of_site(site_id=site_id)

    async def all_feeders(self) -> dict[SiteId, tuple[Feeder, ...]]:
        """Every site's feeders at once (sites without any left out), for whoever recomputes every site."""
        found: dict[SiteId, list[Feeder]] = {}
        async with self._store.unit() as uow:
            for feeder in await uow.feeders.all():
                found.setdefault(feeder.site_id, []).append(feeder)
        return {site_id: tuple(feeders) for site_id, feeders in found.items()}

    async def feeder(self, *, site_id: SiteId, feeder_id: int) -> Feeder:
        async with self._store.unit() as uow:
            await _site(uow, site_id)
            return await _feeder(uow, site_id, feeder_id)

    async def add_feeder(
        self, *, site_id: SiteId, name: str, limit: Limit, parent_id: int | None = None, actor: str = SYSTEM
    ) -> Feeder:
        """A new feeder under the site's connection, or under another feeder of the site."""
        name = _check_name(name)
        _check_limit(limit)
        async with self._store.unit() as uow:
            await _site(uow, site_id)
            feeders = {f.id: f for f in await uow.feeders.of_site(site_id=site_id)}
            _check_unique(name, None, feeders)
            _check_parent(None, parent_id, feeders)
            feeder = await uow.feeders.add(feeder=Feeder(0, site_id, name, parent_id, limit))
            details = {"site_id": site_id, "name": name, "parent_id": parent_id, **_limit_details(limit)}
            await self._audit.record(
                uow, actor=actor, action="feeder.create", target_type="feeder", target_id=feeder.id, details=details
            )
        log.info("site %d: feeder %d (%s) added", site_id, feeder.id, name)
        return feeder

    async def update_feeder(
        self,
        *,
        site_id: SiteId,
        feeder_id: int,
        name: str,
        limit: Limit,
        parent_id: int | None,
        actor: str = SYSTEM,
    ) -> Feeder:
        """Replace a feeder's name, static limit and parent with these (its curve stays)."""
        name = _check_name(name)
        _check_limit(limit)
        async with self._store.unit() as uow:
            await _site(uow, site_id)
            before = await _feeder(uow, site_id, feeder_id)
            feeders = {f.id: f for f in await uow.feeders.of_site(site_id=site_id)}
            _check_unique(name, feeder_id, feeders)
            _check_parent(feeder_id, parent_id, feeders)
            feeder = replace(before, name=name, limit=limit, parent_id=parent_id)
            await uow.feeders.save(feeder=feeder)
            old = {"name": before.name, "parent_id": before.parent_id, **_limit_details(before.limit)}
            new = {"name": name, "parent_id": parent_id, **_limit_details(limit)}
            changed = {k: {"from": old[k], "to": new[k]} for k in new if old[k] != new[k]}
            if changed:
                await self._audit.record(
                    uow, actor=actor, action="feeder.update", target_type="feeder", target_id=feeder_id, details=changed
                )
        return feeder

    async def delete_feeder(self, *, site_id: SiteId, feeder_id: int, actor: str = SYSTEM) -> None:
        """Refused while stations or feeders hang under it."""
        async with self._store.unit() as uow:
            await _site(uow, site_id)
            feeder = await _feeder(uow, site_id, feeder_id)
            below = [f.name for f in await uow.feeders.of_site(site_id=site_id) if f.parent_id == feeder_id]
            stations = await uow.feeders.stations_on(feeder_id=feeder_id)
            if below or stations:
                what = []
                if stations:
                    what.append(f"station{'s' if len(stations) > 1 else ''} {', '.join(sorted(stations))}")
                if below:
                    what.append(f"feeder{'s' if len(below) > 1 else ''} {', '.join(below)}")
                raise FeederInUse(
                    f"feeder {feeder.name!r} still feeds {' and '.join(what)}: move them to another feeder "
                    "(or the grid connection) first"
                )
            await uow.feeders.delete(feeder_id=feeder_id)
            await self._audit.record(
                uow,
                actor=actor,
                action="feeder.delete",
                target_type="feeder",
                target_id=feeder_id,
                details={"site_id": site_id, "name": feeder.name},
            )
        log.info("site %d: feeder %d (%s) deleted", site_id, feeder_id, feeder.name)

    async def set_feeder_curve(
        self, *, site_id: SiteId, feeder_id: int, curve: Sequence[LimitPeriod], actor: str = SYSTEM
    ) -> Feeder:
        """Replace the feeder's load curve (an empty one removes it), as the site's own curve is replaced."""
        ordered = check_curve(curve)
        async with self._store.unit() as uow:
            await _site(uow, site_id)
            feeder = replace(await _feeder(uow, site_id, feeder_id), curve=ordered)
            await uow.feeders.save(feeder=feeder)
            details = {"periods": [period_json(p) for p in ordered]}
            await self._audit.record(
                uow,
                actor=actor,
                action="feeder.limit_curve",
                target_type="feeder",
                target_id=feeder_id,
                details=details,
            )
        return feeder

    async def set_station_supply(
        self,
        *,
        station_id: StationId,
        feeder_id: int | None,
        max_power_w: float | None,
        supply: Supply | None,
        phases: int | None,
        actor: str = SYSTEM,
    ) -> Station:
        """Replace where a station hangs and what it delivers (None: not known, or from the connection)."""
        _check_supply(max_power_w, supply, phases)
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
            if station is None:
                raise UnknownStation(f"station {station_id} is not registered")
            if feeder_id is not None:
                feeder = await uow.feeders.get(feeder_id=feeder_id)
                if station.site_id is None:
                    raise InvalidArgument(
                        f"station {station_id} is on no site: place it on its feeder's site first", field="feeder_id"
                    )
                if feeder is None or feeder.site_id != station.site_id:
                    raise InvalidArgument(
                        f"feeder {feeder_id} is not a feeder of site {station.site_id}, where station {station_id} "
                        "stands",
                        field="feeder_id",
                    )
            fields = ("feeder_id", "max_power_w", "supply", "phases")
            before = {k: getattr(station, k) for k in fields}
            station.feeder_id = feeder_id
            station.max_power_w = max_power_w
            station.supply = supply
            station.phases = phases
            changed = {
                k: {"from": before[k], "to": getattr(station, k)} for k in fields if before[k] != getattr(station, k)
            }
            if changed:
                await uow.stations.save(station=station)
                await self._audit.record(
                    uow,
                    actor=actor,
                    action="station.supply",
                    target_type="station",
                    target_id=station_id,
                    details=changed,
                )
        return station


async def _site(uow: LayoutUnit, site_id: SiteId) -> Site:
    site = await uow.sites.get(site_id=site_id)
    if site is None:
        raise UnknownSite(f"no site {site_id}")
    return site


async def _feeder(uow: LayoutUnit, site_id: SiteId, feeder_id: int) -> Feeder:
    feeder = await uow.feeders.get(feeder_id=feeder_id)
    if feeder is None or feeder.site_id != site_id:
        raise UnknownFeeder(f"site {site_id} has no feeder {feeder_id}")
    return feeder


def _check_unique(name: str, feeder_id: int | None, feeders: dict[int, Feeder]) -> None:
    if any(f.name.casefold() == name.casefold() and f.id != feeder_id for f in feeders.values()):
        raise InvalidArgument(f"the site has a feeder named {name!r} already: choose another name", field="name")


def _check_parent(feeder_id: int | None, parent_id: int | None, feeders: dict[int, Feeder]) -> None:
    """The parent must be a feeder of the same site, and the feeder must not end up below itself."""
    if parent_id is None:
        return
    if parent_id not in feeders:
        raise InvalidArgument(f"parent_id {parent_id} is not a feeder of this site", field="parent_id")
    seen: set[int] = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == feeder_id:
            raise InvalidArgument(
                "a feeder cannot hang below itself: choose a parent outside its branch", field="parent_id"
            )
        seen.add(current)
        current = feeders[current].parent_id if current in feeders else None
