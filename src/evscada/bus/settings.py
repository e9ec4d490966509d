"""The [cluster] table: several processes sharing PostgreSQL and Redis (ADR 12); unset, one process as always."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import BaseModel, Field, field_validator

Role = Literal["all", "gateway", "api"]


def default_node_id() -> str:
    """hostname-pid: unique per process, and says where to look when a node misbehaves."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ClusterSettings(BaseModel):
    model_config = {"extra": "forbid"}

    redis_url: str | None = Field(
        None,
        description="Redis that joins the processes, e.g. redis://10.0.0.5:6379/0; unset: one process, no Redis",
    )
    role: Role = Field(
        "all",
        description="all: OCPP and HTTP in one process; gateway: OCPP listeners (HTTP: health and metrics only); "
        "api: HTTP only (serve --role overrides)",
    )
    node_id: str = Field("", max_length=100, description="this process's name in the cluster; empty: hostname-pid")
    prefix: str = Field(
        "evscada", min_length=1, max_length=50, description="start of every Redis key and channel (one per cluster)"
    )
    ownership_seconds: float = Field(
        30.0, ge=3, description="a station's owner record expires this long after its gateway stopped renewing it"
    )
    lease_seconds: float = Field(
        10.0, ge=2, description="the leader lease: a killed leader's background work moves within this time"
    )

    @field_validator("prefix")
    @classmethod
    def _plain_prefix(cls, prefix: str) -> str:
        if not all(c.isalnum() or c in "-_." for c in prefix):
            raise ValueError(f"cluster.prefix {prefix!r} may hold only letters, digits, '-', '_' and '.'")
        return prefix

    @field_validator("node_id")
    @classmethod
    def _plain_node_id(cls, node_id: str) -> str:
        if not all(c.isalnum() or c in "-_.:" for c in node_id):
            raise ValueError(f"cluster.node_id {node_id!r} may hold only letters, digits, '-', '_', '.' and ':'")
        return node_id

    @property
    def enabled(self) -> bool:
        return self.redis_url is not None

    @property
    def node(self) -> str:
        return self.node_id or default_node_id()
