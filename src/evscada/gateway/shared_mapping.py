"""Payload <-> core mapping that reads the same in every OCPP version; pure functions, no I/O."""

from __future__ import annotations

from datetime import datetime

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
