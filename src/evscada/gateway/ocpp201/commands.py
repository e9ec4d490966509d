"""Core commands as OCPP 2.0.1 CALLs, and the answers back; pure functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evscada.core import commands as c
from evscada.gateway.adapter import Payload, plain_reply
from evscada.gateway.ocpp201 import mapping


def _remote_start(cmd: c.RemoteStart) -> tuple[str, Payload]:
    payload: Payload = {"idToken": mapping.id_token_payload(cmd.id_token), "remoteStartId": cmd.remote_start_id or 0}
    if cmd.evse_id is not None:
        payload["evseId"] = cmd.evse_id
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
        raise c.CommandNotSupported(f"OCPP 2.0.1 needs the component of variable {setting.name!r}")
    component: Payload = {"name": setting.component}
    if setting.evse_id is not None:
        component["evse"] = {"id": setting.evse_id}
    if setting.instance is not None:
        component["instance"] = setting.instance
    return {"component": component, "variable": {"name": setting.name}}


def _get_settings(cmd: c.GetSettings) -> tuple[str, Payload]:
    if not cmd.settings:
        raise c.CommandNotSupported("OCPP 2.0.1 reads named variables only; a full report is GetBaseReport")
    return "GetVariables", {"getVariableData": [_variable(setting) for setting in cmd.settings]}


def _change_setting(cmd: c.ChangeSetting) -> tuple[str, Payload]:
    return "SetVariables", {"setVariableData": [{**_variable(cmd.setting), "attributeValue": cmd.value}]}


BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    c.GetSettings: _get_settings,
    c.ChangeSetting: _change_setting,
    c.RemoteStart: _remote_start,
    c.RemoteStop: lambda cmd: ("RequestStopTransaction", {"transactionId": cmd.station_transaction_id}),
    c.ChangeAvailability: _availability,
    c.Reset: _reset,
    c.UnlockConnector: lambda cmd: ("UnlockConnector", {"evseId": cmd.evse_id, "connectorId": cmd.connector_id}),
    c.ClearCache: lambda cmd: ("ClearCache", {}),
    c.TriggerMessage: _trigger,
    c.DataTransfer: _data_transfer,
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
        (result,) = payload["setVariableResult"]
        return c.CommandReply(status=result["attributeStatus"], data={"statusInfo": result.get("attributeStatusInfo")})
    return plain_reply(command, payload)
