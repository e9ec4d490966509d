"""What makes one OCPP version: its schemas, its handlers and its names for errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evscada.core.control.commands import Command, CommandReply
from evscada.core.errors import CommandNotSupported
from evscada.gateway.rpc import FrameProblem
from evscada.gateway.validation import SchemaSet

if TYPE_CHECKING:
    from evscada.gateway.session import StationSession

Payload = dict[str, Any]
Handler = Callable[["StationSession", Payload], Awaitable[Payload]]


def _no_commands(command: Command) -> tuple[str, Payload]:
    raise CommandNotSupported(f"{command.name} is not available for this OCPP version")


def plain_reply(command: Command, payload: Payload) -> CommandReply:
    """Most answers are a status word plus details (statusInfo, ...)."""
    return CommandReply(
        status=str(payload.get("status", "Accepted")), data={k: v for k, v in payload.items() if k != "status"}
    )


def translator(
    builders: dict[type[Command], Callable[[Any], tuple[str, Payload]]],
    version: str,
    to_reply: Callable[[Command, Payload], CommandReply] = plain_reply,
) -> CommandTranslator:
    """A version's translator from its table of CALL builders, one per command type."""

    def to_call(command: Command) -> tuple[str, Payload]:
        builder = builders.get(type(command))
        if builder is None:
            raise CommandNotSupported(f"{command.name} has no OCPP {version} message")
        return builder(command)

    return CommandTranslator(to_call=to_call, to_reply=to_reply)


@dataclass(frozen=True, slots=True)
class CommandTranslator:
    """A version's way of saying a core command (to_call) and of reading the answer (to_reply)."""

    to_call: Callable[[Command], tuple[str, Payload]] = _no_commands
    to_reply: Callable[[Command, Payload], CommandReply] = plain_reply


@dataclass(frozen=True, slots=True)
class Dialect:
    """Each version's CALLERROR codes for the same faults (the specs spell some differently)."""

    frame_codes: dict[FrameProblem, str]
    format_violation: str  # 1.6 FormationViolation, 2.0.1 FormatViolation
    occurrence_violation: str  # 1.6 spells it OccurenceConstraintViolation

    def schema_error_code(self, rule: str) -> str:
        if rule in ("type", "maxLength", "minLength", "format"):
            return "TypeConstraintViolation"  # a CiStringN or dateTime broken is a data-type fault
        if rule in (
            "enum",
            "const",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "pattern",
        ):
            return "PropertyConstraintViolation"
        if rule in ("required", "minItems", "maxItems", "dependencies"):
            return self.occurrence_violation
        return self.format_violation  # additionalProperties and anything else structural


@dataclass(slots=True)
class HandlerTable:
    handlers: dict[str, Handler] = field(default_factory=dict)

    def on(self, action: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if action in self.handlers:
                raise ValueError(f"two handlers for {action}")
            self.handlers[action] = handler
            return handler

        return register


@dataclass(frozen=True, slots=True)
class VersionAdapter:
    subprotocol: str  # "ocpp1.6", "ocpp2.0.1"
    version: str  # "1.6", "2.0.1": the core's name for it
    schemas: SchemaSet
    dialect: Dialect
    handlers: dict[str, Handler]
    # Actions a station that is not (yet) Accepted may not use: it must not charge.
    requires_acceptance: frozenset[str] = frozenset()
    # Actions whose repeat after a reconnect must not be stored twice; deduplicated by a digest of the frame.
    deduplicated: frozenset[str] = frozenset()
    commands: CommandTranslator = CommandTranslator()
