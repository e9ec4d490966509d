"""Settings of firmware (Settings.firmware): image size, download token lifetime and the campaign runner's pace."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from evscada.core.firmware.service import FirmwareConfig

MIB = 1 << 20


class FirmwareSettings(BaseModel):
    """In TOML under [firmware]; as a variable, EVSCADA_FIRMWARE='{"max_image_bytes": 268435456}' (JSON).
    Images are kept in the station files' store ([files] folder) under keys of their own."""

    model_config = ConfigDict(extra="forbid")

    max_image_bytes: int = Field(512 * MIB, ge=1024, description="a larger firmware image upload is refused")
    download_token_lifetime_seconds: float = Field(
        86_400.0,
        gt=0,
        description="a firmware download token (one per update request) works this long after the retrieve time; "
        "the station may retry within it",
    )
    campaign_interval_seconds: float = Field(
        5.0, gt=0, description="seconds between the campaign runner's turns (next batch, halt, completion)"
    )
    station_timeout_seconds: float = Field(
        7200.0, gt=0, description="a campaign counts a station without a final firmware status this long as failed"
    )

    def config(self) -> FirmwareConfig:
        return FirmwareConfig(
            max_image_bytes=self.max_image_bytes,
            token_lifetime=timedelta(seconds=self.download_token_lifetime_seconds),
            station_timeout=timedelta(seconds=self.station_timeout_seconds),
        )
