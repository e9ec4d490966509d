"""`[opcua]` in the settings file (docs/configuration.md lists them; docs/scada-bridges.md explains the server)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

SecurityPolicy = Literal["None", "Basic256Sha256_SignAndEncrypt"]


class OpcUaUser(BaseModel):
    model_config = {"extra": "forbid"}

    username: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=8, description="at least 8 characters")
    role: Literal["read_only", "operator"] = Field(
        "read_only", description="read_only: browse, read, subscribe; operator: also call the station methods"
    )


class OpcUaSettings(BaseModel):
    model_config = {"extra": "forbid"}

    enabled: bool = Field(False, description="run the OPC UA server in this process")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(4840, ge=0, le=65535, description="OPC UA port (4840 is the standard one; 0: any free port)")
    application_uri: str = Field("urn:evscada:opcua", description="the server's ApplicationUri (in its certificate)")
    security_policies: list[SecurityPolicy] = Field(
        default_factory=lambda: ["Basic256Sha256_SignAndEncrypt"],  # type: ignore[arg-type]
        min_length=1,
        description='endpoints offered; add "None" only on a trusted network (passwords then travel unencrypted)',
    )
    certificate_file: Path | None = Field(None, description="server certificate (DER or PEM); null: generated")
    private_key_file: Path | None = Field(None, description="its private key (PEM)")
    certificate_folder: str = Field(
        "var/opcua", min_length=1, description="where a generated certificate and key are kept (made on first start)"
    )
    users: list[OpcUaUser] = Field(default_factory=list, description="[[opcua.users]]: who may log in; no anonymous")
    queue_size: int = Field(10_000, ge=10, description="value updates the server holds back; then the oldest go")

    @property
    def certificate_path(self) -> Path:
        return Path(self.certificate_folder)

    @model_validator(mode="after")
    def _certificate_pair(self) -> OpcUaSettings:
        if (self.certificate_file is None) != (self.private_key_file is None):
            raise ValueError("opcua certificate_file and private_key_file must be set together (or neither)")
        return self

    @field_validator("users")
    @classmethod
    def _unique_users(cls, users: list[OpcUaUser]) -> list[OpcUaUser]:
        names = [user.username for user in users]
        if len(names) != len(set(names)):
            raise ValueError("opcua users: each username once")
        return users
