"""`[mqtt]` in the settings file (docs/configuration.md lists them; docs/scada-bridges.md explains the topics)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from evscada.integrations.bridge.commands import ACTIONS

Qos = Literal[0, 1, 2]


class MqttSettings(BaseModel):
    model_config = {"extra": "forbid"}

    enabled: bool = Field(False, description="run the MQTT bridge in this process")
    host: str = Field("127.0.0.1", description="the broker's host name or address")
    port: int = Field(1883, ge=1, le=65535, description="the broker's port (8883 is usual with TLS)")
    username: str | None = Field(None, description="the bridge's broker user; null: connect without credentials")
    password: SecretStr | None = Field(None, description="its password (keep the settings file private)")
    client_id: str = Field("evscada", min_length=1, max_length=64, description="MQTT client id; one per node")
    topic_prefix: str = Field("evscada", min_length=1, description="first level of every topic")
    tls: bool = Field(False, description="connect with TLS (the system's CAs, or tls_ca_file)")
    tls_ca_file: Path | None = Field(None, description="CA that signs the broker's certificate")
    keepalive: int = Field(30, ge=5, description="seconds between MQTT pings; a dead broker is noticed after 1.5x")
    qos_state: Qos = Field(1, description="QoS of station and EVSE states (always retained)")
    qos_telemetry: Qos = Field(0, description="QoS of telemetry (power, energy, current, voltage, SoC)")
    qos_event: Qos = Field(1, description="QoS of alarms, session events and command replies")
    queue_size: int = Field(10_000, ge=10, description="publications the bridge holds back; then the oldest go")
    publish_timeout: float = Field(10.0, gt=0, description="seconds a broker has to acknowledge; then reconnect")
    reconnect_initial: float = Field(1.0, gt=0, description="seconds before the first reconnect; doubles each try")
    reconnect_max: float = Field(60.0, gt=0, description="longest wait between two reconnects, in seconds")
    command_actions: list[str] = Field(
        default_factory=list,
        description="actions accepted on the command topic (remote_start, reset ...); empty: every command refused",
    )

    @field_validator("command_actions")
    @classmethod
    def _known_actions(cls, actions: list[str]) -> list[str]:
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            raise ValueError(f"unknown command action(s) {unknown}; choose among {list(ACTIONS)}")
        return actions

    @field_validator("topic_prefix")
    @classmethod
    def _plain_prefix(cls, prefix: str) -> str:
        if any(ch in prefix for ch in "+#") or prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"topic_prefix {prefix!r} must not hold + or # nor start or end with /, e.g. 'evscada'")
        return prefix
