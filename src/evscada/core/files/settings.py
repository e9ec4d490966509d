"""Settings of station files (Settings.files): where they are kept, how big, how long, and the address stations
upload to."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from evscada.core.files.service import FileConfig

MIB = 1 << 20


class FileSettings(BaseModel):
    """In TOML under [files]; as a variable, EVSCADA_FILES='{"max_upload_bytes": 52428800}' (JSON)."""

    model_config = ConfigDict(extra="forbid")

    folder: str = Field("var/files", min_length=1, description="where the local file store keeps station files")
    public_base_url: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        description="http(s)://host[:port] stations reach the CSMS's HTTP listener at (behind a proxy: its address); "
        "null: http://<http_host>:<http_port>, or this machine's host name when http_host is 0.0.0.0",
    )
    max_upload_bytes: int = Field(100 * MIB, ge=1024, description="a larger upload is refused (413) and not kept")
    token_lifetime_seconds: float = Field(
        3600.0, gt=0, description="an upload token (one per request) expires this long after the request"
    )
    retention_days: float | None = Field(90.0, gt=0, description="files older than this are deleted; null: kept")
    retention_max_total_bytes: int | None = Field(
        10 * 1024 * MIB, ge=MIB, description="above this total the oldest files are deleted; null: no limit"
    )
    retention_interval_seconds: float = Field(3600.0, gt=0, description="seconds between retention sweeps")

    @property
    def folder_path(self) -> Path:
        return Path(self.folder)

    def config(self) -> FileConfig:
        return FileConfig(
            max_upload_bytes=self.max_upload_bytes,
            token_lifetime=timedelta(seconds=self.token_lifetime_seconds),
            max_age=timedelta(days=self.retention_days) if self.retention_days is not None else None,
            max_total_bytes=self.retention_max_total_bytes,
        )
