"""The CALLERROR a simulated station answers to a CALL it cannot take, with the codes OCPP-J prescribes.

The `ocpp` package's ChargePoint answers an unknown action NotSupported and a known one without a handler
NotImplemented (OCPP-J says the reverse), names every 1.6 schema fault with 2.0.1's FormatViolation, and calls an
enumeration breach a format fault. Where the package and the specification disagree the specification wins, so
both kinds of station (full and lean) check a CSMS's CALL here first. The codes follow the OCPP-J specifications
(1.6 section 4.2.3, 2.0.1 part 4 section 4.3), the same table the CSMS applies (docs/ocpp.md, "Errors").
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from jsonschema import exceptions as schema_errors
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotImplementedError,
    NotSupportedError,
    OccurenceConstraintViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.messages import MessageType, get_validator
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

_ACTIONS: dict[str, type[StrEnum]] = {"1.6": Action16, "2.0.1": Action201}
_TYPE_RULES = frozenset({"type", "maxLength", "minLength", "format"})
_VALUE_RULES = frozenset(
    {"enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "pattern"}
)
_OCCURRENCE_RULES = frozenset({"required", "minItems", "maxItems", "dependencies"})
# 1.6 CALLs whose schedules have a 0.1 step: schema and payload read with Decimal so that multipleOf is exact. The
# same set as the ocpp package's: it caches one validator per action whichever float parser loaded it.
_DECIMAL_CALLS_16 = frozenset({"SetChargingProfile", "RemoteStartTransaction"})


class RpcFrameworkError(OCPPError):
    """2.0.1: the CALL itself is broken (e.g. its payload is not an object)."""

    code = "RpcFrameworkError"
    default_description = "the message is not a valid OCPP-J CALL"


def refusal(action: str, payload: Any, *, version: str, handled: bool) -> OCPPError | None:
    """Why a station refuses this CALL, or None to take it; `handled`: the station has a handler for it."""
    if not handled:
        known = action in _ACTIONS[version].__members__.values()
        # Descriptions as the specifications word them: the package's defaults for these two are swapped.
        if not known:
            return NotImplementedError(
                "Requested Action is not known by receiver", {"cause": f"{action} is not an OCPP {version} action"}
            )
        return NotSupportedError(
            "Requested Action is recognized but not supported by the receiver",
            {"cause": f"this station does not support {action}"},
        )
    if not isinstance(payload, dict):
        cause = {"cause": "the payload of a CALL must be a JSON object"}
        return ProtocolError(details=cause) if version == "1.6" else RpcFrameworkError(details=cause)
    if version == "1.6" and action in _DECIMAL_CALLS_16:
        validator = get_validator(MessageType.Call, action, version, parse_float=Decimal)
        payload = json.loads(json.dumps(payload), parse_float=Decimal)
    else:
        validator = get_validator(MessageType.Call, action, version)
    error = schema_errors.best_match(validator.iter_errors(payload))
    if error is None:
        return None
    details = {"cause": error.message[:200]}
    if error.validator in _TYPE_RULES:
        return TypeConstraintViolationError(details=details)
    if error.validator in _VALUE_RULES:
        return PropertyConstraintViolationError(details=details)
    if error.validator in _OCCURRENCE_RULES:
        occurrence = OccurenceConstraintViolationError if version == "1.6" else OccurrenceConstraintViolationError
        return occurrence(details=details)
    return FormationViolationError(details=details) if version == "1.6" else FormatViolationError(details=details)


class ChargePointRefusals:
    """Mixed in before the `ocpp` package's ChargePoint: a broken CALL is refused with the specification's code
    before the package's own check (which would name it otherwise) runs."""

    version: ClassVar[str]
    route_map: dict[str, dict[str, Any]]

    async def _handle_call(self, msg: Any) -> Any:  # ChargePoint's hook; its caller turns OCPPError into a CALLERROR
        handled = "_on_action" in self.route_map.get(msg.action, {})
        error = refusal(msg.action, msg.payload, version=self.version, handled=handled)
        if error is not None:
            raise error
        return await super()._handle_call(msg)  # type: ignore[misc]
