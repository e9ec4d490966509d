"""`[iec104]` in the settings file (docs/configuration.md lists them; docs/scada-bridges.md gives the address map)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

MAX_IOA = 16_777_215  # information object addresses are 3 octets in IEC 60870-5-104


class Iec104Settings(BaseModel):
    model_config = {"extra": "forbid"}

    enabled: bool = Field(False, description="run the IEC 60870-5-104 server in this process")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(2404, ge=1, le=65535, description="IEC 104 port (2404 is the standard one)")
    common_address: int = Field(1, ge=1, le=65534, description="the ASDU common address of the evscada station")
    allowed_clients: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="IP addresses or networks (CIDR) of the control centres allowed to connect; others are refused",
    )
    site_base: int = Field(0, ge=0, description="IOA of site 0's block: a site's block starts at base + id x stride")
    site_stride: int = Field(10_000, ge=100, description="addresses per site block")
    station_offset: int = Field(100, ge=20, description="first station's address within its site's block")
    station_stride: int = Field(10, ge=3, description="addresses per station within its site's block")
    power_deadband_kw: float = Field(
        1.0, ge=0, allow_inf_nan=False, description="a power value is sent spontaneously when it moved more than this"
    )
    limit_poll_seconds: float = Field(
        5.0, gt=0, description="how often the limits in force are re-read (a load curve's period begins by time)"
    )
    setpoint_max_kw: float = Field(
        100_000.0, gt=0, allow_inf_nan=False, description="largest site limit set-point accepted; above: refused"
    )
    setpoint_hold_minutes: float = Field(
        60.0, gt=0, description="a set-point or curtailment lapses after this unless the control centre renews it"
    )
    curtailment_kw: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="the site limit the curtailment command (on) imposes"
    )
    command_timeout: float = Field(10.0, gt=0, description="seconds the energy management has to act on a command")
    t1: int = Field(15, ge=1, le=255, description="t1: seconds a sent APDU may wait for its acknowledgement")
    t2: int = Field(10, ge=1, le=255, description="t2: seconds before received APDUs are acknowledged (< t1)")
    t3: int = Field(20, ge=1, le=255, description="t3: seconds of silence before a test frame is sent")
    queue_size: int = Field(10_000, ge=10, description="value updates the server holds back; then the oldest go")
    tls: bool = Field(False, description="IEC 62351-3 TLS on the port: TLS 1.2 or later, both sides show a certificate")
    tls_certificate: Path | None = Field(None, description="the server's certificate (PEM; its chain may follow)")
    tls_private_key: Path | None = Field(None, description="its private key (PEM, unencrypted)")
    tls_client_ca: Path | None = Field(
        None, description="CA certificate(s) (PEM) that issued the control centres' certificates; others are refused"
    )

    @field_validator("allowed_clients")
    @classmethod
    def _networks(cls, clients: list[str]) -> list[str]:
        for client in clients:
            try:
                ipaddress.ip_network(client, strict=False)
            except ValueError:
                raise ValueError(
                    f"iec104 allowed_clients: {client!r} is not an IP address or network, e.g. '10.1.2.3' or "
                    "'10.1.0.0/16'"
                ) from None
        return clients

    @model_validator(mode="after")
    def _layout(self) -> Iec104Settings:
        if self.station_offset + self.station_stride > self.site_stride:
            raise ValueError("iec104: station_offset + station_stride must fit in site_stride (no room for a station)")
        if self.t2 >= self.t1:
            raise ValueError("iec104: t2 must be shorter than t1 (IEC 60870-5-104 5.2)")
        if self.site_base + self.site_stride > MAX_IOA:
            raise ValueError(f"iec104: site_base + site_stride must stay below {MAX_IOA} (3-octet addresses)")
        if self.tls:
            missing = [
                name for name in ("tls_certificate", "tls_private_key", "tls_client_ca") if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"iec104: tls = true needs {', '.join(missing)}: the server's certificate and key, and the CA that "
                    "issued the control centres' certificates (IEC 62351-3 authenticates both sides)"
                )
        return self

    def allows(self, ip: str) -> bool:
        """Whether a control centre at this address may connect."""
        try:
            address = ipaddress.ip_address(ip.split("%", maxsplit=1)[0])
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(n, strict=False) for n in self.allowed_clients)
