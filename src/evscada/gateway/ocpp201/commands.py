"""Core commands as OCPP 2.0.1 CALLs, and the answers back; pure functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp.v201.enums import MessageTriggerEnumType

from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported
from evscada.gateway import shared_commands
from evscada.gateway.adapter import Payload, plain_reply
from evscada.gateway.ocpp201 import mapping, smart_charging
from evscada.gateway.rpc import format_datetime

TRIGGERS = frozenset(m.value for m in MessageTriggerEnumType)  # what TriggerMessage may ask for


def _remote_start(cmd: c.RemoteStart) -> tuple[str, Payload]:
    payload: Payload = {"idToken": mapping.id_token_payload(cmd.id_token), "remoteStartId": cmd.remote_start_id or 0}
    if cmd.evse_id is not None:
        payload["evseId"] = cmd.evse_id
    if cmd.charging_profile is not None:  # a TxProfile without a transactionId (core.energy checked it)
        payload["chargingProfile"] = smart_charging.profile_payload(cmd.charging_profile)
    return "RequestStartTransaction", payload


def _availability(cmd: c.ChangeAvailability) -> tuple[str, Payload]:
    payload: Payload = {"operationalStatus": "Operative" if cmd.operative else "Inoperative"}
    if cmd.evse_id:
        payload["evse"] = {"id": cmd.evse_id}
        if cmd.connector_id:
            payload["evse"]["connectorId"] = cmd.connector_id
    return "ChangeAvailability", payload


def _reset(cmd: c.Reset) -> tuple[str, Payload]:
    payload: Payload = {"type": "Immediate" if cmd.kind == c.ResetKind.HARD else "OnIdle"}
    if cmd.evse_id is not None:
        payload["evseId"] = cmd.evse_id
    return "Reset", payload


def _trigger(cmd: c.TriggerMessage) -> tuple[str, Payload]:
    # 2.0.1 reports diagnostics as logs.
    requested = "LogStatusNotification" if cmd.message == "DiagnosticsStatusNotification" else cmd.message
    if requested not in TRIGGERS:
        raise CommandNotSupported(
            f"message: an OCPP 2.0.1 station can be asked for {', '.join(sorted(TRIGGERS))}; not {cmd.message}"
        )
    payload: Payload = {"requestedMessage": requested}
    if cmd.evse_id is not None:
        payload["evse"] = {"id": cmd.evse_id}
    return "TriggerMessage", payload


def _data_transfer(cmd: c.DataTransfer) -> tuple[str, Payload]:
    payload: Payload = {"vendorId": cmd.vendor_id}
    if cmd.message_id is not None:
        payload["messageId"] = cmd.message_id
    if cmd.data is not None:
        payload["data"] = cmd.data
    return "DataTransfer", payload


def _variable(setting: c.SettingRef) -> Payload:
    if not setting.component:
        raise CommandNotSupported(f"OCPP 2.0.1 needs the component of variable {setting.name!r}")
    component: Payload = {"name": setting.component}
    if setting.evse_id is not None:
        component["evse"] = {"id": setting.evse_id}
    if setting.instance is not None:
        component["instance"] = setting.instance
    return {"component": component, "variable": {"name": setting.name}}


def _get_settings(cmd: c.GetSettings) -> tuple[str, Payload]:
    if not cmd.settings:
        raise CommandNotSupported("OCPP 2.0.1 reads named variables only; a full report is GetBaseReport")
    return "GetVariables", {"getVariableData": [_variable(setting) for setting in cmd.settings]}


def _change_setting(cmd: c.ChangeSetting) -> tuple[str, Payload]:
    return "SetVariables", {"setVariableData": [{**_variable(cmd.setting), "attributeValue": cmd.value}]}


ID_TOKEN_LENGTH = 36  # 2.0.1 idToken is identifierString(36)
# IdTokenEnumType; a token table type outside it is sent as Central (issued by the CSMS).
ID_TOKEN_TYPES = frozenset(
    {"Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"}
)


def _list_entry(entry: c.LocalListEntry) -> Payload:
    token_type = entry.type if entry.type in ID_TOKEN_TYPES else "Central"
    item: Payload = {"idToken": {"idToken": entry.value, "type": token_type}}
    if entry.status is not None:  # no idTokenInfo: remove the token (differential updates)
        info: Payload = {"status": entry.status}
        if entry.expires_at is not None:
            info["cacheExpiryDateTime"] = format_datetime(entry.expires_at)
        if entry.group_id is not None and len(entry.group_id) <= ID_TOKEN_LENGTH:
            info["groupIdToken"] = {"idToken": entry.group_id, "type": "Central"}
        item["idTokenInfo"] = info
    return item


def _send_local_list(cmd: c.SendLocalList) -> tuple[str, Payload]:
    payload: Payload = {"versionNumber": cmd.version, "updateType": "Full" if cmd.full else "Differential"}
    # Tokens longer than a 2.0.1 idToken can never be presented by the station: they are left out.
    entries = [_list_entry(e) for e in cmd.entries if len(e.value) <= ID_TOKEN_LENGTH]
    if entries:  # 2.0.1 forbids an empty array: no list is the empty list
        payload["localAuthorizationList"] = entries
    return "SendLocalList", payload


def _reserve_now(cmd: c.ReserveNow) -> tuple[str, Payload]:
    if len(cmd.id_token.value) > ID_TOKEN_LENGTH:
        raise CommandNotSupported(f"id_token: {cmd.id_token.value!r} is longer than a 2.0.1 idToken (36 characters)")
    payload: Payload = {
        "id": cmd.reservation_id,
        "expiryDateTime": format_datetime(cmd.expires_at),
        "idToken": mapping.id_token_payload(cmd.id_token),
    }
    if cmd.evse_id:  # absent: any EVSE
        payload["evseId"] = cmd.evse_id
    if cmd.connector_type is not None:
        payload["connectorType"] = cmd.connector_type
    if cmd.group_id is not None and len(cmd.group_id) <= ID_TOKEN_LENGTH:
        payload["groupIdToken"] = {"idToken": cmd.group_id, "type": "Central"}
    return "ReserveNow", payload


def _component(ref: c.ComponentVariableRef) -> Payload:
    component: Payload = {"name": ref.component}
    if ref.component_instance is not None:
        component["instance"] = ref.component_instance
    if ref.evse_id is not None:
        component["evse"] = {"id": ref.evse_id}
        if ref.connector_id is not None:
            component["evse"]["connectorId"] = ref.connector_id
    item: Payload = {"component": component}
    if ref.variable is not None:
        item["variable"] = {"name": ref.variable}
        if ref.variable_instance is not None:
            item["variable"]["instance"] = ref.variable_instance
    return item


def _get_report(cmd: c.GetReport) -> tuple[str, Payload]:
    payload: Payload = {"requestId": cmd.request_id or 0}
    if cmd.criteria:
        payload["componentCriteria"] = list(cmd.criteria)
    if cmd.items:
        payload["componentVariable"] = [_component(ref) for ref in cmd.items]
    return "GetReport", payload


def _publish_firmware(cmd: c.PublishFirmware) -> tuple[str, Payload]:
    payload: Payload = {"location": cmd.location, "checksum": cmd.checksum, "requestId": cmd.request_id or 0}
    if cmd.retries is not None:
        payload["retries"] = cmd.retries
    if cmd.retry_interval_s is not None:
        payload["retryInterval"] = cmd.retry_interval_s
    return "PublishFirmware", payload


# 2.0.1 calls the CSMS's root CSMSRootCertificate; GetInstalledCertificateIds also knows V2GCertificateChain.
ROOT_CERTIFICATES_201 = {c.CertificateUse.CSMS_ROOT: "CSMSRootCertificate"}


def _certificate_signed(cmd: c.CertificateSigned) -> tuple[str, Payload]:
    payload: Payload = {"certificateChain": cmd.certificate_chain}
    if cmd.certificate_type is not None:
        payload["certificateType"] = cmd.certificate_type
    return "CertificateSigned", payload


def _installed_ids(cmd: c.GetInstalledCertificateIds) -> tuple[str, Payload]:
    payload: Payload = {}
    if cmd.certificate_types:
        payload["certificateType"] = [ROOT_CERTIFICATES_201.get(t, str(t)) for t in cmd.certificate_types]
    return "GetInstalledCertificateIds", payload


def _extended_trigger(cmd: c.ExtendedTriggerMessage) -> tuple[str, Payload]:
    """2.0.1 has no ExtendedTriggerMessage: its TriggerMessage asks for the same (the certificate by its 2.0.1 name)."""
    message = "SignChargingStationCertificate" if cmd.message == "SignChargePointCertificate" else cmd.message
    return _trigger(c.TriggerMessage(message=message, evse_id=cmd.evse_id))


def _password(cmd: c.SetStationPassword) -> tuple[str, Payload]:
    variable = _variable(c.SettingRef(name="BasicAuthPassword", component="SecurityCtrlr"))
    return "SetVariables", {"setVariableData": [{**variable, "attributeValue": cmd.password}]}


def _network_profile(cmd: c.SetSecurityProfile) -> tuple[str, Payload]:
    if not cmd.csms_url:
        raise CommandNotSupported("csms_url: a 2.0.1 station is given the address to connect to with the new profile")
    connection: Payload = {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": cmd.csms_url,
        "messageTimeout": 30,
        "securityProfile": cmd.profile,
        "ocppInterface": "Wired0",
    }
    return "SetNetworkProfile", {"configurationSlot": cmd.slot, "connectionData": connection}


def _no_diagnostics() -> tuple[str, Payload]:
    raise CommandNotSupported("OCPP 2.0.1 has no GetDiagnostics: ask for a log with log_type DiagnosticsLog")


BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    **shared_commands.BUILDERS,
    **smart_charging.BUILDERS,
    c.SendLocalList: _send_local_list,
    c.ReserveNow: _reserve_now,
    c.UpdateFirmware: lambda cmd: shared_commands.firmware_update(cmd, "UpdateFirmware"),
    c.PublishFirmware: _publish_firmware,
    c.UnpublishFirmware: lambda cmd: ("UnpublishFirmware", {"checksum": cmd.checksum}),
    c.GetBaseReport: lambda cmd: ("GetBaseReport", {"requestId": cmd.request_id or 0, "reportBase": str(cmd.base)}),
    c.GetReport: _get_report,
    c.GetDiagnostics: lambda cmd: _no_diagnostics(),
    c.GetSettings: _get_settings,
    c.ChangeSetting: _change_setting,
    c.RemoteStart: _remote_start,
    c.RemoteStop: lambda cmd: ("RequestStopTransaction", {"transactionId": cmd.station_transaction_id}),
    c.ChangeAvailability: _availability,
    c.Reset: _reset,
    c.UnlockConnector: lambda cmd: ("UnlockConnector", {"evseId": cmd.evse_id, "connectorId": cmd.connector_id}),
    c.TriggerMessage: _trigger,
    c.DataTransfer: _data_transfer,
    c.CertificateSigned: _certificate_signed,
    c.InstallCertificate: lambda cmd: (
        "InstallCertificate",
        {
            "certificateType": ROOT_CERTIFICATES_201.get(cmd.certificate_type, str(cmd.certificate_type)),
            "certificate": cmd.certificate,
        },
    ),
    c.GetInstalledCertificateIds: _installed_ids,
    c.ExtendedTriggerMessage: _extended_trigger,
    c.SetStationPassword: _password,
    c.SetSecurityProfile: _network_profile,
}


def to_reply(command: c.Command, payload: Payload) -> c.CommandReply:
    """Variables come back with a status each; the command's status is that of its (single) change."""
    if isinstance(command, c.GetSettings):
        settings = [
            {
                "component": result["component"]["name"],
                "name": result["variable"]["name"],
                "value": result.get("attributeValue"),
                "readonly": None,
                "status": result["attributeStatus"],
            }
            for result in payload["getVariableResult"]
        ]
        return c.CommandReply(status="Accepted", data={"settings": settings})
    if isinstance(command, c.ChangeSetting):
        # One variable was set; a station that answers with more results is read by the one that names it.
        results = payload["setVariableResult"]
        result = next(
            (
                r
                for r in results
                if r["variable"]["name"] == command.setting.name
                and (command.setting.component is None or r["component"]["name"] == command.setting.component)
            ),
            results[0],
        )
        return c.CommandReply(status=result["attributeStatus"], data={"statusInfo": result.get("attributeStatusInfo")})
    if isinstance(command, c.SetStationPassword):  # one variable set: its status is the answer
        result = payload["setVariableResult"][0]
        return c.CommandReply(status=result["attributeStatus"], data={"statusInfo": result.get("attributeStatusInfo")})
    if isinstance(command, c.GetLocalListVersion):
        return c.CommandReply(status="Accepted", data={"version": payload["versionNumber"]})
    if isinstance(command, c.GetCompositeSchedule):
        return smart_charging.composite_reply(payload)
    return plain_reply(command, payload)
