"""The topic tree and its JSON payloads (docs/scada-bridges.md shows both); pure functions, tested without a broker.

<prefix>/status                                      online | offline (retained; the bridge's last will)
<prefix>/site/<site>/station/<id>/state              the station (retained)
<prefix>/site/<site>/station/<id>/evse/<n>/state     one EVSE (retained)
<prefix>/site/<site>/station/<id>/evse/<n>/telemetry power W, energy Wh, current A, voltage V, SoC %
<prefix>/site/<site>/station/<id>/evse/<n>/session   a session started or ended
<prefix>/site/<site>/station/<id>/alarm              an alarm raised, acknowledged, cleared ...
<prefix>/station/<id>/...                            the same for a station placed at no site
<prefix>/command/<id>/<action>                       commands in (JSON body)
<prefix>/reply/<client>/<request_id>                 their outcomes, when no MQTT 5 response topic is given
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evscada.core import events
from evscada.core.model import SiteId
from evscada.integrations.bridge.fleet import Change, EvseLive, StationLive
from evscada.integrations.mqtt.settings import MqttSettings

_ESCAPES = {"/": "%2F", "+": "%2B", "#": "%23", "%": "%25"}


def segment(value: str | int) -> str:
    """A station id as one topic level: /, + and # (legal in ids, not in levels) percent-encoded."""
    return "".join(_ESCAPES.get(ch, ch) for ch in str(value))


def unsegment(level: str) -> str:
    for raw, escaped in sorted(_ESCAPES.items(), key=lambda kv: kv[1] == "%25"):
        level = level.replace(escaped, raw)
    return level


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    payload: bytes
    qos: int
    retain: bool


def station_base(prefix: str, station_id: str, site_id: SiteId | None) -> str:
    if site_id is None:
        return f"{prefix}/station/{segment(station_id)}"
    return f"{prefix}/site/{segment(site_id)}/station/{segment(station_id)}"


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def _at(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def quantity(value: float | None, unit: str) -> dict[str, Any] | None:
    return None if value is None else {"value": round(value, 3), "unit": unit}


class Topics:
    """Renders the fleet's changes as publications, per the settings' prefix and QoS."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.prefix = settings.topic_prefix

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def commands(self) -> str:
        return f"{self.prefix}/command/+/+"

    def reply(self, client: str, request_id: str) -> str:
        return f"{self.prefix}/reply/{segment(client)}/{segment(request_id)}"

    def command_of(self, topic: str) -> tuple[str, str] | None:
        """(station id, action) of a command topic; None for anything else."""
        levels = topic.split("/")
        head = self.prefix.split("/")
        if len(levels) != len(head) + 3 or levels[: len(head)] != head or levels[len(head)] != "command":
            return None
        return unsegment(levels[-2]), levels[-1]

    def base(self, station: StationLive, site_id: SiteId | None = None) -> str:
        return station_base(self.prefix, station.station_id, site_id if site_id is not None else station.site_id)

    def station_state(self, station: StationLive) -> Publication:
        body = {
            "station_id": station.station_id,
            "name": station.name,
            "site_id": station.site_id,
            "site": station.site_name,
            "state": station.state,
            "online": station.online,
            "ocpp_version": station.ocpp_version,
            "evses": len(station.evses),
            "power": quantity(station.power_w(), "W"),
            "active_alarms": len(station.active_alarms),
            "at": _at(station.changed_at),
        }
        return Publication(f"{self.base(station)}/state", _json(body), self.settings.qos_state, True)

    def evse_state(self, station: StationLive, evse: EvseLive) -> Publication:
        session = evse.session
        body = {
            "station_id": station.station_id,
            "evse_id": evse.evse_id,
            "status": evse.status,
            "error_code": evse.error_code,
            "session": None
            if session is None
            else {
                "transaction_pk": session.transaction_pk,
                "transaction_id": session.station_transaction_id,
                "started_at": _at(session.started_at),
            },
            "at": _at(station.changed_at),
        }
        return Publication(
            f"{self.base(station)}/evse/{evse.evse_id}/state", _json(body), self.settings.qos_state, True
        )

    def telemetry(self, station: StationLive, evse: EvseLive) -> Publication:
        body = {
            "station_id": station.station_id,
            "evse_id": evse.evse_id,
            "at": _at(evse.telemetry_at),
            "power": quantity(evse.power_w, "W"),
            "energy": quantity(evse.energy_wh, "Wh"),
            "current": quantity(evse.current_a, "A"),
            "voltage": quantity(evse.voltage_v, "V"),
            "soc": quantity(evse.soc_pct, "%"),
            "session_energy": quantity(evse.session.energy_wh if evse.session else None, "Wh"),
        }
        return Publication(
            f"{self.base(station)}/evse/{evse.evse_id}/telemetry", _json(body), self.settings.qos_telemetry, False
        )

    def session(self, station: StationLive, evse: EvseLive, event: events.Event) -> Publication:
        if isinstance(event, events.TransactionStarted):
            body: dict[str, Any] = {"event": "started", "transaction_pk": event.transaction_pk}
        else:
            assert isinstance(event, events.TransactionEnded)
            body = {
                "event": "ended",
                "transaction_pk": event.transaction_pk,
                "stop_reason": event.stop_reason,
                "energy": quantity(event.energy_wh, "Wh"),
            }
        body |= {"station_id": station.station_id, "evse_id": evse.evse_id, "at": _at(event.at)}
        return Publication(
            f"{self.base(station)}/evse/{evse.evse_id}/session", _json(body), self.settings.qos_event, False
        )

    def alarm(self, station: StationLive, event: events.AlarmChanged) -> Publication:
        a = event.alarm
        body = {
            "change": event.change,
            "alarm_id": a.id,
            "station_id": station.station_id,
            "evse_id": a.evse.evse_id if a.evse else None,
            "source": a.source,
            "priority": int(a.priority),
            "state": str(a.state),
            "message": a.message,
            "count": a.count,
            "raised_at": _at(a.raised_at),
            "acknowledged": a.acknowledged_at is not None,
            "at": _at(event.at),
        }
        return Publication(f"{self.base(station)}/alarm", _json(body), self.settings.qos_event, False)

    def render(self, change: Change) -> list[Publication]:
        station, evse = change.station, change.evse
        match change.kind:
            case "station":
                return [self.station_state(station)]
            case "evse" if evse is not None:
                return [self.evse_state(station, evse)]
            case "telemetry" if evse is not None:
                return [self.telemetry(station, evse)]
            case "session" if evse is not None and change.event is not None:
                return [self.session(station, evse, change.event), self.evse_state(station, evse)]
            case "alarm" if isinstance(change.event, events.AlarmChanged):
                return [self.alarm(station, change.event), self.station_state(station)]
            case "site":
                return self.everything(station)
        return []

    def everything(self, station: StationLive) -> list[Publication]:
        """A station's retained state: itself and each of its EVSEs."""
        return [self.station_state(station), *(self.evse_state(station, e) for e in station.evses.values())]

    def cleared(self, station: StationLive, site_id: SiteId | None) -> list[Publication]:
        """Empty retained messages that remove a station's state from where it was (it moved to another site)."""
        base = (
            self.base(station, site_id) if site_id is not None else station_base(self.prefix, station.station_id, None)
        )
        topics = [f"{base}/state", *(f"{base}/evse/{n}/state" for n in station.evses)]
        return [Publication(topic, b"", self.settings.qos_state, True) for topic in topics]
