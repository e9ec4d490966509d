"""The web console's settings: `console` in Settings (a [console] table in the TOML file)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evscada.core.access.logins import LoginBackOff
from evscada.core.access.throttle import BackOffRule


class LoginBackOffSettings(BaseModel):
    """[console.login_backoff]: failed log-ins slow further tries down, per user name at an address and per address."""

    model_config = ConfigDict(extra="forbid")

    failures: int = Field(5, ge=1, description="failed log-ins of one user name from one address before back-off")
    address_failures: int = Field(20, ge=1, description="failed log-ins from one address, any user names")
    window_seconds: float = Field(900.0, gt=0, description="failures older than this are forgotten")
    first_seconds: float = Field(1.0, gt=0, description="the first refusal; each further failure doubles it ...")
    user_max_seconds: float = Field(60.0, gt=0, description="... up to this for a user name at an address")
    address_max_seconds: float = Field(900.0, gt=0, description="... up to this for an address")

    def rules(self) -> LoginBackOff:
        window, first = timedelta(seconds=self.window_seconds), timedelta(seconds=self.first_seconds)
        return LoginBackOff(
            user_at_address=BackOffRule(
                failures=self.failures, window=window, first=first, longest=timedelta(seconds=self.user_max_seconds)
            ),
            address=BackOffRule(
                failures=self.address_failures,
                window=window,
                first=first,
                longest=timedelta(seconds=self.address_max_seconds),
            ),
        )


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key in [console] is an error, not silently ignored

    enabled: bool = Field(True, description="serve the web console on the HTTP port")
    tile_url: str | None = Field(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="map tiles ({z}/{x}/{y}); null: markers on the packaged country outlines (no internet)",
    )
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    session_hours: float = Field(12.0, gt=0, description="a log-in lasts this long")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: Secure cookie when the request came over https (X-Forwarded-Proto too)"
    )
    login_backoff: LoginBackOffSettings = Field(
        default_factory=LoginBackOffSettings,  # type: ignore[arg-type]
        description="[console.login_backoff]: failed log-ins back off",
    )
