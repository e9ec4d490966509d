"""The web console's settings: `console` in Settings (a [console] table in the TOML file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key in [console] is an error, not silently ignored

    enabled: bool = Field(True, description="serve the web console on the HTTP port")
    tile_url: str | None = Field(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="map tiles ({z}/{x}/{y}); null: markers on a plain background (networks without internet)",
    )
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    session_hours: float = Field(12.0, gt=0, description="a log-in lasts this long")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: Secure cookie when the request came over https (X-Forwarded-Proto too)"
    )
