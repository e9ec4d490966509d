"""A 2.0.1 station's device model, as its reports (NotifyReport after get_base_report / get_report) left it."""

from typing import Annotated

from fastapi import APIRouter, Query

from evscada.api.command_schemas import DeviceVariableOut
from evscada.api.deps import CoreDep, Viewer
from evscada.api.params import EvseId, Offset
from evscada.core.model import StationId
from evscada.core.stations.device_model import DeviceModelFilter

router = APIRouter(tags=["device model"])


@router.get("/stations/{station_id}/device-model", response_model=list[DeviceVariableOut])
async def device_model(
    *,
    station_id: str,
    core: CoreDep,
    _: Viewer,
    component: Annotated[str | None, Query(max_length=50)] = None,
    variable: Annotated[str | None, Query(max_length=50)] = None,
    evse_id: EvseId | None = None,
    attribute_type: Annotated[str | None, Query(pattern="^(Actual|Target|MinSet|MaxSet)$")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Offset = 0,
) -> list[DeviceVariableOut]:
    """One row per component / variable / attribute type, the latest reported value; empty for 1.6 stations."""
    where = DeviceModelFilter(
        component=component,
        variable=variable,
        evse_id=evse_id,
        attribute_type=attribute_type,
        limit=limit,
        offset=offset,
    )
    variables = await core.device_model.variables(station_id=StationId(station_id), where=where)
    return [DeviceVariableOut.model_validate(v) for v in variables]
