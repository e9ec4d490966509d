"""2.0.1 NotifyReport reportData -> the core's device model; pure functions."""

from __future__ import annotations

from datetime import datetime

from evscada.core.stations.device_model import DeviceVariable
from evscada.gateway.adapter import Payload


def report_variables(p: Payload, generated_at: datetime) -> list[DeviceVariable]:
    """One DeviceVariable per variableAttribute of each reported variable, with the variable's characteristics."""
    out: list[DeviceVariable] = []
    for item in p.get("reportData", []):
        component, variable = item["component"], item["variable"]
        evse = component.get("evse") or {}
        characteristics = item.get("variableCharacteristics") or {}
        for attribute in item["variableAttribute"]:
            out.append(
                DeviceVariable(
                    component=component["name"],
                    component_instance=component.get("instance"),
                    evse_id=evse.get("id"),
                    connector_id=evse.get("connectorId"),
                    variable=variable["name"],
                    variable_instance=variable.get("instance"),
                    attribute_type=attribute.get("type", "Actual"),
                    value=attribute.get("value"),
                    mutability=attribute.get("mutability", "ReadWrite"),  # the spec's defaults
                    persistent=attribute.get("persistent", False),
                    constant=attribute.get("constant", False),
                    data_type=characteristics.get("dataType"),
                    unit=characteristics.get("unit"),
                    min_limit=characteristics.get("minLimit"),
                    max_limit=characteristics.get("maxLimit"),
                    values_list=characteristics.get("valuesList"),
                    supports_monitoring=characteristics.get("supportsMonitoring"),
                    request_id=p["requestId"],
                    reported_at=generated_at,
                )
            )
    return out
