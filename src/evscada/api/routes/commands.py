"""Remote control: one typed route per command, so OpenAPI documents each body."""

# No `from __future__ import annotations` here: the command routes are built in a loop, and FastAPI must see
# each body model as a real type, not a string.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.energy_schemas import ChargingProfileBody
from evscada.api.params import EvseId, EvseIdOrZero
from evscada.api.schemas import CommandLogOut, CommandOut, IdTokenType
from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported
from evscada.core.model import IdToken, StationId

router = APIRouter(tags=["commands"])


class CommandBody(BaseModel):
    reason: str | None = Field(None, max_length=500, description="why; kept in the command log")


class RemoteStartBody(CommandBody):
    id_token: str = Field(min_length=1, max_length=36, description="the idTag / idToken to charge for")
    token_type: IdTokenType = Field("ISO14443", description="2.0.1 idToken type (ignored by 1.6 stations)")
    evse_id: EvseId | None = Field(None, description="EVSE (1.6: connector); absent: the station chooses")
    charging_profile: ChargingProfileBody | None = Field(
        None, description="a Tx profile for the transaction (no transaction_id); checked like a set profile"
    )


class RemoteStopBody(CommandBody):
    transaction_id: str = Field(min_length=1, max_length=36, description="the station's transaction id")


class ChangeAvailabilityBody(CommandBody):
    operative: bool = Field(description="false locks the station or EVSE (Inoperative)")
    evse_id: EvseIdOrZero = Field(0, description="0: the whole station")
    connector_id: EvseId | None = None


class ResetBody(CommandBody):
    kind: c.ResetKind = Field(c.ResetKind.SOFT, description="soft waits for sessions to end; hard does not")
    evse_id: EvseId | None = Field(None, description="2.0.1 only: reset one EVSE")


class UnlockConnectorBody(CommandBody):
    evse_id: EvseId
    connector_id: EvseId = 1


# What TriggerMessage may ask for in any version (1.6 TriggerMessage, 2.0.1 MessageTriggerEnumType). The station's
# version refuses what it does not know (400, naming the version); log and diagnostics status are asked for in the
# station's own word.
MessageTrigger = Literal[
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "LogStatusNotification",
    "TransactionEvent",
    "SignChargingStationCertificate",
    "SignV2GCertificate",
    "SignCombinedCertificate",
    "PublishFirmwareStatusNotification",
]


class TriggerMessageBody(CommandBody):
    message: MessageTrigger
    evse_id: EvseIdOrZero | None = None


class DataTransferBody(CommandBody):
    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(None, max_length=50)
    data: Any = None


class SettingBody(BaseModel):
    name: str = Field(min_length=1, max_length=50, description="1.6 key, or 2.0.1 variable name")
    component: str | None = Field(None, max_length=50, description="2.0.1 component (required for 2.0.1)")
    evse_id: EvseIdOrZero | None = None

    def ref(self) -> c.SettingRef:
        return c.SettingRef(name=self.name, component=self.component, evse_id=self.evse_id)


class GetConfigurationBody(CommandBody):
    settings: list[SettingBody] = Field(default_factory=list, max_length=100, description="empty: every key (1.6 only)")


class ChangeConfigurationBody(SettingBody, CommandBody):
    value: str = Field(max_length=1000)


class GetBaseReportBody(CommandBody):
    report_base: c.ReportBase = Field(c.ReportBase.FULL, description="2.0.1 only; the report's requestId is command_id")


class ComponentVariableBody(BaseModel):
    component: str = Field(min_length=1, max_length=50)
    component_instance: str | None = Field(None, max_length=50)
    evse_id: EvseId | None = None
    connector_id: EvseId | None = None
    variable: str | None = Field(None, min_length=1, max_length=50, description="absent: every variable")
    variable_instance: str | None = Field(None, max_length=50)

    def ref(self) -> c.ComponentVariableRef:
        return c.ComponentVariableRef(**self.model_dump())


class GetReportBody(CommandBody):
    criteria: list[Literal["Active", "Available", "Enabled", "Problem"]] = Field(default_factory=list, max_length=4)
    items: list[ComponentVariableBody] = Field(default_factory=list, max_length=100, description="components to report")


def _to_command(name: str, body: Any) -> c.Command:
    match body:
        case RemoteStartBody():
            profile = body.charging_profile.to_core() if body.charging_profile else None
            return c.RemoteStart(
                id_token=IdToken(body.id_token, body.token_type), evse_id=body.evse_id, charging_profile=profile
            )
        case RemoteStopBody():
            return c.RemoteStop(station_transaction_id=body.transaction_id)
        case ChangeAvailabilityBody():
            return c.ChangeAvailability(operative=body.operative, evse_id=body.evse_id, connector_id=body.connector_id)
        case ResetBody():
            return c.Reset(kind=body.kind, evse_id=body.evse_id)
        case UnlockConnectorBody():
            return c.UnlockConnector(evse_id=body.evse_id, connector_id=body.connector_id)
        case TriggerMessageBody():
            return c.TriggerMessage(message=body.message, evse_id=body.evse_id)
        case GetConfigurationBody():
            return c.GetSettings(settings=tuple(setting.ref() for setting in body.settings))
        case ChangeConfigurationBody():
            return c.ChangeSetting(setting=body.ref(), value=body.value)
        case DataTransferBody():
            return c.DataTransfer(vendor_id=body.vendor_id, message_id=body.message_id, data=body.data)
        case GetBaseReportBody():
            return c.GetBaseReport(base=body.report_base)
        case GetReportBody():
            return c.GetReport(criteria=tuple(body.criteria), items=tuple(item.ref() for item in body.items))
    if name == "clear_cache":
        return c.ClearCache()
    raise ValueError(name)


BODIES: dict[str, type[CommandBody]] = {
    "remote_start": RemoteStartBody,
    "remote_stop": RemoteStopBody,
    "change_availability": ChangeAvailabilityBody,
    "reset": ResetBody,
    "unlock_connector": UnlockConnectorBody,
    "clear_cache": CommandBody,
    "trigger_message": TriggerMessageBody,
    "data_transfer": DataTransferBody,
    "get_configuration": GetConfigurationBody,
    "change_configuration": ChangeConfigurationBody,
    "get_base_report": GetBaseReportBody,
    "get_report": GetReportBody,
}

# What each outcome means to an HTTP client.
_FAILURES = {
    "offline": status.HTTP_409_CONFLICT,
    "timeout": status.HTTP_504_GATEWAY_TIMEOUT,
    "call_error": status.HTTP_502_BAD_GATEWAY,
}


def raise_failure(result: CommandOut) -> None:
    """Offline, timeout and CALLERROR are HTTP errors carrying the outcome, for every command."""
    if result.outcome in _FAILURES:
        raise HTTPException(_FAILURES[result.outcome], result.model_dump(mode="json"))


def _route(name: str, body_type: type[CommandBody]) -> Callable[..., Awaitable[CommandOut]]:
    async def send(station_id: str, body: body_type, core: CoreDep, user: Operator) -> CommandOut:  # type: ignore[valid-type]
        await core.queries.station(station_id=StationId(station_id))  # 404 before anything is logged
        command, sid, reason = _to_command(name, body), StationId(station_id), body.reason
        try:
            if isinstance(command, c.RemoteStart):  # core.energy checks and keeps the profile it may carry
                outcome = await core.charging_profiles.remote_start(
                    station_id=sid, command=command, actor=user.username, reason=reason
                )
            else:
                outcome = await core.commands.send(station_id=sid, command=command, actor=user.username, reason=reason)
        except CommandNotSupported as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.message) from None
        result = CommandOut.of(outcome)
        raise_failure(result)
        return result

    send.__name__ = f"command_{name}"
    return send


FAILURE_DOCS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the station's OCPP version has no such command"},
    404: {"description": "unknown station"},
    409: {"description": "the station is offline: nothing was sent"},
    502: {"description": "the station answered with a CALLERROR"},
    504: {"description": "the station did not answer in time"},
}

for _name, _body in BODIES.items():
    router.add_api_route(
        f"/stations/{{station_id}}/commands/{_name}",
        _route(_name, _body),
        methods=["POST"],
        response_model=CommandOut,
        responses=FAILURE_DOCS,
        summary=f"send {_name.replace('_', ' ')}",
    )


@router.get("/commands", response_model=list[CommandLogOut])
async def command_log(
    core: CoreDep, _: Viewer, station_id: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[CommandLogOut]:
    """The command log: who sent what, when, why, and what came back."""
    entries = await core.queries.commands(station_id=StationId(station_id) if station_id else None, limit=limit)
    return [CommandLogOut.model_validate(entry) for entry in entries]
