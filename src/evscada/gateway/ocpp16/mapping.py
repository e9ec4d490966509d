"""OCPP 1.6 payloads <-> core types; pure functions, no I/O."""

from __future__ import annotations

from typing import Any

from evscada.core.charging.meter_values import to_base_unit
from evscada.core.errors import InvalidArgument
from evscada.core.model import (
    STATION_WIDE,
    AuthorizationResult,
    AuthorizationStatus,
    BootInfo,
    ConnectorStatus,
    EvseRef,
    IdToken,
    MeterSample,
    StatusReport,
    TransactionEventKind,
    TransactionReport,
)
from evscada.gateway.adapter import Payload
from evscada.gateway.rpc import format_datetime, parse_datetime


def evse_of(connector_id: int) -> EvseRef:
    """1.6 has no EVSE: connector n is EVSE n, connector 1; connector 0 is the whole station."""
    if connector_id < 0:  # the 1.6 schema says integer; the specification says >= 0
        raise InvalidArgument(f"connectorId {connector_id} is negative; 0 is the station, 1.. its connectors")
    return STATION_WIDE if connector_id == 0 else EvseRef(evse_id=connector_id, connector_id=1)


def id_tag(value: str) -> IdToken:
    return IdToken(value=value, type="Central")  # 1.6 idTags carry no type


def boot_info(p: Payload) -> BootInfo:
    return BootInfo(
        vendor=p["chargePointVendor"],
        model=p["chargePointModel"],
        serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
        firmware_version=p.get("firmwareVersion"),
        modem_iccid=p.get("iccid"),
        modem_imsi=p.get("imsi"),
    )


def status_report(p: Payload, received: Any) -> StatusReport:
    error_code = p["errorCode"]
    return StatusReport(
        evse=evse_of(p["connectorId"]),
        status=ConnectorStatus(p["status"]),
        timestamp=parse_datetime(p["timestamp"]) if "timestamp" in p else received,
        error_code=None if error_code == "NoError" else error_code,
        info=p.get("info"),
        vendor_id=p.get("vendorId"),
        vendor_error_code=p.get("vendorErrorCode"),
    )


def auth_status(status: str) -> str:
    """1.6 AuthorizationStatus has no "Unknown"; an unknown card is Invalid there."""
    return "Invalid" if status == AuthorizationStatus.UNKNOWN else str(status)


def id_tag_info(result: AuthorizationResult) -> Payload:
    info: Payload = {"status": auth_status(result.status)}
    if result.expires_at is not None:
        info["expiryDate"] = format_datetime(result.expires_at)
    if result.group_id is not None:
        info["parentIdTag"] = result.group_id
    return info


def samples(meter_values: list[Payload]) -> tuple[MeterSample, ...]:
    out = []
    for meter_value in meter_values:
        timestamp = parse_datetime(meter_value["timestamp"])
        for sv in meter_value["sampledValue"]:
            measurand = sv.get("measurand", "Energy.Active.Import.Register")
            raw = sv["value"]
            number = _number(raw) if sv.get("format", "Raw") == "Raw" else None
            value, unit = to_base_unit(number, sv.get("unit"), measurand)
            out.append(
                MeterSample(
                    timestamp=timestamp,
                    value=value,
                    measurand=measurand,
                    unit=unit,
                    phase=sv.get("phase"),
                    location=sv.get("location"),
                    context=sv.get("context"),
                    raw=raw if number is None else None,
                )
            )
    return tuple(out)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def start_report(p: Payload) -> TransactionReport:
    return TransactionReport(
        kind=TransactionEventKind.STARTED,
        timestamp=parse_datetime(p["timestamp"]),
        evse=evse_of(p["connectorId"]),
        id_token=id_tag(p["idTag"]),
        meter_value=float(p["meterStart"]),
        reservation_id=p.get("reservationId"),
    )


def stop_report(p: Payload) -> TransactionReport:
    return TransactionReport(
        kind=TransactionEventKind.ENDED,
        timestamp=parse_datetime(p["timestamp"]),
        station_transaction_id=str(p["transactionId"]),
        id_token=id_tag(p["idTag"]) if "idTag" in p else None,
        meter_value=float(p["meterStop"]),
        stop_reason=p.get("reason", "Local"),  # 1.6: an absent reason means Local
        samples=samples(p.get("transactionData", [])),
    )
