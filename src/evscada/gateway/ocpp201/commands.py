"""Core commands as OCPP 2.0.1 CALLs, and the answers back; pure functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evscada.core import commands as c
from evscada.gateway.adapter import Payload
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


_BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    c.RemoteStart: _remote_start,
    c.RemoteStop: lambda cmd: ("RequestStopTransaction", {"transactionId": cmd.station_transaction_id}),
    c.ChangeAvailability: _availability,
    c.Reset: _reset,
    c.UnlockConnector: lambda cmd: ("UnlockConnector", {"evseId": cmd.evse_id, "connectorId": cmd.connector_id}),
    c.ClearCache: lambda cmd: ("ClearCache", {}),
    c.TriggerMessage: _trigger,
    c.DataTransfer: _data_transfer,
}


def to_call(command: c.Command) -> tuple[str, Payload]:
    builder = _BUILDERS.get(type(command))
    if builder is None:
        raise c.CommandNotSupported(f"{command.name} has no OCPP 2.0.1 message")
    return builder(command)
