"""Station-initiated messages that every OCPP version handles alike; each version's handlers.py registers them.

Where only the payload's shape differs (BootNotification), the version reads it and hands the core value here.
"""

from __future__ import annotations

from evscada.core.model import BootInfo
from evscada.gateway import shared_mapping
from evscada.gateway.adapter import Payload
from evscada.gateway.rpc import format_datetime
from evscada.gateway.session import StationSession


async def boot(s: StationSession, info: BootInfo) -> Payload:
    """BootNotification once the version has read it: the decision also sets what the session may do."""
    decision = await s.services.stations.boot(station_id=s.station_id, info=info)
    s.registration = decision.status
    return shared_mapping.boot_result(decision)


async def heartbeat(s: StationSession, p: Payload) -> Payload:
    return {"currentTime": format_datetime(s.services.clock.now())}  # last-seen is kept by the session


async def record(
    s: StationSession, kind: str, p: Payload, summary: str, *, at: str | None = None, status: str | None = None
) -> Payload:
    """Keep a station report as a record; the empty answer is what most notifications get."""
    message = shared_mapping.message(kind, p, s.services.clock.now(), summary=summary, at=at, status=status)
    await s.services.messages.record(station_id=s.station_id, message=message)
    return {}


async def data_transfer(s: StationSession, p: Payload) -> Payload:
    await record(s, "data_transfer", p, shared_mapping.data_transfer_summary(p))
    return {"status": "Accepted" if s.services.messages.knows_vendor(p["vendorId"]) else "UnknownVendorId"}


async def security_event(s: StationSession, p: Payload) -> Payload:
    summary = shared_mapping.security_event_summary(p)
    return await record(s, "security_event", p, summary, at="timestamp", status=p["type"])


async def sign_certificate(s: StationSession, p: Payload) -> Payload:
    """SignCertificate: the CSR checked and kept (core/certificates); CertificateSigned follows once answered."""
    certificate_type = p.get("certificateType")  # 2.0.1 only; 1.6 asks for its charge point certificate
    accepted = await s.services.certificates.signing_request(
        station_id=s.station_id, csr=p["csr"], certificate_type=certificate_type
    )
    status = "Accepted" if accepted else "Rejected"
    await record(s, "sign_certificate", p, f"certificate signing request: {status}", status=status)
    return {"status": status}


async def firmware_status(s: StationSession, p: Payload, *, publish: bool = False) -> None:
    """A (Signed/Publish)FirmwareStatusNotification also moves the firmware update it concerns (core/firmware)."""
    request_id = p.get("requestId")
    await s.services.firmware.station_reported(
        station_id=s.station_id,
        word=p["status"],
        request_id=request_id if isinstance(request_id, int) else None,
        publish=publish,
    )


async def file_status(s: StationSession, p: Payload, *, diagnostics: bool) -> None:
    """A Diagnostics/LogStatusNotification also moves the file request it concerns (core/files)."""
    request_id = p.get("requestId")
    await s.services.files.station_reported(
        station_id=s.station_id,
        word=p["status"],
        request_id=request_id if isinstance(request_id, int) else None,
        diagnostics=diagnostics,
    )
