"""Message text: one alarm, a group of alarms raised together, a digest, an escalation or a test."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evscada.core.model import Alarm, Site, Station

_ONE_LINE = re.compile(r"[\r\n]+")

# How a group's subject names a common source: "30 stations offline at site Depot".
_SOURCE_PHRASES = {
    "offline": "offline",
    "station_fault": "faulted",
    "flapping": "flapping",
    "boot": "not accepted at boot",
    "security": "with security events",
    "no_meter_values": "without meter values",
}


def alarm_facts(alarm: Alarm, station: Station | None, site: Site | None) -> dict[str, Any]:
    """What a message says about an alarm, as plain JSON (webhooks carry it; escalations keep it)."""
    return {
        "id": int(alarm.id),
        "key": alarm.key,
        "source": alarm.source,
        "station_id": alarm.station_id,
        "station_name": station.name if station else None,
        "site_id": int(site.id) if site else None,
        "site_name": site.name if site else None,
        "evse_id": alarm.evse.evse_id if alarm.evse else None,
        "connector_id": alarm.evse.connector_id if alarm.evse else None,
        "priority": int(alarm.priority),
        "message": alarm.message,
        "state": alarm.state.value,
        "raised_at": alarm.raised_at.isoformat(),
        "count": alarm.count,
    }


@dataclass(frozen=True, slots=True)
class Text:
    subject: str
    body: str
    payload: dict[str, Any]


def _where(facts: dict[str, Any]) -> str:
    station = facts["station_id"] or "(system)"
    if facts.get("station_name"):
        station = f"{facts['station_name']} ({station})"
    if facts.get("evse_id"):
        station += f" EVSE {facts['evse_id']}"
    return station


def _line(facts: dict[str, Any]) -> str:
    raised = datetime.fromisoformat(facts["raised_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    site = f" at {facts['site_name']}" if facts.get("site_name") else ""
    state = " [cleared]" if facts.get("state") == "cleared" else ""
    repeats = f" (x{facts['count']})" if facts.get("count", 1) > 1 else ""
    head = f"P{facts['priority']} {_where(facts)}{site}: {facts['message']}{repeats}{state}"
    return f"{head} - raised {raised}, #{facts['id']}"


def _group_subject(alarms: list[dict[str, Any]]) -> str:
    sources = Counter(a["source"] for a in alarms)
    sites = Counter(a.get("site_name") for a in alarms)
    stations = {a["station_id"] for a in alarms}
    at = f" at site {next(iter(sites))}" if len(sites) == 1 and next(iter(sites)) else ""
    if len(sources) == 1:
        source = next(iter(sources))
        phrase = _SOURCE_PHRASES.get(source, f"with {source} alarms")
        return (
            f"{len(stations)} stations {phrase}{at}"
            if len(stations) == len(alarms)
            else f"{len(alarms)} {source} alarms{at}"
        )
    top = ", ".join(f"{n} {s}" for s, n in sources.most_common(3))
    return f"{len(alarms)} alarms{at} ({top})"


def compose(alarms: list[dict[str, Any]], *, kind: str, note: str | None = None) -> Text:
    """Subject and body for these alarms (highest priority first) sent as `kind` (alarm | digest | escalation)."""
    ordered = sorted(alarms, key=lambda a: (a["priority"], a["raised_at"], a["id"]))
    top = ordered[0]["priority"]
    if len(ordered) == 1:
        facts = ordered[0]
        subject = f"[P{top}] {_where(facts)}: {facts['message']}"
    else:
        subject = f"[P{top}] {_group_subject(ordered)}"
    subject = _ONE_LINE.sub(" ", subject)  # a header: a line break in an alarm message must not end it
    if kind == "digest":
        subject = f"Digest: {subject}"
    elif kind == "escalation":
        subject = f"ESCALATED: {subject}"
    lines = [note, ""] if note else []
    lines += [_line(a) for a in ordered]
    lines += ["", "Acknowledge in evscada to stop escalation." if kind == "escalation" else "-- evscada"]
    return Text(subject=subject, body="\n".join(lines), payload={"priority": top, "alarms": ordered})


def probe_text(recipient: str, at: datetime) -> Text:
    return Text(
        subject="evscada test message",
        body=f"This is a test message for {recipient} sent at {at:%Y-%m-%d %H:%M:%S} UTC. Delivery works.",
        payload={"alarms": []},
    )
