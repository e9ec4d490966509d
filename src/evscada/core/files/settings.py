"""Settings of station files (Settings.files): where they are kept, how big, how long, and the address stations
upload to."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from evscada.core.files.service import FileConfig

MIB = 1 << 20


class FileSettings(BaseModel):
    """In TOML under [files]; as a variable, EVSCADA_FILES='{"max_upload_bytes": 52428800}' (JSON)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "s3"] = Field(
        "local", description='"local": the folder below; "s3": an S3-compatible bucket (AWS S3, MinIO, Ceph ...)'
    )
    folder: str = Field("var/files", min_length=1, description="where the local file store keeps station files")
    s3_endpoint_url: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+/?$",
        description="http(s)://host[:port] of the S3-compatible server (MinIO: http://minio:9000); null: AWS S3",
    )
    s3_bucket: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="the bucket (it must exist: start-up checks it); required with backend s3",
    )
    s3_region: str = Field("us-east-1", pattern=r"^[a-z0-9-]+$", description="the bucket's region")
    s3_access_key_id: str | None = Field(
        None, min_length=1, description="null (with the secret): AWS_ACCESS_KEY_ID, ~/.aws or the machine's role"
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, min_length=1, description="keep the settings file private, or use AWS_SECRET_ACCESS_KEY"
    )
    s3_prefix: str = Field(
        "",
        pattern=r"^([A-Za-z0-9._-]+/)*$",
        description='put before every key, ending in "/" (e.g. "evscada/"); "": none',
    )
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

    @model_validator(mode="after")
    def _s3_complete(self) -> Self:
        if self.backend == "s3" and self.s3_bucket is None:
            raise ValueError('files.backend is "s3" but files.s3_bucket is not set: set it to the bucket\'s name')
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError(
                "set both files.s3_access_key_id and files.s3_secret_access_key, or neither (then AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY, ~/.aws or the machine's role are used)"
            )
        return self

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
