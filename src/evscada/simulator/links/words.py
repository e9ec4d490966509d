"""How a simulated station's words reach the wire: each version's words are OCPP-J payloads (camelCase dicts),
written once and sent by either link, so full and lean stations say the same by construction.

The full link sends them through the `ocpp` package's ChargePoint (which validates both ways against the official
schemas); the lean link (`lean_links.py`) writes them to its socket as they are.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case

Payload = dict[str, Any]


class Words:
    """Mixed into a link: the one thing a version's words need from it."""

    # Does `request` fail at once (ConnectionError) when the connection dies? Else the station's uplink races
    # each call against the connection's end, so that no call waits for its timeout on a dead connection.
    fails_when_lost: ClassVar[bool] = False

    async def request(self, action: str, payload: Payload, *, message_id: str | None = None) -> Payload:
        """Send a CALL and return its CALLRESULT's payload; a CALLERROR raises the `ocpp` package's OCPPError.

        message_id: the frame's unique id, kept for a resend after a lost connection (None: a fresh one)."""
        raise NotImplementedError


class OcppRequests(Words):
    """The full link's `request`: through ChargePoint.call, so every payload and answer is schema-checked."""

    messages: ClassVar[ModuleType]  # the version's `ocpp.vXX.call`

    async def request(self, action: str, payload: Payload, *, message_id: str | None = None) -> Payload:
        message = getattr(self.messages, action)(**camel_to_snake_case(payload))
        result = await self.call(message, suppress=False, unique_id=message_id)  # type: ignore[attr-defined]
        return snake_to_camel_case(remove_nones(serialize_as_dict(result)))
