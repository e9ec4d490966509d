"""Core commands as OCPP 1.6 CALLs, and the answers back; pure functions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ocpp.v16.enums import MessageTrigger

from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported
from evscada.gateway import shared_commands
from evscada.gateway.adapter import Payload, plain_reply
from evscada.gateway.ocpp16 import mapping, smart_charging
from evscada.gateway.rpc import format_datetime

ID_TAG_LENGTH = 20  # 1.6 idTag is CiString20Type
# What TriggerMessage may ask for: the library's MessageTrigger also holds the security extension's
# ExtendedTriggerMessage values, which TriggerMessage's schema refuses.
TRIGGERS = frozenset(m.value for m in MessageTrigger) - {"LogStatusNotification", "SignChargePointCertificate"}


def _remote_start(cmd: c.RemoteStart) -> tuple[str, Payload]:
    if len(cmd.id_token.value) > ID_TAG_LENGTH:
        raise CommandNotSupported(f"id_token: {cmd.id_token.value!r} is longer than a 1.6 idTag (20 characters)")
    payload: Payload = {"idTag": cmd.id_token.value}
    if cmd.evse_id is not None:
        payload["connectorId"] = cmd.evse_id  # 1.6 connector n is EVSE n
    if cmd.charging_profile is not None:  # a TxProfile without a transactionId (core.energy checked it)
        payload["chargingProfile"] = smart_charging.profile_payload(cmd.charging_profile)
    return "RemoteStartTransaction", payload


def _remote_stop(cmd: c.RemoteStop) -> tuple[str, Payload]:
    if not cmd.station_transaction_id.isdigit():
        raise CommandNotSupported(f"{cmd.station_transaction_id!r} is not a 1.6 transaction id (an integer)")
    return "RemoteStopTransaction", {"transactionId": int(cmd.station_transaction_id)}


def _availability(cmd: c.ChangeAvailability) -> tuple[str, Payload]:
    return "ChangeAvailability", {"connectorId": cmd.evse_id, "type": "Operative" if cmd.operative else "Inoperative"}


def _reset(cmd: c.Reset) -> tuple[str, Payload]:
    if cmd.evse_id is not None:  # sent anyway, it would reset the whole station
        raise CommandNotSupported("evse_id: an OCPP 1.6 station resets as a whole; resetting one EVSE needs 2.0.1")
    return "Reset", {"type": "Hard" if cmd.kind == c.ResetKind.HARD else "Soft"}


def _trigger(cmd: c.TriggerMessage) -> tuple[str, Payload]:
    # 1.6 reports logs as diagnostics.
    requested = "DiagnosticsStatusNotification" if cmd.message == "LogStatusNotification" else cmd.message
    if requested not in TRIGGERS:
        raise CommandNotSupported(
            f"message: an OCPP 1.6 station can be asked for {', '.join(sorted(TRIGGERS))}; not {cmd.message}"
        )
    payload: Payload = {"requestedMessage": requested}
    if cmd.evse_id is not None:
        payload["connectorId"] = cmd.evse_id
    return "TriggerMessage", payload


def _data_transfer(cmd: c.DataTransfer) -> tuple[str, Payload]:
    payload: Payload = {"vendorId": cmd.vendor_id}
    if cmd.message_id is not None:
        payload["messageId"] = cmd.message_id
    if cmd.data is not None:  # 1.6 data is a string
        payload["data"] = cmd.data if isinstance(cmd.data, str) else json.dumps(cmd.data, separators=(",", ":"))
    return "DataTransfer", payload


def _get_settings(cmd: c.GetSettings) -> tuple[str, Payload]:
    return "GetConfiguration", {"key": [setting.name for setting in cmd.settings]} if cmd.settings else {}


def _change_setting(cmd: c.ChangeSetting) -> tuple[str, Payload]:
    return "ChangeConfiguration", {"key": cmd.setting.name, "value": cmd.value}


def _list_entry(entry: c.LocalListEntry) -> Payload:
    item: Payload = {"idTag": entry.value}
    if entry.status is not None:  # no idTagInfo: remove the idTag (differential updates)
        info: Payload = {"status": mapping.auth_status(entry.status)}
        if entry.expires_at is not None:
            info["expiryDate"] = format_datetime(entry.expires_at)
        if entry.group_id is not None and len(entry.group_id) <= ID_TAG_LENGTH:
            info["parentIdTag"] = entry.group_id
        item["idTagInfo"] = info
    return item


def _send_local_list(cmd: c.SendLocalList) -> tuple[str, Payload]:
    # Tokens longer than a 1.6 idTag can never be presented by a 1.6 station: they are left out of its list.
    entries = [_list_entry(e) for e in cmd.entries if len(e.value) <= ID_TAG_LENGTH]
    return "SendLocalList", {
        "listVersion": cmd.version,
        "updateType": "Full" if cmd.full else "Differential",
        "localAuthorizationList": entries,
    }


def _reserve_now(cmd: c.ReserveNow) -> tuple[str, Payload]:
    if cmd.connector_type is not None:
        raise CommandNotSupported("connector_type: OCPP 1.6 reserves a connector by its number (evse_id) only")
    if len(cmd.id_token.value) > ID_TAG_LENGTH:
        raise CommandNotSupported(f"id_token: {cmd.id_token.value!r} is longer than a 1.6 idTag (20 characters)")
    payload: Payload = {
        "connectorId": cmd.evse_id or 0,  # 0: any connector (ReserveConnectorZeroSupported)
        "expiryDate": format_datetime(cmd.expires_at),
        "idTag": cmd.id_token.value,
        "reservationId": cmd.reservation_id,
    }
    if cmd.group_id is not None and len(cmd.group_id) <= ID_TAG_LENGTH:
        payload["parentIdTag"] = cmd.group_id
    return "ReserveNow", payload


def _get_diagnostics(cmd: c.GetDiagnostics) -> tuple[str, Payload]:
    payload: Payload = {"location": cmd.location}
    if cmd.retries is not None:
        payload["retries"] = cmd.retries
    if cmd.retry_interval_s is not None:
        payload["retryInterval"] = cmd.retry_interval_s
    if cmd.start_time is not None:
        payload["startTime"] = format_datetime(cmd.start_time)
    if cmd.stop_time is not None:
        payload["stopTime"] = format_datetime(cmd.stop_time)
    return "GetDiagnostics", payload


def _update_firmware(cmd: c.UpdateFirmware) -> tuple[str, Payload]:
    """Signed: the security extension's SignedUpdateFirmware; otherwise the core profile's UpdateFirmware."""
    if cmd.signing_certificate is not None or cmd.signature is not None:
        if not cmd.signed:
            raise CommandNotSupported("a signed 1.6 update needs both signing_certificate and signature")
        return shared_commands.firmware_update(cmd, "SignedUpdateFirmware")
    payload: Payload = {"location": cmd.location, "retrieveDate": format_datetime(cmd.retrieve_at)}
    if cmd.retries is not None:
        payload["retries"] = cmd.retries
    if cmd.retry_interval_s is not None:
        payload["retryInterval"] = cmd.retry_interval_s
    return "UpdateFirmware", payload


def _no_publishing(cmd: c.Command) -> tuple[str, Payload]:
    raise CommandNotSupported(f"{cmd.name} is OCPP 2.0.1 only (local controllers); a 1.6 station takes update_firmware")


# What the 1.6 security extension's ExtendedTriggerMessage may ask for.
EXTENDED_TRIGGERS = frozenset(
    {
        "BootNotification",
        "LogStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "SignChargePointCertificate",
        "StatusNotification",
    }
)
ROOT_CERTIFICATES_16 = frozenset({c.CertificateUse.CSMS_ROOT, c.CertificateUse.MANUFACTURER_ROOT})


def _extended_trigger(cmd: c.ExtendedTriggerMessage) -> tuple[str, Payload]:
    requested = "SignChargePointCertificate" if cmd.message == "SignChargingStationCertificate" else cmd.message
    if requested not in EXTENDED_TRIGGERS:
        raise CommandNotSupported(
            f"message: ExtendedTriggerMessage asks for {', '.join(sorted(EXTENDED_TRIGGERS))}; not {cmd.message}"
        )
    payload: Payload = {"requestedMessage": requested}
    if cmd.evse_id is not None:
        payload["connectorId"] = cmd.evse_id
    return "ExtendedTriggerMessage", payload


def _root_type(use: c.CertificateUse) -> str:
    if use not in ROOT_CERTIFICATES_16:
        raise CommandNotSupported(
            f"certificate_type: a 1.6 station keeps {' and '.join(sorted(ROOT_CERTIFICATES_16))} only; not {use}"
        )
    return str(use)


def _installed_ids(cmd: c.GetInstalledCertificateIds) -> tuple[str, Payload]:
    if len(cmd.certificate_types) != 1:
        raise CommandNotSupported("certificate_types: a 1.6 station is asked for exactly one certificate type")
    return "GetInstalledCertificateIds", {"certificateType": _root_type(cmd.certificate_types[0])}


def _security_profile(cmd: c.SetSecurityProfile) -> tuple[str, Payload]:
    return "ChangeConfiguration", {"key": "SecurityProfile", "value": str(cmd.profile)}


def _no_device_model(cmd: c.Command) -> tuple[str, Payload]:
    raise CommandNotSupported(
        f"{cmd.name} is not supported by OCPP 1.6 (it has no device model); read its keys with get_configuration"
    )


BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    **shared_commands.BUILDERS,
    **smart_charging.BUILDERS,
    c.SendLocalList: _send_local_list,
    c.ReserveNow: _reserve_now,
    c.GetDiagnostics: _get_diagnostics,
    c.UpdateFirmware: _update_firmware,
    c.PublishFirmware: _no_publishing,
    c.UnpublishFirmware: _no_publishing,
    c.GetBaseReport: _no_device_model,
    c.GetReport: _no_device_model,
    c.GetSettings: _get_settings,
    c.ChangeSetting: _change_setting,
    c.RemoteStart: _remote_start,
    c.RemoteStop: _remote_stop,
    c.ChangeAvailability: _availability,
    c.Reset: _reset,
    c.UnlockConnector: lambda cmd: ("UnlockConnector", {"connectorId": cmd.evse_id}),
    c.TriggerMessage: _trigger,
    c.DataTransfer: _data_transfer,
    c.CertificateSigned: lambda cmd: ("CertificateSigned", {"certificateChain": cmd.certificate_chain}),
    c.InstallCertificate: lambda cmd: (
        "InstallCertificate",
        {"certificateType": _root_type(cmd.certificate_type), "certificate": cmd.certificate},
    ),
    c.GetInstalledCertificateIds: _installed_ids,
    c.ExtendedTriggerMessage: _extended_trigger,
    # The 1.6 security whitepaper: AuthorizationKey carries the password hex-encoded; the station decodes it.
    c.SetStationPassword: lambda cmd: (
        "ChangeConfiguration",
        {"key": "AuthorizationKey", "value": cmd.password.encode().hex()},
    ),
    c.SetSecurityProfile: _security_profile,
}


def to_reply(command: c.Command, payload: Payload) -> c.CommandReply:
    """GetConfiguration has no status word: its answer is the keys, known and unknown."""
    if isinstance(command, c.GetSettings):
        settings = [
            {
                "component": None,
                "name": key["key"],
                "value": key.get("value"),
                "readonly": key["readonly"],
                "status": "Accepted",
            }
            for key in payload.get("configurationKey", [])
        ] + [
            {"component": None, "name": name, "value": None, "readonly": None, "status": "UnknownKey"}
            for name in payload.get("unknownKey", [])
        ]
        return c.CommandReply(status="Accepted", data={"settings": settings})
    if isinstance(command, c.GetLocalListVersion):
        return c.CommandReply(status="Accepted", data={"version": payload["listVersion"]})
    if isinstance(command, c.GetCompositeSchedule):
        return smart_charging.composite_reply(command, payload)
    if isinstance(command, c.GetDiagnostics):  # no status word: a file name, or none when there is nothing
        name = payload.get("fileName")
        return c.CommandReply(status="Accepted" if name else "NoFile", data={"fileName": name} if name else {})
    return plain_reply(command, payload)
