"""OCPP 1.6 payloads <-> core types; pure functions, no I/O."""

from __future__ import annotations

import logging
import re
from typing import Any

from evscada.core.charging.meter_values import to_base_unit
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
from evscada.gateway import shared_mapping
from evscada.gateway.adapter import Payload
from evscada.gateway.rpc import format_datetime, parse_datetime

log = logging.getLogger(__name__)

# SampledValue.value is "a decimal" as text. float() reads more than that ("1_000", " 12", "infinity", "nan",
# digits of any script): such text is no number here. ASCII digits only, as OCPP-J writes numbers.
DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def evse_of(connector_id: int) -> EvseRef:
    """1.6 has no EVSE: connector n is EVSE n, connector 1; connector 0 is the whole station."""
    if shared_mapping.numbered(connector_id, "connectorId") == 0:
        return STATION_WIDE
    return EvseRef(evse_id=connector_id, connector_id=1)


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


def samples(meter_values: list[Payload], station_id: str) -> tuple[MeterSample, ...]:
    out = []
    not_decimal = []
    for meter_value in meter_values:
        timestamp = parse_datetime(meter_value["timestamp"])
        for sv in meter_value["sampledValue"]:
            measurand = sv.get("measurand", "Energy.Active.Import.Register")
            raw = sv["value"]
            number = None
            if sv.get("format", "Raw") == "Raw":
                if DECIMAL.fullmatch(raw):
                    number = float(raw)  # a decimal no double holds (1e400) is an infinity: no reading below
                else:
                    not_decimal.append(raw)
            value, unit = to_base_unit(number, sv.get("unit"), measurand)
            value = shared_mapping.reading(value)
            out.append(
                MeterSample(
                    timestamp=timestamp,
                    value=value,
                    measurand=measurand,
                    unit=unit,
                    phase=sv.get("phase"),
                    location=sv.get("location"),
                    context=sv.get("context"),
                    raw=raw if value is None else None,
                )
            )
    if not_decimal:  # kept as the station wrote them, so nothing is lost; but no reading can use them
        log.warning("%s: meter values that are no decimal number, stored as text only: %.500r", station_id, not_decimal)
    return tuple(out)


def start_report(p: Payload) -> TransactionReport:
    return TransactionReport(
        kind=TransactionEventKind.STARTED,
        timestamp=parse_datetime(p["timestamp"]),
        evse=evse_of(p["connectorId"]),
        id_token=id_tag(p["idTag"]),
        meter_value=float(p["meterStart"]),
        reservation_id=p.get("reservationId"),
    )


def stop_report(p: Payload, station_id: str) -> TransactionReport:
    return TransactionReport(
        kind=TransactionEventKind.ENDED,
        timestamp=parse_datetime(p["timestamp"]),
        station_transaction_id=str(p["transactionId"]),
        id_token=id_tag(p["idTag"]) if "idTag" in p else None,
        meter_value=float(p["meterStop"]),
        stop_reason=p.get("reason", "Local"),  # 1.6: an absent reason means Local
        samples=samples(p.get("transactionData", []), station_id),
    )
