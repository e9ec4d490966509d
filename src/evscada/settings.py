"""All configuration: one object, read from a TOML file and EVSCADA_* environment variables."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from evscada.bus.settings import ClusterSettings
from evscada.console.config import ConsoleSettings
from evscada.core.alarms.rules import AlarmSettings
from evscada.core.certificates.settings import CertificateSettings
from evscada.core.files.settings import FileSettings
from evscada.core.firmware.settings import FirmwareSettings
from evscada.core.reports.settings import ReportSettings
from evscada.gateway.admission import StationBackOffSettings
from evscada.integrations.iec104.settings import Iec104Settings
from evscada.integrations.mqtt.settings import MqttSettings
from evscada.integrations.notifications.config import NotificationSettings
from evscada.integrations.opcua.settings import OpcUaSettings
from evscada.integrations.webhooks.settings import WebhookSettings
from evscada.storage.historian.settings import HistorianSettings

DEFAULT_CONFIG_FILE = Path("evscada.toml")


class Settings(BaseSettings):
    """Defaults suit one process on SQLite; every field can be set as EVSCADA_<NAME> or in the TOML file."""

    model_config = SettingsConfigDict(env_prefix="EVSCADA_", extra="forbid", toml_file=None, env_parse_none_str="null")

    # Storage
    database_url: str = Field("sqlite+aiosqlite:///var/evscada.db", description="SQLAlchemy async URL")
    database_pool_size: int = Field(10, ge=1, description="connections to PostgreSQL (SQLite always uses one)")
    migrate_on_start: bool = True

    # OCPP listener
    ocpp_host: str = "0.0.0.0"
    ocpp_port: int = Field(9000, ge=0, le=65535)
    ocpp_tls_port: int = Field(9443, ge=0, le=65535, description="wss:// port; only opened when tls_cert_file is set")
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = Field(None, description="CA that signs station certificates (profile 3)")
    ocpp_versions: list[Literal["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]] = Field(
        default_factory=lambda: ["ocpp2.0.1", "ocpp1.6"],
        description='sub-protocols offered; add "ocpp2.1" to accept 2.1 stations (2.0.1 messages only)',
    )
    register_unknown_stations: bool = Field(
        False, description="false: refuse unknown station ids (HTTP 404); true: register them as Pending"
    )
    heartbeat_interval: int = Field(300, ge=1, description="seconds, sent to stations in BootNotification")
    call_timeout: float = Field(30.0, gt=0, description="seconds to wait for a station's answer to a command")
    websocket_compression: bool = Field(False, description="permessage-deflate (costs ~60 KiB per station)")
    websocket_ping_interval: float | None = Field(60.0, description="seconds between WebSocket pings; null: off")
    websocket_max_message_size: int = Field(1 << 20, description="bytes; larger frames close the connection")
    frame_log_size: int = Field(100, ge=0, description="recent OCPP frames kept in memory per station")
    upstream_buffer_limit: int = Field(
        10_000, ge=1, description="OCPP proxy: transaction messages held per station while its upstream is away"
    )
    upstream_reconnect_max: float = Field(
        60.0, gt=0, description="OCPP proxy: longest wait in seconds between attempts to reach an upstream CSMS"
    )
    upstream_key_file: str = Field(
        "var/upstream.key",
        description="OCPP proxy: Fernet key sealing upstream passwords at rest; made on first use (mode 600)",
    )
    ocpp_listen_backlog: int = Field(
        4096, ge=1, description="connections the kernel queues before accept (capped by net.core.somaxconn)"
    )
    last_seen_flush_interval: float = Field(30.0, gt=0, description="seconds between last-seen writes")
    allow_concurrent_transactions: bool = Field(False, description="may one token charge at two places at once")
    accepted_data_transfer_vendors: list[str] = Field(
        default_factory=list, description="vendorIds whose DataTransfer is answered Accepted"
    )
    station_backoff: StationBackOffSettings = Field(
        default_factory=StationBackOffSettings,  # type: ignore[arg-type]
        description="[station_backoff]: wrong station credentials back off",
    )

    # HTTP (REST API)
    http_host: str = "0.0.0.0"
    http_port: int | None = Field(8080, ge=0, le=65535, description="REST API port; null: no HTTP listener")

    export_settle_seconds: float = Field(
        2.0, ge=0, description="the transaction export leaves out changes younger than this, so none is skipped"
    )

    historian: HistorianSettings = Field(default_factory=HistorianSettings)  # type: ignore[arg-type]
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings, description="[webhooks] table: delivery")
    console: ConsoleSettings = Field(default_factory=ConsoleSettings, description="web console ([console] table)")
    certificates: CertificateSettings = Field(
        default_factory=CertificateSettings,  # type: ignore[arg-type]
        description="the certificate authority for stations' certificates ([certificates] table)",
    )
    files: FileSettings = Field(
        default_factory=FileSettings,  # type: ignore[arg-type]
        description="station files: diagnostics and log uploads ([files] table)",
    )
    firmware: FirmwareSettings = Field(
        default_factory=FirmwareSettings,  # type: ignore[arg-type]
        description="firmware images, downloads and campaigns ([firmware] table)",
    )

    # Operations
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    operator_timezone: str = Field(
        "UTC", description="IANA time zone of the operator's clock: vehicles' daily departures are times of day in it"
    )
    alarms: AlarmSettings = Field(default_factory=AlarmSettings, description="alarm engine rules ([alarms] table)")
    load_management_interval_seconds: float | None = Field(
        15.0, gt=0, description="site load management recomputes at least this often; null: no load management"
    )
    load_management_send_interval_seconds: float = Field(
        30.0, ge=0, description="a station is sent a new limit at most this often, unless it must go down"
    )
    load_management_lease_seconds: float = Field(
        900.0,
        ge=60,
        description="a load management limit holds this long unless renewed; then the station's fail-safe applies",
    )

    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    reports: ReportSettings = Field(
        default_factory=ReportSettings,  # type: ignore[arg-type]
        description="KPI reports: schedule, scopes, availability target, retention, subscribers ([reports] table)",
    )
    mqtt: MqttSettings = Field(
        default_factory=MqttSettings, description="[mqtt] table: the MQTT bridge (off by default)"
    )
    opcua: OpcUaSettings = Field(
        default_factory=OpcUaSettings, description="[opcua] table: the OPC UA server (off by default)"
    )
    iec104: Iec104Settings = Field(
        default_factory=Iec104Settings, description="[iec104] table: the IEC 60870-5-104 server (off by default)"
    )
    cluster: ClusterSettings = Field(
        default_factory=ClusterSettings,
        description="[cluster] table: several gateway and API processes on PostgreSQL and Redis (off by default)",
    )

    @field_validator("operator_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"{name!r} is not an IANA time zone name; use one such as 'Europe/Berlin' or 'UTC'"
            ) from None
        return name

    def upload_base_url(self, http_port: int) -> str:
        """Where stations upload files: files.public_base_url, else this HTTP listener's address (a wildcard host
        replaced by this machine's name, which stations may or may not resolve: set public_base_url then)."""
        if self.files.public_base_url:
            return self.files.public_base_url.rstrip("/")
        host = self.http_host if self.http_host not in ("", "0.0.0.0", "::") else socket.gethostname()
        return f"http://[{host}]:{http_port}" if ":" in host else f"http://{host}:{http_port}"

    @property
    def operator_zone(self) -> ZoneInfo:
        """operator_timezone as a zone (checked at load)."""
        return ZoneInfo(self.operator_timezone)

    @model_validator(mode="after")
    def _cluster_needs_shared_storage(self) -> Settings:
        if self.cluster.role != "all" and not self.cluster.enabled:
            raise ValueError(
                f"cluster.role {self.cluster.role!r} needs cluster.redis_url: a {self.cluster.role} process works "
                "beside others, which it reaches through Redis; set it, or use role 'all' for one process"
            )
        if self.cluster.enabled and self.database_url.startswith("sqlite"):
            raise ValueError(
                "cluster.redis_url is set but database_url is SQLite, which processes on several machines cannot "
                "share; use PostgreSQL (postgresql+asyncpg://...) or unset cluster.redis_url"
            )
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def _config_file() -> Path | None:
    """EVSCADA_CONFIG names the TOML file; otherwise ./evscada.toml if present."""
    named = os.environ.get("EVSCADA_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"EVSCADA_CONFIG names {path}, which does not exist")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
