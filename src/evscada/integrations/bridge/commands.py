"""The commands a SCADA may send through a bridge, in the REST API's words (remote_start, reset ...), checked as
strictly as the API checks them, sent through the core's CommandService and answered with its outcome."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from evscada.core.control import commands as c
from evscada.core.errors import DomainError
from evscada.core.model import IdToken, StationId
from evscada.core.services import Core

log = logging.getLogger(__name__)


class _Body(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str | None = Field(None, max_length=500, description="why; kept in the command log")


class RemoteStartBody(_Body):
    id_token: str = Field(min_length=1, max_length=36)
    token_type: str = Field("ISO14443", max_length=20)
    evse_id: int | None = Field(None, ge=1)


class RemoteStopBody(_Body):
    transaction_id: str | None = Field(None, min_length=1, max_length=36, description="the station's transaction id")
    evse_id: int | None = Field(None, ge=1, description="or: the session running on this EVSE")


class ChangeAvailabilityBody(_Body):
    operative: bool
    evse_id: int = Field(0, ge=0)
    connector_id: int | None = Field(None, ge=1)


class ResetBody(_Body):
    kind: Literal["soft", "hard"] = "soft"
    evse_id: int | None = Field(None, ge=1)


class UnlockConnectorBody(_Body):
    evse_id: int = Field(ge=1)
    connector_id: int = Field(1, ge=1)


class TriggerMessageBody(_Body):
    message: Literal["BootNotification", "Heartbeat", "StatusNotification", "MeterValues"]
    evse_id: int | None = Field(None, ge=0)


BODIES: dict[str, type[_Body]] = {
    "remote_start": RemoteStartBody,
    "remote_stop": RemoteStopBody,
    "change_availability": ChangeAvailabilityBody,
    "reset": ResetBody,
    "unlock_connector": UnlockConnectorBody,
    "clear_cache": _Body,
    "trigger_message": TriggerMessageBody,
}
ACTIONS = tuple(BODIES)
# What every reply carries: the API's outcome words (answered, offline, timeout, call_error, not_supported), and
# "refused" for a command the bridge did not send (not allowed, malformed, unknown station).
REFUSED = "refused"


class CommandRefused(Exception):
    """A command the bridge does not send; the message says what was wrong and what to do."""


def parse(action: str, body: dict[str, Any], *, allowed: frozenset[str]) -> tuple[c.Command | None, _Body]:
    """The command, or None for a remote stop by EVSE (resolved by the caller); raises CommandRefused."""
    if action not in BODIES:
        raise CommandRefused(f"unknown action {action!r}; the bridges know {', '.join(ACTIONS)}")
    if action not in allowed:
        raise CommandRefused(f"action {action!r} is not allowed on this bridge: add it to its command_actions setting")
    try:
        parsed = BODIES[action].model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise CommandRefused(f"bad {action} body: {problems}") from None
    return _command(parsed), parsed


def _command(body: _Body) -> c.Command | None:
    match body:
        case RemoteStartBody():
            return c.RemoteStart(id_token=IdToken(body.id_token, body.token_type), evse_id=body.evse_id)
        case RemoteStopBody() if body.transaction_id is not None:
            return c.RemoteStop(station_transaction_id=body.transaction_id)
        case RemoteStopBody() if body.evse_id is None:
            raise CommandRefused("remote_stop needs transaction_id (the station's) or evse_id (its running session)")
        case RemoteStopBody():
            return None
        case ChangeAvailabilityBody():
            return c.ChangeAvailability(operative=body.operative, evse_id=body.evse_id, connector_id=body.connector_id)
        case ResetBody():
            return c.Reset(kind=c.ResetKind(body.kind), evse_id=body.evse_id)
        case UnlockConnectorBody():
            return c.UnlockConnector(evse_id=body.evse_id, connector_id=body.connector_id)
        case TriggerMessageBody():
            return c.TriggerMessage(message=body.message, evse_id=body.evse_id)
    return c.ClearCache()


def refused(station_id: str, action: str, why: str) -> dict[str, Any]:
    return {"station_id": station_id, "command": action, "outcome": REFUSED, "status": None, "error": why}


async def send(core: Core, *, station_id: str, command: c.Command, actor: str, reason: str | None) -> dict[str, Any]:
    """Send through the core (logged and audited as the actor) and say how it went, as the API's CommandOut does."""
    sid = StationId(station_id)
    try:
        await core.queries.station(station_id=sid)  # an unknown station is refused before anything is logged
        outcome = await core.commands.send(station_id=sid, command=command, actor=actor, reason=reason)
    except DomainError as exc:  # unknown station, or a command its OCPP version cannot express
        return refused(station_id, command.name, exc.message)
    return {
        "command_id": outcome.command_id,
        "station_id": outcome.station_id,
        "command": outcome.command,
        "outcome": str(outcome.outcome),
        "status": outcome.status,
        "error": outcome.error,
        "requested_at": outcome.requested_at.isoformat(),
        "finished_at": outcome.finished_at.isoformat(),
    }
