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


BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    c.GetLocalListVersion: lambda cmd: ("GetLocalListVersion", {}),
    c.CancelReservation: lambda cmd: ("CancelReservation", {"reservationId": cmd.reservation_id}),
    c.ClearCache: lambda cmd: ("ClearCache", {}),
    c.GetLog: get_log,
}
