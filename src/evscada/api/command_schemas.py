"""What the API returns for local lists, reservations and device models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from evscada.api.schemas import CommandOut
from evscada.core.charging.local_lists import LocalListSent
from evscada.core.charging.reservations import Reservation, ReservationSent


class LocalListOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from core.local_lists.LocalListState

    station_id: str
    version: int = Field(description="of the last list the station accepted; 0: none sent yet")
    attempted_version: int = Field(description="the highest version sent, accepted or not")
    update: str | None = Field(description="full | differential: the last accepted update")
    group_id: str | None = Field(description="the token group the list is limited to; null: every token")
    sent_at: datetime | None
    command_id: int | None = Field(description="command log entry of the last accepted update")
    entries: int = Field(description="tokens in the list as last accepted")
    reported_version: int | None = Field(description="what the station said at the last get_local_list_version")
    reported_at: datetime | None


class LocalListEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    value: str
    type: str
    status: str | None
    expires_at: datetime | None
    group_id: str | None


class LocalListCommandOut(CommandOut):
    local_list: LocalListOut
    updated: int = Field(description="entries sent with their info (added or changed)")
    removed: int = Field(description="entries sent for removal (differential updates)")
    note: str | None = Field(None, description="what to do when the station did not accept")

    @classmethod
    def of_sent(cls, sent: LocalListSent) -> LocalListCommandOut:
        note = None
        if sent.outcome.status == "VersionMismatch":
            note = "the station's list is not the one the CSMS last installed; send a full update"
        elif sent.outcome.status == "NotSupported":
            note = "the station has no local authorization list (or it is switched off)"
        elif sent.outcome.status == "Failed":
            note = "the station could not store the list (too long, or full); nothing was recorded as sent"
        return cls(
            **CommandOut.of(sent.outcome).model_dump(),
            local_list=LocalListOut.model_validate(sent.state),
            updated=sent.updated,
            removed=sent.removed,
            note=note,
        )


class ReservationOut(BaseModel):
    id: int = Field(description="also the reservationId the station knows it by")
    station_id: str
    evse_id: int | None = Field(description="1.6: the connector; null: any")
    connector_type: str | None
    id_token: str
    group_id: str | None
    expires_at: datetime
    status: str = Field(
        description="pending | accepted | rejected | faulted | occupied | unavailable | failed | cancelled | "
        "removed | expired | used"
    )
    active: bool
    created_by: str
    reason: str | None
    command_id: int | None
    cancel_command_id: int | None
    transaction_id: int | None = Field(description="the transaction that used it")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: Reservation) -> ReservationOut:
        return cls(
            id=r.id,
            station_id=r.station_id,
            evse_id=r.evse_id,
            connector_type=r.connector_type,
            id_token=r.id_token,
            group_id=r.group_id,
            expires_at=r.expires_at,
            status=str(r.status),
            active=r.active,
            created_by=r.created_by,
            reason=r.reason,
            command_id=r.command_id,
            cancel_command_id=r.cancel_command_id,
            transaction_id=r.transaction_pk,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class ReservationCommandOut(CommandOut):
    reservation: ReservationOut

    @classmethod
    def of_sent(cls, sent: ReservationSent) -> ReservationCommandOut:
        return cls(**CommandOut.of(sent.outcome).model_dump(), reservation=ReservationOut.of(sent.reservation))


class DeviceVariableOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from core.device_model.DeviceVariable

    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    attribute_type: str = Field(description="Actual | Target | MinSet | MaxSet")
    value: str | None
    mutability: str | None
    persistent: bool | None
    constant: bool | None
    data_type: str | None
    unit: str | None
    min_limit: float | None
    max_limit: float | None
    values_list: str | None
    supports_monitoring: bool | None
    request_id: int | None = Field(description="the report it came in (the command log id of its request)")
    reported_at: datetime | None
