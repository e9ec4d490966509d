"""Sites (depots, car parks, garages) and where stations stand: the map and grid limits build on them."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Protocol

from evscada.core.access.audit import SYSTEM, Auditor, AuditRepository
from evscada.core.errors import InvalidArgument, SiteExists, UnknownSite, UnknownStation
from evscada.core.model import Site, SiteId, Station, StationId
from evscada.core.ports import Store
from evscada.core.stations.repositories import StationRepository

log = logging.getLogger(__name__)


class SiteRepository(Protocol):
    async def add(self, *, site: Site) -> Site:
        """Insert; assigns the id."""
        ...

    async def get(self, *, site_id: SiteId) -> Site | None: ...

    async def by_name(self, *, name: str) -> Site | None: ...

    async def list(self) -> list[Site]: ...

    async def save(self, *, site: Site) -> None: ...

    async def delete(self, *, site_id: SiteId) -> bool: ...


class SiteUnit(Protocol):
    sites: SiteRepository
    stations: StationRepository  # where stations stand
    audit: AuditRepository


def check_location(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise InvalidArgument("give both latitude and longitude, or neither")
    if latitude is not None and not (math.isfinite(latitude) and -90 <= latitude <= 90):
        raise InvalidArgument(f"latitude {latitude} is outside -90..90 degrees")
    if longitude is not None and not (math.isfinite(longitude) and -180 <= longitude <= 180):
        raise InvalidArgument(f"longitude {longitude} is outside -180..180 degrees")


def _check_site(site: Site) -> None:
    if not site.name.strip():
        raise InvalidArgument("a site needs a name")
    check_location(site.latitude, site.longitude)
    if site.grid_capacity_w is not None and not (math.isfinite(site.grid_capacity_w) and site.grid_capacity_w >= 0):
        raise InvalidArgument("grid_capacity_w must be a positive number of watts")
    if site.grid_capacity_a is not None and not (
        math.isfinite(site.grid_capacity_a) and 0 <= site.grid_capacity_a <= 100_000
    ):
        raise InvalidArgument("grid_capacity_a must be 0 to 100000 A per phase", field="grid_capacity_a")


StationMoved = Callable[[StationId, SiteId | None, SiteId | None], Awaitable[None]]  # station, from, to


class SiteService:
    def __init__(
        self, *, store: Store[SiteUnit], audit: Auditor | None = None, station_moved: StationMoved | None = None
    ) -> None:
        """`station_moved`: told after a station changed site (its site's OCPP proxy applies from then on)."""
        self._store = store
        self._audit = audit or Auditor()
        self._station_moved = station_moved

    async def create(
        self,
        *,
        name: str,
        address: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        grid_capacity_w: float | None = None,
        grid_capacity_a: float | None = None,
        actor: str = SYSTEM,
    ) -> Site:
        site = Site(SiteId(0), name.strip(), address, latitude, longitude, grid_capacity_w, grid_capacity_a)
        _check_site(site)
        async with self._store.unit() as uow:
            if await uow.sites.by_name(name=site.name) is not None:
                raise SiteExists(f"a site named {site.name!r} exists already")
            site = await uow.sites.add(site=site)
            await self._audit.record(
                uow, actor=actor, action="site.create", target_type="site", target_id=site.id, details=asdict(site)
            )
        log.info("site %d created: %s", site.id, site.name)
        return site

    async def get(self, *, site_id: SiteId) -> Site:
        async with self._store.unit() as uow:
            site = await uow.sites.get(site_id=site_id)
        if site is None:
            raise UnknownSite(f"no site {site_id}")
        return site

    async def list(self) -> list[Site]:
        async with self._store.unit() as uow:
            return await uow.sites.list()

    async def update(self, *, site: Site, actor: str = SYSTEM) -> Site:
        """Replace a site's fields with these."""
        site.name = site.name.strip()
        _check_site(site)
        async with self._store.unit() as uow:
            before = await uow.sites.get(site_id=site.id)
            if before is None:
                raise UnknownSite(f"no site {site.id}")
            same_name = await uow.sites.by_name(name=site.name)
            if same_name is not None and same_name.id != site.id:
                raise SiteExists(f"a site named {site.name!r} exists already")
            await uow.sites.save(site=site)
            await self._audit.record(
                uow,
                actor=actor,
                action="site.update",
                target_type="site",
                target_id=site.id,
                details=_diff(before, site),
            )
        return site

    async def delete(self, *, site_id: SiteId, actor: str = SYSTEM) -> None:
        """Its stations stay, without a site."""
        async with self._store.unit() as uow:
            site = await uow.sites.get(site_id=site_id)
            if site is None or not await uow.sites.delete(site_id=site_id):
                raise UnknownSite(f"no site {site_id}")
            await self._audit.record(
                uow,
                actor=actor,
                action="site.delete",
                target_type="site",
                target_id=site_id,
                details={"name": site.name},
            )
        log.info("site %d deleted", site_id)

    async def place_station(
        self,
        *,
        station_id: StationId,
        name: str | None,
        site_id: SiteId | None,
        latitude: float | None,
        longitude: float | None,
        actor: str = SYSTEM,
    ) -> Station:
        """Set what operators see of a station: its name, site and location (None clears each)."""
        check_location(latitude, longitude)
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
            if station is None:
                raise UnknownStation(f"station {station_id} is not registered")
            if site_id is not None and await uow.sites.get(site_id=site_id) is None:
                raise UnknownSite(f"no site {site_id}")
            before = {k: getattr(station, k) for k in ("name", "site_id", "latitude", "longitude")}
            station.name = name.strip() if name and name.strip() else None
            station.site_id = site_id
            station.latitude = latitude
            station.longitude = longitude
            await uow.stations.save(station=station)
            after = {k: getattr(station, k) for k in ("name", "site_id", "latitude", "longitude")}
            changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
            if changed:
                await self._audit.record(
                    uow,
                    actor=actor,
                    action="station.place",
                    target_type="station",
                    target_id=station_id,
                    details=changed,
                )
        if "site_id" in changed and self._station_moved is not None:
            await self._station_moved(station_id, before["site_id"], site_id)
        return station


def _diff(before: object, after: object) -> dict[str, object]:
    """Fields that changed, old and new, for the audit log."""
    old, new = asdict(before), asdict(after)  # type: ignore[call-overload]
    return {k: {"from": old[k], "to": new[k]} for k in new if old[k] != new[k]}
