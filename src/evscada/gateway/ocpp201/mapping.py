"""OCPP 2.0.1 payloads <-> core types; pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from evscada.core.charging.meter_values import to_base_unit
from evscada.core.charging.transactions import TransactionOutcome
from evscada.core.model import (
    STATION_WIDE,
    AuthorizationResult,
    BootInfo,
    ComponentProblem,
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

ENERGY_REGISTER = "Energy.Active.Import.Register"  # 2.0.1 SampledValue default measurand


def boot_info(p: Payload) -> BootInfo:
    station = p["chargingStation"]
    modem = station.get("modem", {})
    return BootInfo(
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        modem_iccid=modem.get("iccid"),
        modem_imsi=modem.get("imsi"),
        reason=p["reason"],
    )


def status_report(p: Payload) -> StatusReport:
    return StatusReport(
        evse=EvseRef(
            evse_id=shared_mapping.numbered(p["evseId"], "evseId"),
            connector_id=shared_mapping.numbered(p["connectorId"], "connectorId"),
        ),
        status=ConnectorStatus(p["connectorStatus"]),
        timestamp=parse_datetime(p["timestamp"]),
    )


def id_token(p: Payload) -> IdToken:
    return IdToken(value=p["idToken"], type=p["type"])


def transaction_token(p: Payload | None) -> IdToken | None:
    """The token of a TransactionEvent; None when there is none to check."""
    if p is None or p["type"] == "NoAuthorization":
        # NoAuthorization (free vend, idToken "") is no card: looking it up would answer Invalid and could
        # make a station configured with StopTxOnInvalidId end a session nobody needed to authorize.
        return None
    return id_token(p)


def id_token_payload(token: IdToken) -> Payload:
    return {"idToken": token.value, "type": token.type}


def id_token_info(result: AuthorizationResult) -> Payload:
    """2.0.1 AuthorizationStatus has every core status (Unknown and ConcurrentTx too): 1:1."""
    info: Payload = {"status": str(result.status)}
    if result.expires_at is not None:
        info["cacheExpiryDateTime"] = format_datetime(result.expires_at)
    if result.group_id is not None:
        # The core keeps a group id without its token type; Central is the type of CSMS-issued ids.
        info["groupIdToken"] = {"idToken": result.group_id, "type": "Central"}
    return info


def evse_of(evse: Payload | None) -> EvseRef | None:
    """TransactionEvent evse; a station with one connector per EVSE may leave out connectorId."""
    if evse is None:
        return None
    return EvseRef(
        evse_id=shared_mapping.numbered(evse["id"], "evse.id"),
        connector_id=shared_mapping.numbered(evse.get("connectorId", 1), "evse.connectorId"),
    )


def meter_evse(evse_id: int) -> EvseRef:
    """MeterValues evseId: 0 is the station's main meter; otherwise the EVSE as a whole (connector 0),
    since 2.0.1 meters per EVSE, not per connector."""
    return STATION_WIDE if shared_mapping.numbered(evse_id, "evseId") == 0 else EvseRef(evse_id=evse_id, connector_id=0)


def samples(meter_values: list[Payload]) -> tuple[MeterSample, ...]:
    out = []
    for meter_value in meter_values:
        timestamp = parse_datetime(meter_value["timestamp"])
        for sv in meter_value["sampledValue"]:
            out.append(sample(timestamp, sv))
    return tuple(out)


def sample(timestamp: datetime, sv: Payload) -> MeterSample:
    measurand = sv.get("measurand", ENERGY_REGISTER)
    unit_of_measure = sv.get("unitOfMeasure", {})
    value, unit = to_base_unit(
        float(sv["value"]), unit_of_measure.get("unit"), measurand, unit_of_measure.get("multiplier", 0)
    )
    value = shared_mapping.reading(value)
    signed = sv.get("signedMeterValue")
    return MeterSample(
        timestamp=timestamp,
        value=value,
        measurand=measurand,
        unit=unit,
        phase=sv.get("phase"),
        location=sv.get("location"),
        context=sv.get("context"),
        # Signed data (e.g. OCMF) is what an eichrecht-compliant bill is checked against: keep it verbatim. A value
        # beyond any meter is kept as the station's number, as text (ADR 8).
        raw=signed["signedMeterData"] if signed else (str(sv["value"]) if value is None else None),
    )


def transaction_report(p: Payload) -> TransactionReport:
    info = p["transactionInfo"]
    kind = TransactionEventKind(p["eventType"])
    stop_reason = info.get("stoppedReason")
    if kind == TransactionEventKind.ENDED and stop_reason is None:
        stop_reason = "Local"  # 2.0.1: stoppedReason "SHALL only be omitted when Reason is Local"
    return TransactionReport(
        kind=kind,
        timestamp=parse_datetime(p["timestamp"]),
        station_transaction_id=info["transactionId"],
        evse=evse_of(p.get("evse")),
        id_token=transaction_token(p.get("idToken")),
        stop_reason=stop_reason,
        trigger_reason=p["triggerReason"],
        charging_state=info.get("chargingState"),
        seq_no=p["seqNo"],
        offline=p.get("offline", False),
        reservation_id=p.get("reservationId"),
        remote_start_id=p["transactionInfo"].get("remoteStartId"),
        samples=samples(p.get("meterValue", [])),
    )


def transaction_event_result(p: Payload, outcome: TransactionOutcome) -> Payload:
    if outcome.authorization is not None:
        return {"idTokenInfo": id_token_info(outcome.authorization)}
    if outcome.duplicate and transaction_token(p.get("idToken")) is not None and outcome.transaction.auth_status:
        # idTokenInfo is required when the request had an idToken: a repeat is answered from the stored record.
        return {"idTokenInfo": {"status": outcome.transaction.auth_status}}
    return {}


def request_summary(status: str, p: Payload) -> str:
    """'Downloaded (request 7)': a status reported for one of the CSMS's requests, if it says which."""
    return f"{status} (request {p['requestId']})" if "requestId" in p else status


def events_summary(p: Payload) -> str:
    """NotifyEvent: which components and variables changed, e.g. 'Connector/AvailabilityState=Faulted'."""
    parts = [
        f"{e['component']['name']}/{e['variable']['name']}={e['actualValue']}"
        + (" (cleared)" if e.get("cleared") else "")
        for e in p["eventData"]
    ]
    return "; ".join(parts)


# NotifyEvent variables whose "true" means the component has a problem.
PROBLEM_VARIABLES = frozenset({"Problem", "Tripped"})


def _problem_active(entry: Payload) -> bool | None:
    """Whether one NotifyEvent entry reports a problem (True), its end (False), or is no problem report (None)."""
    var = entry.get("variable", {}).get("name", "?")
    value = str(entry.get("actualValue", ""))
    if var in PROBLEM_VARIABLES:
        active = value.lower() == "true"
    elif var == "AvailabilityState":
        active = value == "Faulted"
    elif entry.get("trigger") == "Alerting":
        active = True  # a monitor's threshold was crossed
    elif entry.get("cleared"):
        active = False
    else:
        return None
    return False if entry.get("cleared") else active


@dataclass(frozen=True, slots=True)
class FaultReason:
    """Why an EVSE's connector is faulted, as a 2.0.1 NotifyEvent says it: 2.0.1 StatusNotification has no
    errorCode, so this is what 1.6's errorCode and info are to the connector's state."""

    evse: EvseRef  # connector_id 0: every connector of the EVSE
    active: bool  # False: the problem ended
    code: str | None  # techCode, e.g. "GroundFailure" (stations often use the 1.6 error code names)
    info: str  # techInfo, else which component and variable reported it
    at: datetime


def fault_reasons(p: Payload) -> tuple[FaultReason, ...]:
    """The connector faults (and their ends) a NotifyEvent reports on an EVSE; station-wide problems name no
    connector and stay alarms of their own."""
    found = []
    for entry in p.get("eventData", ()):
        component, variable = entry.get("component", {}), entry.get("variable", {})
        evse = component.get("evse")
        active = _problem_active(entry)
        if active is None or not evse or "id" not in evse:
            continue
        where = f"{component.get('name', '?')}/{variable.get('name', '?')}"
        info = str(entry["techInfo"]) if entry.get("techInfo") else f"{where} = {entry.get('actualValue', '')}"
        found.append(
            FaultReason(
                evse=EvseRef(int(evse["id"]), int(evse.get("connectorId", 0))),
                active=active,
                code=str(entry["techCode"])[:50] if entry.get("techCode") else None,
                info=info[:255],  # the connector state keeps 255 characters, as for 1.6 info
                at=parse_datetime(entry["timestamp"]),
            )
        )
    return tuple(found)


def event_problems(p: Payload) -> tuple[ComponentProblem, ...]:
    """The problems (or their ends) in a NotifyEvent; other events (e.g. a periodic value) are no problem."""
    found = []
    for entry in p.get("eventData", ()):
        component, variable = entry.get("component", {}), entry.get("variable", {})
        name, var = component.get("name", "?"), variable.get("name", "?")
        value = str(entry.get("actualValue", ""))
        active = _problem_active(entry)
        if active is None:
            continue
        evse = component.get("evse")
        place = f"EVSE {evse.get('id')}" + (f"/{evse['connectorId']}" if "connectorId" in evse else "") if evse else ""
        instances = "".join(f"[{i}]" for i in (component.get("instance"), variable.get("instance")) if i)
        subject = f"{place} {name}/{var}{instances}".strip()
        tech = ", ".join(str(entry[k]) for k in ("techCode", "techInfo") if entry.get(k))
        text = f"{subject} = {value}" + (f" ({tech})" if tech else "")
        ref = EvseRef(int(evse.get("id", 0)), int(evse.get("connectorId", 0))) if evse else None
        code = str(entry["techCode"]) if entry.get("techCode") else None
        found.append(ComponentProblem(subject=subject, active=active, message=text, evse=ref, tech_code=code))
    return tuple(found)


def part_summary(what: str, p: Payload, count: int) -> str:
    """NotifyReport and the like arrive in parts (seqNo, tbc): say which part and how much it holds."""
    more = ", more to come" if p.get("tbc") else ""
    part = f", part {p['seqNo']}" if "seqNo" in p else ""  # ReportChargingProfiles has tbc but no seqNo
    return f"{what} for request {p['requestId']}{part}: {count} item(s){more}"
