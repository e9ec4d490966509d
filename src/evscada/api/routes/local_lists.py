"""Local authorization lists: send them (full or differential), ask a station's version, see what was sent."""

from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from evscada.api.command_schemas import LocalListCommandOut, LocalListEntryOut, LocalListOut
from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.routes.commands import FAILURE_DOCS, CommandBody, raise_failure
from evscada.api.schemas import CommandOut
from evscada.core.model import StationId

router = APIRouter(tags=["local lists"])


class SendLocalListBody(CommandBody):
    update: Literal["full", "differential"] = Field(
        description="full: every token (of the group); differential: what changed since the last accepted update"
    )
    group: str | None = Field(
        None, max_length=255, description="full updates only: just the tokens of this group (kept by later updates)"
    )


@router.post(
    "/stations/{station_id}/commands/send_local_list",
    response_model=LocalListCommandOut,
    responses=FAILURE_DOCS,
    summary="send local list",
)
async def send_local_list(
    station_id: str, body: SendLocalListBody, core: CoreDep, user: Operator
) -> LocalListCommandOut:
    """Install the token list on the station; only an Accepted answer changes what is recorded as sent."""
    await core.queries.station(station_id=StationId(station_id))  # 404 before anything is logged
    sent = await core.local_lists.send(
        station_id=StationId(station_id),
        full=body.update == "full",
        group_id=body.group,
        actor=user.username,
        reason=body.reason,
    )
    result = LocalListCommandOut.of_sent(sent)
    raise_failure(result)
    return result


@router.post(
    "/stations/{station_id}/commands/get_local_list_version",
    response_model=CommandOut,
    responses=FAILURE_DOCS,
    summary="send get local list version",
)
async def get_local_list_version(station_id: str, body: CommandBody, core: CoreDep, user: Operator) -> CommandOut:
    """The station's answer is in data.version (0: no list); it is also kept in the station's local-list state."""
    await core.queries.station(station_id=StationId(station_id))
    outcome = await core.local_lists.read_version(
        station_id=StationId(station_id), actor=user.username, reason=body.reason
    )
    result = CommandOut.of(outcome)
    raise_failure(result)
    return result


@router.get("/stations/{station_id}/local-list", response_model=LocalListOut)
async def local_list(station_id: str, core: CoreDep, _: Viewer) -> LocalListOut:
    """The list version the station last accepted, when, how many entries, and what it last reported."""
    return LocalListOut.model_validate(await core.local_lists.state(station_id=StationId(station_id)))


@router.get("/stations/{station_id}/local-list/entries", response_model=list[LocalListEntryOut])
async def local_list_entries(station_id: str, core: CoreDep, _: Viewer) -> list[LocalListEntryOut]:
    """The tokens the station's list holds, as the CSMS last installed them."""
    entries = await core.local_lists.entries(station_id=StationId(station_id))
    return [LocalListEntryOut.model_validate(entry) for entry in entries]
