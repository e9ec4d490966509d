"""The demo's world: three real-looking sites, their chargers, the vehicles that charge there, and its faults.

Everything here is invented (addresses included) and marked "(demo)" where a person would see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from evscada.simulator.faults import FaultKind, PlannedFault
from evscada.simulator.model import StationSpec

DEMO_MARK = "(demo)"
DEMO_GROUP = "DEMO"  # the tokens' group: every demo card is in it


@dataclass(frozen=True, slots=True)
class DemoSite:
    key: str  # station id prefix
    name: str
    address: str
    latitude: float
    longitude: float
    grid_capacity_w: float
    weight: int  # its share of the stations


@dataclass(frozen=True, slots=True)
class DemoVehicle:
    token: str
    name: str
    plate: str
    fleet_number: str | None
    fleet: str | None
    battery_wh: float


@dataclass(frozen=True, slots=True)
class DemoStation:
    spec: StationSpec
    site: DemoSite
    name: str
    latitude: float
    longitude: float
    vehicles: tuple[DemoVehicle, ...]


SITES = [
    DemoSite("DEPOT", f"Nordhafen bus depot {DEMO_MARK}", "Am Nordhafen 12, 20457 Hamburg", 53.5405, 9.9690, 2.4e6, 15),
    DemoSite(
        "PUBLIC", f"Marktplatz charging park {DEMO_MARK}", "Marktstraße 3, 30159 Hannover", 52.3717, 9.7355, 8e5, 8
    ),
    DemoSite(
        "GARAGE", f"Lindenhof office garage {DEMO_MARK}", "Lindenallee 40, 20259 Hamburg", 53.5730, 9.9590, 1.5e5, 5
    ),
]

_CARS = [("VW ID.4", 77e3), ("Tesla Model 3", 60e3), ("Hyundai Ioniq 5", 72.6e3), ("Renault Zoe", 52e3)]


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
    for site, count in zip(SITES, _split(stations), strict=True):
        for number in range(1, count + 1):
            serial += 1
            result.append(_station(site, number, serial))
    return result


def _station(site: DemoSite, number: int, serial: int) -> DemoStation:
    version = "2.0.1" if serial % 3 == 2 else "1.6"  # every third station of the fleet
    row, column = divmod(number - 1, 5)  # a grid of bays, a few metres apart
    latitude, longitude = site.latitude + row * 0.00012, site.longitude + column * 0.00018
    if site.key == "DEPOT":
        buses = [4100 + 2 * number - 1, 4100 + 2 * number]  # two buses share each depot charger overnight
        vehicles = tuple(
            DemoVehicle(f"BUS-{n}", f"Bus {n}", f"HH-VH {n}", str(n), f"Nordhafen e-buses {DEMO_MARK}", 396e3)
            for n in buses
        )
        vendor, model, power, connectors, name = "ABB", "HVC150", 150e3, 1, f"Depot charger {number:02d}"
    elif site.key == "PUBLIC":
        fast = number % 2 == 1
        vehicles = tuple(_car(site, number, k) for k in range(3))
        vendor, model = ("Alpitronic", "HYC300") if fast else ("Mennekes", "AMTRON 22")
        power, connectors = (150e3, 2) if fast else (22e3, 2)
        name = f"{'HPC' if fast else 'AC'} pillar {number:02d}"
    else:
        vehicles = tuple(_car(site, number, k) for k in range(2))
        vendor, model, power, connectors, name = "Wallbox", "Commander 2", 22e3, 1, f"Bay {number:02d}"
    spec = StationSpec(
        station_id=f"{site.key}-{number:02d}",
        version=version,
        vendor=vendor,
        model=model,
        firmware="4.2.1",
        serial=f"SN{serial:06d}",
        connectors=connectors,
        max_power_w=power,
        tokens=tuple(v.token for v in vehicles),
    )
    return DemoStation(spec, site, name, round(latitude, 6), round(longitude, 6), vehicles)


def _car(site: DemoSite, number: int, k: int) -> DemoVehicle:
    model, battery = _CARS[(number + k) % len(_CARS)]
    code = (0x04A10000 if site.key == "PUBLIC" else 0x04B70000) + number * 16 + k
    city = "H" if site.key == "PUBLIC" else "HH"
    return DemoVehicle(f"{code:08X}", f"{model} {DEMO_MARK}", f"{city}-EV {number * 10 + k}", None, None, battery)


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
