"""The demo's world: three real-looking sites, their chargers, the vehicles that charge there, and its faults.

Everything here is invented (addresses included) and marked "(demo)" where a person would see it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import time
from zoneinfo import ZoneInfo

from evscada.simulator.faults import FaultKind, PlannedFault
from evscada.simulator.model import StationSpec, ac_station, dc_station
from evscada.simulator.vehicles import CARS, EvSpec

DEMO_MARK = "(demo)"
DEMO_GROUP = "DEMO"  # the tokens' group: every demo card is in it
LOCAL = ZoneInfo("Europe/Berlin")  # every demo site's; the buses' timetable is in it

DEPOT_CHARGER_W = 150e3
# The depot's grid connection carries 40 % of its chargers at full power: 6 of 15 buses at once. Charging every bus
# in time for its departure takes planning, which is what the energy planner is for.
DEPOT_CONNECTION_SHARE = 0.4
BUS_12M = EvSpec(
    "12 m e-bus", 348e3, ac_max_w=22e3, dc_max_w=150e3, dc_volts=650.0, arrival_soc=(20.0, 45.0), target_soc=95.0
)
BUS_18M = replace(BUS_12M, name="18 m articulated e-bus", battery_wh=396e3)
FIRST_DEPARTURE = time(4, 30)  # the first bus leaves at 04:30, the others every 10 minutes after it


@dataclass(frozen=True, slots=True)
class DemoSite:
    key: str  # station id prefix
    name: str
    address: str
    latitude: float
    longitude: float
    grid_capacity_w: float  # its grid connection (the depot's follows its number of chargers)
    weight: int  # its share of the stations


@dataclass(frozen=True, slots=True)
class DemoVehicle:
    """A vehicle, its card, and what it is (battery, AC and DC limits, SoC at arrival, target, a bus's departure).

    demo/seed.py stores its departure, target SoC, battery and power on the core's vehicle, for the energy planner."""

    token: str
    name: str
    plate: str
    fleet_number: str | None
    fleet: str | None
    ev: EvSpec

    @property
    def battery_wh(self) -> float:
        return self.ev.battery_wh

    @property
    def departure(self) -> time | None:
        """Local time (Europe/Berlin) of day it leaves the depot, every day."""
        return self.ev.departure


@dataclass(frozen=True, slots=True)
class DemoStation:
    spec: StationSpec
    site: DemoSite
    name: str
    latitude: float
    longitude: float
    vehicles: tuple[DemoVehicle, ...]


SITES = [
    DemoSite("DEPOT", f"Nordhafen bus depot {DEMO_MARK}", "Am Nordhafen 12, 20457 Hamburg", 53.5405, 9.9690, 9e5, 15),
    DemoSite(
        "PUBLIC", f"Marktplatz charging park {DEMO_MARK}", "Marktstraße 3, 30159 Hannover", 52.3717, 9.7355, 8e5, 8
    ),
    DemoSite(
        "GARAGE", f"Lindenhof office garage {DEMO_MARK}", "Lindenallee 40, 20259 Hamburg", 53.5730, 9.9590, 1.5e5, 5
    ),
]


def _split(stations: int) -> list[int]:
    """How many stations each site gets: in proportion to its weight, at least one each when there are enough."""
    total = sum(site.weight for site in SITES)
    counts = [max(1 if stations >= len(SITES) else 0, stations * site.weight // total) for site in SITES]
    counts[0] += stations - sum(counts)  # the depot takes the rounding
    return counts


def demo_stations(stations: int) -> list[DemoStation]:
    """A bus depot (DC depot chargers, buses with fleet numbers), a public park (fast DC and AC chargers, cars
    with RFID cards) and an office garage (wallboxes); every third station speaks 2.0.1."""
    result = []
    serial = 0
    for listed, count in zip(SITES, _split(stations), strict=True):
        site = replace(listed, grid_capacity_w=depot_connection_w(count)) if listed.key == "DEPOT" else listed
        for number in range(1, count + 1):
            serial += 1
            result.append(_station(site, number, serial))
    return result


def depot_connection_w(chargers: int) -> float:
    """Too small to charge every bus at full power at once (rounded to 50 kW, at least one charger's worth)."""
    return max(DEPOT_CHARGER_W, round(chargers * DEPOT_CHARGER_W * DEPOT_CONNECTION_SHARE / 50e3) * 50e3)


def _station(site: DemoSite, number: int, serial: int) -> DemoStation:
    version = "2.0.1" if serial % 3 == 2 else "1.6"  # every third station of the fleet
    row, column = divmod(number - 1, 5)  # a grid of bays, a few metres apart
    latitude, longitude = site.latitude + row * 0.00012, site.longitude + column * 0.00018
    station_id = f"{site.key}-{number:02d}"
    if site.key == "DEPOT":
        buses = [4100 + 2 * number - 1, 4100 + 2 * number]  # two buses share each depot charger overnight
        vehicles = tuple(_bus(n) for n in buses)
        name = f"Depot charger {number:02d}"
        spec = dc_station(station_id, version, kw=DEPOT_CHARGER_W / 1e3, amps=300.0, vendor="ABB", model="HVC150")
    elif site.key == "PUBLIC":
        fast = number % 2 == 1
        vehicles = tuple(_car(site, number, k) for k in range(3))
        name = f"{'HPC' if fast else 'AC'} pillar {number:02d}"
        if fast:  # 150 kW on each of its two connectors
            spec = dc_station(station_id, version, kw=150, vendor="Alpitronic", model="HYC300", connectors=2)
        else:
            spec = ac_station(
                station_id, version, phases=3, amps=32, vendor="Mennekes", model="AMTRON 22", connectors=2
            )
    else:
        vehicles = tuple(_car(site, number, k) for k in range(2))
        name = f"Bay {number:02d}"
        if number % 2:  # three-phase 11 kW; every second bay an older one-phase 7.4 kW wallbox
            spec = ac_station(station_id, version, phases=3, amps=16, vendor="Wallbox", model="Commander 2")
        else:
            spec = ac_station(station_id, version, phases=1, amps=32, vendor="Wallbox", model="Pulsar Plus")
    spec = replace(
        spec,
        firmware="4.2.1",
        serial=f"SN{serial:06d}",
        tokens=tuple(v.token for v in vehicles),
        vehicles={v.token: v.ev for v in vehicles},
    )
    return DemoStation(spec, site, name, round(latitude, 6), round(longitude, 6), vehicles)


def _bus(n: int) -> DemoVehicle:
    """Bus n: 12 m or articulated, leaving the depot at its slot of the morning timetable."""
    slot = (n - 4101) % 20  # 04:30 to 07:40, every 10 minutes
    minutes = FIRST_DEPARTURE.hour * 60 + FIRST_DEPARTURE.minute + 10 * slot
    leaves = time(minutes // 60, minutes % 60, tzinfo=LOCAL)
    ev = replace(BUS_18M if n % 3 == 0 else BUS_12M, departure=leaves)
    return DemoVehicle(f"BUS-{n}", f"Bus {n}", f"HH-VH {n}", str(n), f"Nordhafen e-buses {DEMO_MARK}", ev)


def _car(site: DemoSite, number: int, k: int) -> DemoVehicle:
    ev = CARS[(number * 3 + k) % len(CARS)]
    code = (0x04A10000 if site.key == "PUBLIC" else 0x04B70000) + number * 16 + k
    city = "H" if site.key == "PUBLIC" else "HH"
    return DemoVehicle(f"{code:08X}", f"{ev.name} {DEMO_MARK}", f"{city}-EV {number * 10 + k}", None, None, ev)


def demo_plan(station_ids: list[str]) -> list[PlannedFault]:
    """A few faults in the first minutes, so alarms and fault analysis have something to show."""
    if not station_ids:
        return []

    def pick(n: int) -> str:
        return station_ids[n % len(station_ids)]

    return [
        PlannedFault(at=45, kind=FaultKind.GROUND_FAILURE, station=pick(1), duration=120),
        PlannedFault(at=75, kind=FaultKind.OVER_TEMPERATURE, station=pick(4), duration=90),
        PlannedFault(at=100, kind=FaultKind.CONNECTION_DROP, station=pick(2), duration=30),
        PlannedFault(at=140, kind=FaultKind.CONNECTOR_LOCK_FAILURE, station=pick(7), duration=60),
        PlannedFault(at=180, kind=FaultKind.REBOOT, station=pick(5), duration=15),
        PlannedFault(at=240, kind=FaultKind.POWER_LOSS, station=pick(3), duration=60),
        PlannedFault(at=300, kind=FaultKind.POWER_METER_FAILURE, station=pick(10), duration=120),
    ]
