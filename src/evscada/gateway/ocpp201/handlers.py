"""OCPP 2.0.1 (and 2.1) station-initiated messages: map in, call the core, map out."""

from __future__ import annotations

import dataclasses
import weakref
from datetime import datetime

from evscada.core.model import ConnectorStatus, EvseRef, StatusReport
from evscada.gateway import shared_handlers as shared
from evscada.gateway import shared_mapping, validation
from evscada.gateway.adapter import Dialect, HandlerTable, Payload, VersionAdapter, translator
from evscada.gateway.ocpp201 import commands, mapping, report_mapping, smart_charging
from evscada.gateway.rpc import FrameProblem
from evscada.gateway.session import StationSession

table = HandlerTable()
on = table.on
# Alike in every version:
on("Heartbeat")(shared.heartbeat)
on("DataTransfer")(shared.data_transfer)
on("SecurityEventNotification")(shared.security_event)
on("SignCertificate")(shared.sign_certificate)


@on("BootNotification")
async def boot_notification(s: StationSession, p: Payload) -> Payload:
    return await shared.boot(s, mapping.boot_info(p))


@dataclasses.dataclass(slots=True)
class _Faults:
    """What one connection said about its faults: 2.0.1 reports a connector Faulted (StatusNotification) and why
    (NotifyEvent) in two messages, in either order; the connector's state gets both, as 1.6's errorCode and info."""

    reasons: dict[int, mapping.FaultReason] = dataclasses.field(default_factory=dict)  # by EVSE id
    faulted: dict[EvseRef, datetime] = dataclasses.field(default_factory=dict)  # connectors now Faulted: since


# Per connection: a reconnecting station repeats its status, and its reasons with it or in the next NotifyEvent.
_faults: weakref.WeakKeyDictionary[StationSession, _Faults] = weakref.WeakKeyDictionary()


def _faults_of(s: StationSession) -> _Faults:
    faults = _faults.get(s)
    if faults is None:
        faults = _faults[s] = _Faults()
    return faults


def _reason_for(faults: _Faults, evse: EvseRef) -> mapping.FaultReason | None:
    reason = faults.reasons.get(evse.evse_id)
    if reason is None or reason.evse.connector_id not in (0, evse.connector_id):
        return None
    return reason


def _with_reason(report: StatusReport, reason: mapping.FaultReason | None) -> StatusReport:
    if reason is None:
        return report
    return dataclasses.replace(report, error_code=reason.code, info=reason.info)


@on("StatusNotification")
async def status_notification(s: StationSession, p: Payload) -> Payload:
    report = mapping.status_report(p)
    faults = _faults_of(s)
    if report.status == ConnectorStatus.FAULTED:
        faults.faulted[report.evse] = report.timestamp
        report = _with_reason(report, _reason_for(faults, report.evse))
    else:
        faults.faulted.pop(report.evse, None)
    await s.services.stations.report_status(station_id=s.station_id, report=report)
    return {}


async def _record_fault_reasons(s: StationSession, p: Payload) -> None:
    """Keep why each EVSE is faulted; a connector already reported Faulted gets the reason at once (its state is
    reported again, Faulted, with the reason: the alarm and the station page then say what broke)."""
    faults = _faults_of(s)
    for reason in mapping.fault_reasons(p):
        if not reason.active:
            known = faults.reasons.get(reason.evse.evse_id)
            if known is not None and known.evse.connector_id in (0, reason.evse.connector_id):
                del faults.reasons[reason.evse.evse_id]
            continue
        faults.reasons[reason.evse.evse_id] = reason
        for evse, since in list(faults.faulted.items()):
            if _reason_for(faults, evse) is reason:
                report = StatusReport(evse=evse, status=ConnectorStatus.FAULTED, timestamp=max(since, reason.at))
                faults.faulted[evse] = report.timestamp
                await s.services.stations.report_status(station_id=s.station_id, report=_with_reason(report, reason))


@on("Authorize")
async def authorize(s: StationSession, p: Payload) -> Payload:
    id_token = mapping.id_token(p["idToken"])
    result = await s.services.authorization.authorize(station_id=s.station_id, id_token=id_token)
    return {"idTokenInfo": mapping.id_token_info(result)}


@on("TransactionEvent")
async def transaction_event(s: StationSession, p: Payload) -> Payload:
    outcome = await s.services.transactions.report(station_id=s.station_id, report=mapping.transaction_report(p))
    return mapping.transaction_event_result(p, outcome)


@on("MeterValues")
async def meter_values(s: StationSession, p: Payload) -> Payload:
    await s.services.meter_values.record(
        station_id=s.station_id,
        evse=mapping.meter_evse(p["evseId"]),
        station_transaction_id=None,  # 2.0.1 MeterValues are outside transactions; those come in TransactionEvent
        samples=mapping.samples(p["meterValue"]),
        message_key=s.message_key,
    )
    return {}


async def _request_status(s: StationSession, kind: str, p: Payload) -> Payload:
    return await shared.record(s, kind, p, mapping.request_summary(p["status"], p), status=p["status"])


@on("FirmwareStatusNotification")
async def firmware_status(s: StationSession, p: Payload) -> Payload:
    answer = await _request_status(s, "firmware_status", p)
    await shared.firmware_status(s, p)
    return answer


@on("PublishFirmwareStatusNotification")
async def publish_firmware_status(s: StationSession, p: Payload) -> Payload:
    answer = await _request_status(s, "publish_firmware_status", p)
    await shared.firmware_status(s, p, publish=True)
    return answer


@on("LogStatusNotification")
async def log_status(s: StationSession, p: Payload) -> Payload:
    answer = await _request_status(s, "log_status", p)
    await shared.file_status(s, p, diagnostics=False)
    return answer


@on("NotifyEvent")
async def notify_event(s: StationSession, p: Payload) -> Payload:
    message = shared_mapping.message(
        "event",
        p,
        s.services.clock.now(),
        summary=mapping.events_summary(p),
        at="generatedAt",
        problems=mapping.event_problems(p),
    )
    await s.services.messages.record(station_id=s.station_id, message=message)
    await _record_fault_reasons(s, p)
    return {}


@on("NotifyReport")
async def notify_report(s: StationSession, p: Payload) -> Payload:
    summary = mapping.part_summary("report", p, len(p.get("reportData", [])))
    message = shared_mapping.message("report", p, s.services.clock.now(), summary=summary, at="generatedAt")
    variables = report_mapping.report_variables(p, message.timestamp)
    await s.services.device_model.record_report(station_id=s.station_id, message=message, variables=variables)
    return {}


@on("NotifyMonitoringReport")
async def notify_monitoring_report(s: StationSession, p: Payload) -> Payload:
    summary = mapping.part_summary("monitoring report", p, len(p.get("monitor", [])))
    return await shared.record(s, "monitoring_report", p, summary, at="generatedAt")


@on("NotifyCustomerInformation")
async def notify_customer_information(s: StationSession, p: Payload) -> Payload:
    summary = mapping.part_summary("customer information", p, 1)
    return await shared.record(s, "customer_information", p, summary, at="generatedAt")


@on("NotifyDisplayMessages")
async def notify_display_messages(s: StationSession, p: Payload) -> Payload:
    summary = f"{len(p.get('messageInfo', []))} display message(s) for request {p['requestId']}"
    return await shared.record(s, "display_messages", p, summary)


@on("ReservationStatusUpdate")
async def reservation_status(s: StationSession, p: Payload) -> Payload:
    summary = f"reservation {p['reservationId']} {p['reservationUpdateStatus']}"
    await s.services.reservations.station_update(
        station_id=s.station_id,
        reservation_id=p["reservationId"],
        update=p["reservationUpdateStatus"],
        message=shared_mapping.message("reservation_status", p, s.services.clock.now(), summary=summary),
    )
    return {}


@on("NotifyChargingLimit")
async def notify_charging_limit(s: StationSession, p: Payload) -> Payload:
    summary = f"charging limit set by {p['chargingLimit']['chargingLimitSource']} (EVSE {p.get('evseId', 'all')})"
    message = shared_mapping.message("charging_limit", p, s.services.clock.now(), summary=summary)
    limit = smart_charging.charging_limit(p)
    await s.services.charging_reports.record_limit(station_id=s.station_id, limit=limit, message=message)
    return {}


@on("ClearedChargingLimit")
async def cleared_charging_limit(s: StationSession, p: Payload) -> Payload:
    summary = f"charging limit of {p['chargingLimitSource']} cleared (EVSE {p.get('evseId', 'all')})"
    message = shared_mapping.message("charging_limit_cleared", p, s.services.clock.now(), summary=summary)
    await s.services.charging_reports.record_limit_cleared(
        station_id=s.station_id, source=p["chargingLimitSource"], evse_id=p.get("evseId"), message=message
    )
    return {}


@on("ReportChargingProfiles")
async def report_charging_profiles(s: StationSession, p: Payload) -> Payload:
    summary = mapping.part_summary(f"charging profiles of EVSE {p['evseId']}", p, len(p["chargingProfile"]))
    message = shared_mapping.message("charging_profiles", p, s.services.clock.now(), summary=summary)
    profiles = smart_charging.reported_profiles(p, message.timestamp)
    await s.services.charging_reports.record_profiles(station_id=s.station_id, profiles=profiles, message=message)
    return {}


@on("NotifyEVChargingNeeds")
async def notify_ev_charging_needs(s: StationSession, p: Payload) -> Payload:
    message = shared_mapping.message(
        "ev_charging_needs", p, s.services.clock.now(), summary=f"EV charging needs on EVSE {p['evseId']}"
    )
    needs = smart_charging.ev_charging_needs(p)
    await s.services.charging_reports.record_needs(station_id=s.station_id, needs=needs, message=message)
    # Accepted: the needs are kept for the planner; a profile follows only when a plan changes the EVSE's limit.
    return {"status": "Accepted"}


@on("NotifyEVChargingSchedule")
async def notify_ev_charging_schedule(s: StationSession, p: Payload) -> Payload:
    # Accepted means "received and processed", not approval of the EV's schedule (2.0.1 K17).
    await shared.record(s, "ev_charging_schedule", p, f"EV charging schedule on EVSE {p['evseId']}", at="timeBase")
    return {"status": "Accepted"}


@on("Get15118EVCertificate")
async def get_15118_ev_certificate(s: StationSession, p: Payload) -> Payload:
    # No ISO 15118 Plug & Charge back end yet: the EV's request is kept and answered Failed.
    await shared.record(s, "ev_certificate_request", p, f"ISO 15118 {p['action']} (no PKI configured)")
    return {"status": "Failed", "exiResponse": ""}


@on("GetCertificateStatus")
async def get_certificate_status(s: StationSession, p: Payload) -> Payload:
    """The OCSP response from the configured responder, or Failed with why (the station then applies its own rules
    for certificates it cannot check)."""
    data = p["ocspRequestData"]
    answer = await s.services.certificates.certificate_status(
        hash_algorithm=data["hashAlgorithm"],
        issuer_name_hash=data["issuerNameHash"],
        issuer_key_hash=data["issuerKeyHash"],
        serial_number=data["serialNumber"],
    )
    summary = f"OCSP status request for serial {data['serialNumber']}: {answer.status}"
    await shared.record(s, "certificate_status_request", p, summary, status=answer.status)
    if answer.ocsp_result is not None:
        return {"status": answer.status, "ocspResult": answer.ocsp_result}
    reason = answer.reason or "no OCSP response"
    return {"status": answer.status, "statusInfo": {"reasonCode": "NoOCSPResponse", "additionalInfo": reason[:512]}}


DIALECT = Dialect(
    frame_codes={
        FrameProblem.NOT_JSON: "RpcFrameworkError",
        FrameProblem.NOT_AN_ARRAY: "RpcFrameworkError",
        FrameProblem.BAD_UNIQUE_ID: "RpcFrameworkError",
        FrameProblem.BAD_STRUCTURE: "RpcFrameworkError",
        FrameProblem.UNKNOWN_MESSAGE_TYPE: "MessageTypeNotSupported",
        FrameProblem.NUL_CHARACTER: "PropertyConstraintViolation",  # well-formed, but a value no field may hold
        FrameProblem.NUMBER_TOO_LARGE: "TypeConstraintViolation",  # beyond the decimal (or integer) type
    },
    format_violation="FormatViolation",
    occurrence_violation="OccurrenceConstraintViolation",
)

ADAPTER = VersionAdapter(
    subprotocol="ocpp2.0.1",
    version="2.0.1",
    schemas=validation.OCPP201,
    dialect=DIALECT,
    handlers=table.handlers,
    requires_acceptance=frozenset({"Authorize", "TransactionEvent"}),
    deduplicated=frozenset({"MeterValues"}),
    commands=translator(commands.BUILDERS, "2.0.1", commands.to_reply),
)

# 2.1 extends the 2.0.1 messages with optional fields only (for what a station reports and the CSMS answers
# here), so the same handlers serve it; its schemas still check every frame. 2.1-only actions (BatterySwap,
# NotifyDERAlarm, NotifySettlement ...) have no handler yet and are answered NotSupported.
ADAPTER_21 = dataclasses.replace(ADAPTER, subprotocol="ocpp2.1", version="2.1", schemas=validation.OCPP21)
