"""Core commands whose CALL reads the same in every OCPP version; each version's BUILDERS starts from these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evscada.core.control import commands as c
from evscada.gateway.adapter import Payload

BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    c.GetLocalListVersion: lambda cmd: ("GetLocalListVersion", {}),
    c.CancelReservation: lambda cmd: ("CancelReservation", {"reservationId": cmd.reservation_id}),
    c.ClearCache: lambda cmd: ("ClearCache", {}),
}
