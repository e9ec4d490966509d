"""OCPP 2.0.1 station-initiated messages (work in progress)."""

from __future__ import annotations

from evscada.gateway import validation
from evscada.gateway.adapter import Dialect, HandlerTable, VersionAdapter
from evscada.gateway.rpc import FrameProblem

table = HandlerTable()

DIALECT = Dialect(
    frame_codes={
        FrameProblem.NOT_JSON: "RpcFrameworkError",
        FrameProblem.NOT_AN_ARRAY: "RpcFrameworkError",
        FrameProblem.BAD_UNIQUE_ID: "RpcFrameworkError",
        FrameProblem.BAD_STRUCTURE: "RpcFrameworkError",
        FrameProblem.UNKNOWN_MESSAGE_TYPE: "MessageTypeNotSupported",
    },
    format_violation="FormatViolation",
    occurrence_violation="OccurrenceConstraintViolation",
)

ADAPTER = VersionAdapter(
    subprotocol="ocpp2.0.1",
    version="2.0.1",
    schemas=validation.OCPP201,
    dialect=DIALECT,
    handlers=table.handlers,
    requires_acceptance=frozenset({"Authorize", "TransactionEvent"}),
    deduplicated=frozenset({"MeterValues"}),
)
