"""Webhook delivery settings: `[webhooks]` in the TOML file (docs/configuration.md lists them)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebhookSettings(BaseModel):
    model_config = {"extra": "forbid"}

    enabled: bool = Field(True, description="dispatch and send webhooks in this process")
    poll_interval: float = Field(5.0, gt=0, description="seconds between scans when no event wakes the sender")
    request_timeout: float = Field(10.0, gt=0, description="seconds a receiver has to answer one POST")
    concurrency: int = Field(8, ge=1, description="POSTs in flight at once, over all receivers")
    retry_initial: float = Field(10.0, gt=0, description="seconds before the first retry; doubles each attempt")
    retry_max: float = Field(3600.0, gt=0, description="longest wait between two attempts, in seconds")
    retry_jitter: float = Field(0.2, ge=0, le=1, description="each wait is shortened by up to this fraction")
    max_age: float = Field(
        3 * 24 * 3600.0, gt=0, description="seconds after which an undelivered delivery is marked failed"
    )
