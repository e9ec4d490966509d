"""Core commands whose CALL reads the same in every OCPP version; each version's BUILDERS starts from these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evscada.core.control import commands as c
from evscada.gateway.adapter import Payload
from evscada.gateway.rpc import format_datetime


def get_log(cmd: c.GetLog) -> tuple[str, Payload]:
    """GetLog: the 1.6 security extension's and 2.0.1's read the same."""
    log: Payload = {"remoteLocation": cmd.location}
    if cmd.oldest is not None:
        log["oldestTimestamp"] = format_datetime(cmd.oldest)
    if cmd.latest is not None:
        log["latestTimestamp"] = format_datetime(cmd.latest)
    payload: Payload = {"logType": str(cmd.log_type), "requestId": cmd.request_id or 0, "log": log}
    if cmd.retries is not None:
        payload["retries"] = cmd.retries
    if cmd.retry_interval_s is not None:
        payload["retryInterval"] = cmd.retry_interval_s
    return "GetLog", payload


def firmware_update(cmd: c.UpdateFirmware, action: str) -> tuple[str, Payload]:
    """1.6 SignedUpdateFirmware and 2.0.1 UpdateFirmware: a requestId and a firmware object, alike in both."""
    firmware: Payload = {"location": cmd.location, "retrieveDateTime": format_datetime(cmd.retrieve_at)}
    if cmd.install_at is not None:
        firmware["installDateTime"] = format_datetime(cmd.install_at)
    if cmd.signing_certificate is not None:
        firmware["signingCertificate"] = cmd.signing_certificate
    if cmd.signature is not None:
        firmware["signature"] = cmd.signature
    payload: Payload = {"requestId": cmd.request_id or 0, "firmware": firmware}
    if cmd.retries is not None:
        payload["retries"] = cmd.retries
    if cmd.retry_interval_s is not None:
        payload["retryInterval"] = cmd.retry_interval_s
    return action, payload


def certificate_hash(ref: c.CertificateHash) -> Payload:
    """CertificateHashData, alike in the 1.6 security extension and 2.0.1."""
    return {
        "hashAlgorithm": ref.hash_algorithm,
        "issuerNameHash": ref.issuer_name_hash,
        "issuerKeyHash": ref.issuer_key_hash,
        "serialNumber": ref.serial_number,
    }


BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    c.DeleteCertificate: lambda cmd: ("DeleteCertificate", {"certificateHashData": certificate_hash(cmd.certificate)}),
    c.GetLocalListVersion: lambda cmd: ("GetLocalListVersion", {}),
    c.CancelReservation: lambda cmd: ("CancelReservation", {"reservationId": cmd.reservation_id}),
    c.ClearCache: lambda cmd: ("ClearCache", {}),
    c.GetLog: get_log,
}
