"""Carries core commands to the live session of a station on this node and its answer back."""

from __future__ import annotations

import logging

from evscada.core.control.commands import Command, CommandReply
from evscada.core.errors import CommandCallError, CommandTimeout, StationOffline
from evscada.core.model import StationId
from evscada.gateway.registry import SessionRegistry
from evscada.gateway.session import CommandFailed

log = logging.getLogger(__name__)


class GatewayCommander:
    def __init__(self, registry: SessionRegistry) -> None:
        self._registry = registry

    async def execute(self, *, station_id: StationId, command: Command) -> CommandReply:
        session = self._registry.get(station_id)
        if session is None:
            raise StationOffline(f"station {station_id} is not connected; nothing was sent")
        translator = session.adapter.commands
        action, payload = translator.to_call(command)  # raises CommandNotSupported for this version
        try:
            answer = await session.call(action, payload)
        except CommandFailed as exc:
            if exc.code == "Timeout":
                raise CommandTimeout(f"station {station_id} did not answer {action} in time") from None
            if exc.code == "StationOffline":
                raise StationOffline(f"station {station_id} disconnected before answering {action}") from None
            raise CommandCallError(exc.code, exc.description) from None
        try:
            return translator.to_reply(command, answer)
        except Exception:
            # The answer passed its schema but our reading of it failed: a bug of ours, not a reason for the
            # operator's request to fail with a server error. The command log keeps it as an unreadable answer.
            log.exception("%s: reading the %s answer failed: %r", station_id, action, answer)
            raise CommandCallError(
                "InvalidResponse", f"the CSMS could not read the station's {action} answer; see its log"
            ) from None
