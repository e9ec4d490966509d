"""What a simulated 2.0.1 station reports of its device model (GetBaseReport / GetReport -> NotifyReport)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evscada.simulator.config import Kind

if TYPE_CHECKING:
    from evscada.simulator.station import SimulatedStation

_DATA_TYPE = {Kind.INTEGER: "integer", Kind.BOOLEAN: "boolean", Kind.TEXT: "string"}
# 2.0.1 AvailabilityState of an EVSE, from the station's own connector words.
_AVAILABILITY = {"Available": "Available", "Reserved": "Reserved", "Unavailable": "Unavailable"}


def _item(
    component: dict[str, Any], variable: str, value: str, *, readonly: bool, data_type: str, **extra: Any
) -> dict[str, Any]:
    return {
        "component": component,
        "variable": {"name": variable},
        "variable_attribute": [
            {"type": "Actual", "value": value, "mutability": "ReadOnly" if readonly else "ReadWrite"}
        ],
        "variable_characteristics": {"data_type": data_type, "supports_monitoring": False, **extra},
    }


def _configuration(station: SimulatedStation) -> list[dict[str, Any]]:
    return [
        _item({"name": s.component}, s.variable or "", s.value, readonly=s.readonly, data_type=_DATA_TYPE[s.kind])
        for s in station.config.variables()
    ]


def _summary(station: SimulatedStation) -> list[dict[str, Any]]:
    items = []
    for n, state in station.connectors.items():
        status = "Occupied" if state.session is not None else _AVAILABILITY[state.idle_status()]
        items.append(
            _item(
                {"name": "EVSE", "evse": {"id": n}},
                "AvailabilityState",
                status,
                readonly=True,
                data_type="OptionList",
                values_list="Available,Occupied,Reserved,Unavailable,Faulted",
            )
        )
        items.append(
            _item(
                {"name": "EVSE", "evse": {"id": n}},
                "Power",
                f"{station.spec.max_power_w:g}",
                readonly=True,
                data_type="decimal",
                unit="W",
                max_limit=station.spec.max_power_w,
            )
        )
    return items


def _identity(station: SimulatedStation) -> list[dict[str, Any]]:
    spec = station.spec
    station_component = {"name": "ChargingStation"}
    return [
        _item(station_component, "Model", spec.model, readonly=True, data_type="string"),
        _item(station_component, "VendorName", spec.vendor, readonly=True, data_type="string"),
        _item({"name": "Controller"}, "FirmwareVersion", spec.firmware, readonly=True, data_type="string"),
    ]


def base_report(station: SimulatedStation, base: str) -> list[dict[str, Any]]:
    if base == "ConfigurationInventory":
        return _configuration(station)
    if base == "SummaryInventory":
        return _summary(station)
    return _identity(station) + _configuration(station) + _summary(station)  # FullInventory


def report(
    station: SimulatedStation, criteria: list[str] | None, wanted: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """GetReport: every component here is Active, Available and Enabled, and none has a Problem."""
    if criteria and set(criteria) <= {"Problem"}:
        return []
    items = base_report(station, "FullInventory")
    if not wanted:
        return items
    return [item for item in items if any(_matches(item, w) for w in wanted)]


def _matches(item: dict[str, Any], wanted: dict[str, Any]) -> bool:
    component, asked = item["component"], wanted["component"]
    if component["name"] != asked["name"]:
        return False
    if "evse" in asked and component.get("evse", {}).get("id") != asked["evse"]["id"]:
        return False
    variable = wanted.get("variable")
    return variable is None or item["variable"]["name"] == variable["name"]


def parts(items: list[dict[str, Any]], per_message: int) -> list[list[dict[str, Any]]]:
    """NotifyReport parts of at most ItemsPerMessage items each."""
    size = max(1, per_message)
    return [items[start : start + size] for start in range(0, len(items), size)]
