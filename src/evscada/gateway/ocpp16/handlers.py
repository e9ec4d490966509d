"""OCPP 1.6 station-initiated messages: map in, call the core, map out."""

from __future__ import annotations

from evscada.gateway import shared_handlers as shared
from evscada.gateway import validation
from evscada.gateway.adapter import Dialect, HandlerTable, Payload, VersionAdapter, translator
from evscada.gateway.ocpp16 import commands, mapping
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


@on("StatusNotification")
async def status_notification(s: StationSession, p: Payload) -> Payload:
    report = mapping.status_report(p, s.services.clock.now())
    await s.services.stations.report_status(station_id=s.station_id, report=report)
    return {}


@on("Authorize")
async def authorize(s: StationSession, p: Payload) -> Payload:
    result = await s.services.authorization.authorize(station_id=s.station_id, id_token=mapping.id_tag(p["idTag"]))
    return {"idTagInfo": mapping.id_tag_info(result)}


@on("StartTransaction")
async def start_transaction(s: StationSession, p: Payload) -> Payload:
    outcome = await s.services.transactions.report(station_id=s.station_id, report=mapping.start_report(p))
    authorization = outcome.authorization
    if authorization is None:  # a repeat: answer as before, from the stored record
        status = outcome.transaction.auth_status or "Invalid"
        id_tag_info: Payload = {"status": status}
    else:
        id_tag_info = mapping.id_tag_info(authorization)
    return {"transactionId": outcome.transaction.pk, "idTagInfo": id_tag_info}


@on("StopTransaction")
async def stop_transaction(s: StationSession, p: Payload) -> Payload:
    outcome = await s.services.transactions.report(station_id=s.station_id, report=mapping.stop_report(p, s.station_id))
    if outcome.authorization is not None:
        return {"idTagInfo": mapping.id_tag_info(outcome.authorization)}
    return {}


@on("MeterValues")
async def meter_values(s: StationSession, p: Payload) -> Payload:
    transaction_id = p.get("transactionId")
    await s.services.meter_values.record(
        station_id=s.station_id,
        evse=mapping.evse_of(p["connectorId"]),
        station_transaction_id=str(transaction_id) if transaction_id is not None else None,
        samples=mapping.samples(p["meterValue"], s.station_id),
        message_key=s.message_key,
    )
    return {}


@on("FirmwareStatusNotification")
async def firmware_status(s: StationSession, p: Payload) -> Payload:
    answer = await shared.record(s, "firmware_status", p, p["status"], status=p["status"])
    await shared.firmware_status(s, p)
    return answer


@on("DiagnosticsStatusNotification")
async def diagnostics_status(s: StationSession, p: Payload) -> Payload:
    answer = await shared.record(s, "diagnostics_status", p, p["status"], status=p["status"])
    await shared.file_status(s, p, diagnostics=True)
    return answer


@on("LogStatusNotification")
async def log_status(s: StationSession, p: Payload) -> Payload:
    summary = f"{p['status']} (request {p.get('requestId')})"
    answer = await shared.record(s, "log_status", p, summary, status=p["status"])
    await shared.file_status(s, p, diagnostics=False)
    return answer


@on("SignedFirmwareStatusNotification")
async def signed_firmware_status(s: StationSession, p: Payload) -> Payload:
    answer = await shared.record(s, "firmware_status", p, p["status"], status=p["status"])
    await shared.firmware_status(s, p)
    return answer


DIALECT = Dialect(
    frame_codes={
        FrameProblem.NOT_JSON: "FormationViolation",
        FrameProblem.NOT_AN_ARRAY: "FormationViolation",
        FrameProblem.BAD_UNIQUE_ID: "FormationViolation",
        FrameProblem.BAD_STRUCTURE: "ProtocolError",
        FrameProblem.UNKNOWN_MESSAGE_TYPE: "ProtocolError",
        FrameProblem.NUL_CHARACTER: "PropertyConstraintViolation",  # well-formed, but a value no field may hold
        FrameProblem.NUMBER_TOO_LARGE: "TypeConstraintViolation",  # beyond the decimal (or integer) type
    },
    format_violation="FormationViolation",
    occurrence_violation="OccurenceConstraintViolation",  # sic: OCPP-J 1.6 spells it so
)

ADAPTER = VersionAdapter(
    subprotocol="ocpp1.6",
    version="1.6",
    schemas=validation.OCPP16,
    dialect=DIALECT,
    handlers=table.handlers,
    requires_acceptance=frozenset({"Authorize", "StartTransaction"}),
    deduplicated=frozenset({"MeterValues"}),
    commands=translator(commands.BUILDERS, "1.6", commands.to_reply),
)
