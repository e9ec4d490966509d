"""The information object addresses (IOAs): derived from the site's id and the station's place at its site, so that
a control centre's engineer can configure them from docs/scada-bridges.md or `GET /api/v1/iec104/points`.

A site's block starts at `site_base + site_id * site_stride`; its stations follow at `station_offset`, one
`station_stride` each, in the order of their ids."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from evscada.core.model import SiteId, StationId
from evscada.integrations.iec104.settings import MAX_IOA, Iec104Settings


class Quantity(enum.StrEnum):
    SITE_POWER = "site_power"
    SITE_LIMIT = "site_limit"
    SITE_CURTAILED = "site_curtailed"
    LIMIT_SETPOINT = "limit_setpoint"
    CURTAILMENT = "curtailment"
    STATION_STATE = "station_state"
    STATION_POWER = "station_power"
    STATION_ONLINE = "station_online"


# Offset within its block, ASDU type, unit, monitoring or command, what it is.
SITE_POINTS: dict[Quantity, tuple[int, str, str | None, str]] = {
    Quantity.SITE_POWER: (0, "M_ME_NC_1", "kW", "what the site's charging sessions draw now"),
    Quantity.SITE_LIMIT: (1, "M_ME_NC_1", "kW", "the site's limit in force now (quality invalid: none in kW)"),
    Quantity.SITE_CURTAILED: (2, "M_SP_NA_1", None, "on while a curtailment (or set-point) is in force"),
    Quantity.LIMIT_SETPOINT: (10, "C_SE_NC_1", "kW", "command: limit the site to this power"),
    Quantity.CURTAILMENT: (11, "C_SC_NA_1", None, "command: on curtails the site to curtailment_kw; off lifts"),
}
STATION_POINTS: dict[Quantity, tuple[int, str, str | None, str]] = {
    Quantity.STATION_STATE: (
        0,
        "M_ME_NB_1",
        None,
        "state: 0 Offline, 1 Available, 2 Charging, 3 Faulted, 4 Unavailable, 5 Unknown",
    ),
    Quantity.STATION_POWER: (1, "M_ME_NC_1", "kW", "what the station's sessions draw now"),
    Quantity.STATION_ONLINE: (2, "M_SP_NA_1", None, "on while the station is connected"),
}
STATE_CODES = {"Offline": 0, "Available": 1, "Charging": 2, "Faulted": 3, "Unavailable": 4, "Unknown": 5}
COMMANDS = frozenset({Quantity.LIMIT_SETPOINT, Quantity.CURTAILMENT})


@dataclass(frozen=True, slots=True)
class PointSpec:
    """One information object: where it is and what it carries."""

    ioa: int
    asdu_type: str
    quantity: Quantity
    site_id: SiteId
    station_id: StationId | None
    unit: str | None
    description: str

    @property
    def direction(self) -> Literal["monitor", "command"]:
        return "command" if self.quantity in COMMANDS else "monitor"


def site_block(settings: Iec104Settings, site_id: SiteId) -> int:
    return settings.site_base + int(site_id) * settings.site_stride


def station_capacity(settings: Iec104Settings) -> int:
    """How many stations a site's block holds."""
    return (settings.site_stride - settings.station_offset) // settings.station_stride


def site_points(settings: Iec104Settings, site_id: SiteId) -> list[PointSpec]:
    """The site's points; empty when its block lies beyond the 3-octet address range."""
    base = site_block(settings, site_id)
    if base + settings.site_stride - 1 > MAX_IOA:
        return []
    return [
        PointSpec(base + offset, asdu, quantity, site_id, None, unit, text)
        for quantity, (offset, asdu, unit, text) in SITE_POINTS.items()
    ]


def station_points(settings: Iec104Settings, site_id: SiteId, index: int, station_id: StationId) -> list[PointSpec]:
    """The points of the site's `index`-th station (from 0); empty when the site's block holds no more stations."""
    if index >= station_capacity(settings) or not site_points(settings, site_id):
        return []
    base = site_block(settings, site_id) + settings.station_offset + index * settings.station_stride
    return [
        PointSpec(base + offset, asdu, quantity, site_id, station_id, unit, text)
        for quantity, (offset, asdu, unit, text) in STATION_POINTS.items()
    ]
