"""OCPP 1.6 station-initiated messages: map in, call the core, map out."""

from __future__ import annotations

from evscada.gateway import validation
from evscada.gateway.adapter import Dialect, HandlerTable, Payload, VersionAdapter, translator
from evscada.gateway.ocpp16 import commands, mapping
from evscada.gateway.rpc import FrameProblem, format_datetime
from evscada.gateway.session import StationSession

table = HandlerTable()
on = table.on


@on("BootNotification")
async def boot_notification(s: StationSession, p: Payload) -> Payload:
    decision = await s.core.stations.boot(station_id=s.station_id, info=mapping.boot_info(p))
    s.registration = decision.status
    return mapping.boot_result(decision)


@on("Heartbeat")
async def heartbeat(s: StationSession, p: Payload) -> Payload:
    return {"currentTime": format_datetime(s.core.clock.now())}  # last-seen is kept by the session


@on("StatusNotification")
async def status_notification(s: StationSession, p: Payload) -> Payload:
    await s.core.stations.report_status(station_id=s.station_id, report=mapping.status_report(p, s.core.clock.now()))
    return {}


@on("Authorize")
async def authorize(s: StationSession, p: Payload) -> Payload:
    result = await s.core.authorization.authorize(station_id=s.station_id, id_token=mapping.id_tag(p["idTag"]))
    return {"idTagInfo": mapping.id_tag_info(result)}


@on("StartTransaction")
async def start_transaction(s: StationSession, p: Payload) -> Payload:
    outcome = await s.core.transactions.report(station_id=s.station_id, report=mapping.start_report(p))
    authorization = outcome.authorization
    if authorization is None:  # a repeat: answer as before, from the stored record
        status = outcome.transaction.auth_status or "Invalid"
        id_tag_info: Payload = {"status": status}
    else:
        id_tag_info = mapping.id_tag_info(authorization)
    return {"transactionId": outcome.transaction.pk, "idTagInfo": id_tag_info}


@on("StopTransaction")
async def stop_transaction(s: StationSession, p: Payload) -> Payload:
    outcome = await s.core.transactions.report(station_id=s.station_id, report=mapping.stop_report(p))
    if outcome.authorization is not None:
        return {"idTagInfo": mapping.id_tag_info(outcome.authorization)}
    return {}


@on("MeterValues")
async def meter_values(s: StationSession, p: Payload) -> Payload:
    transaction_id = p.get("transactionId")
    await s.core.meter_values.record(
        station_id=s.station_id,
        evse=mapping.evse_of(p["connectorId"]),
        station_transaction_id=str(transaction_id) if transaction_id is not None else None,
        samples=mapping.samples(p["meterValue"]),
        message_key=s.message_key,
    )
    return {}


@on("DataTransfer")
async def data_transfer(s: StationSession, p: Payload) -> Payload:
    summary = f"{p['vendorId']} {p.get('messageId', '')}".strip()
    await s.core.messages.record(
        station_id=s.station_id, message=mapping.message("data_transfer", p, s.core.clock.now(), summary=summary)
    )
    return {"status": "Accepted" if s.core.messages.knows_vendor(p["vendorId"]) else "UnknownVendorId"}


async def _record(s: StationSession, kind: str, p: Payload, summary: str, at: str | None = None) -> Payload:
    await s.core.messages.record(
        station_id=s.station_id, message=mapping.message(kind, p, s.core.clock.now(), summary=summary, at=at)
    )
    return {}


@on("FirmwareStatusNotification")
async def firmware_status(s: StationSession, p: Payload) -> Payload:
    return await _record(s, "firmware_status", p, p["status"])


@on("DiagnosticsStatusNotification")
async def diagnostics_status(s: StationSession, p: Payload) -> Payload:
    return await _record(s, "diagnostics_status", p, p["status"])


@on("LogStatusNotification")
async def log_status(s: StationSession, p: Payload) -> Payload:
    return await _record(s, "log_status", p, f"{p['status']} (request {p.get('requestId')})")


@on("SignedFirmwareStatusNotification")
async def signed_firmware_status(s: StationSession, p: Payload) -> Payload:
    return await _record(s, "firmware_status", p, p["status"])


@on("SecurityEventNotification")
async def security_event(s: StationSession, p: Payload) -> Payload:
    return await _record(s, "security_event", p, f"{p['type']}: {p.get('techInfo', '')}".strip(": "), at="timestamp")


@on("SignCertificate")
async def sign_certificate(s: StationSession, p: Payload) -> Payload:
    # No certificate authority is configured yet (it comes with security profile 3): the CSR is kept, refused.
    await _record(s, "sign_certificate", p, "certificate signing request (no CA configured)")
    return {"status": "Rejected"}


DIALECT = Dialect(
    frame_codes={
        FrameProblem.NOT_JSON: "FormationViolation",
        FrameProblem.NOT_AN_ARRAY: "FormationViolation",
        FrameProblem.BAD_UNIQUE_ID: "FormationViolation",
        FrameProblem.BAD_STRUCTURE: "ProtocolError",
        FrameProblem.UNKNOWN_MESSAGE_TYPE: "ProtocolError",
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
