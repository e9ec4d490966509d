"""Payload <-> core mapping that reads the same in every OCPP version; pure functions, no I/O."""

from __future__ import annotations

from datetime import datetime

from evscada.core.errors import InvalidArgument
from evscada.core.model import BootDecision, ComponentProblem, StationMessage
from evscada.gateway.adapter import Payload
from evscada.gateway.rpc import format_datetime, parse_datetime

# Summaries are cut here, for every version: the station_messages.summary column holds 500 characters, and the
# event that announces the record (live stream, alarms, webhooks) must say what was stored, not a longer text.
SUMMARY_LENGTH = 500


def message(
    kind: str,
    p: Payload,
    received: datetime,
    *,
    summary: str | None = None,
    at: str | None = None,
    status: str | None = None,
    problems: tuple[ComponentProblem, ...] = (),
) -> StationMessage:
    """A station report as a record; `at` names the payload's own time field, if it has one."""
    timestamp = parse_datetime(p[at]) if at and at in p else received
    if summary is not None:
        summary = summary[:SUMMARY_LENGTH]
    return StationMessage(kind=kind, timestamp=timestamp, payload=p, summary=summary, status=status, problems=problems)


# No meter reads more than this (in Wh, W, A ...); a sum of a hundred million such readings still fits a double,
# where two readings of 1.7e308 made PostgreSQL's aggregation fail with an overflow on every round.
LARGEST_READING = 1e300


def reading(value: float | None) -> float | None:
    """A reading's number in base units; None (kept as text, ADR 8) when it is beyond any meter or not finite."""
    if value is None or not -LARGEST_READING <= value <= LARGEST_READING:  # NaN and infinities fail too
        return None
    return value


def numbered(number: int, name: str) -> int:
    """EVSEs and connectors are numbered from 1, and 0 is the whole (station or EVSE); the schemas only say integer.
    A negative number names no place a station has: refused by name rather than stored as a connector."""
    if number < 0:
        raise InvalidArgument(f"{name} {number} is negative; 0 is the whole station or EVSE, 1.. its parts")
    return number


def boot_result(decision: BootDecision) -> Payload:
    return {
        "status": str(decision.status),
        "currentTime": format_datetime(decision.current_time),
        "interval": decision.interval,
    }


def data_transfer_summary(p: Payload) -> str:
    return f"{p['vendorId']} {p.get('messageId', '')}".strip()


def security_event_summary(p: Payload) -> str:
    return f"{p['type']}: {p.get('techInfo', '')}".strip(": ")
