"""What the site load manager shows of a site: its draw against its limits, each session's allocation and plan.

Read by the API (`GET /sites/{id}/draw`) and the console's site page; made by `site_manager.SiteLoadManager`.
Powers in W, currents in A per phase, times UTC-aware.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from evscada.core import events
from evscada.core.energy.allocation import Allocation
from evscada.core.energy.grid import Limit
from evscada.core.energy.planner import Shortfall
from evscada.core.model import SiteId, StationId, TransactionPk, VehicleId


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What the departure plan says of one session's vehicle, when it has a departure and its SoC is known."""

    departure: datetime
    target_soc_pct: float
    expected_soc_pct: float  # at departure, if the plan is followed
    short_wh: float  # the energy it will lack at departure; 0 when on time
    limited_by: Shortfall | None  # why it is late: its own power and time, or the site's capacity
    planned_w: float | None  # the plan's cap for the current slot

    @property
    def late(self) -> bool:
        return self.short_wh > 1.0


@dataclass(frozen=True, slots=True)
class SessionDraw:
    allocation: Allocation
    draw_w: float | None  # measured: the energy register's slope, or the reported power
    evse_id: int
    transaction_pk: TransactionPk
    vehicle_id: VehicleId | None = None
    vehicle_name: str | None = None
    soc_pct: float | None = None  # the last SoC the station reported
    priority: int = 0
    plan: SessionPlan | None = None


@dataclass(frozen=True, slots=True)
class NodeDraw:
    """The connection or one feeder: its effective limit now, what the sessions under it draw and are allocated."""

    id: str  # "site-<id>" for the connection, "feeder-<id>" for a feeder
    name: str
    parent: str | None
    limit: Limit
    draw_w: float
    allocated_w: float
    stations: tuple[StationId, ...]


@dataclass(frozen=True, slots=True)
class SiteDraw:
    """A site now: what it draws against its effective limit, and each session's allocation."""

    site_id: SiteId
    at: datetime
    capacity_w: float | None
    limit: Limit
    draw_w: float
    sessions: tuple[SessionDraw, ...]
    uncontrolled: tuple[StationId, ...]
    nodes: tuple[NodeDraw, ...] = ()  # the connection first, then the feeders below it


@dataclass(frozen=True, slots=True)
class DrawSample:
    """One point of the site's trend: measured draw against the limit in force (None: no limit in W)."""

    at: datetime
    draw_w: float
    allocated_w: float
    limit_w: float | None


@dataclass(frozen=True, slots=True)
class SiteDrawShared(events.Internal):
    """The leader's view of a site after a recompute: the api processes of a cluster show it (ADR 12)."""

    draw: SiteDraw
