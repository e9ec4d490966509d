"""The IEC 60870-5-104 server's address map, for the grid operator's engineer who configures the control centre."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from evscada.api.deps import Context, Viewer

router = APIRouter(tags=["operations"])


class Iec104PointOut(BaseModel):
    ioa: int = Field(description="information object address")
    type: str = Field(description="ASDU type: M_ME_NC_1, M_ME_NB_1, M_SP_NA_1, C_SE_NC_1, C_SC_NA_1")
    direction: Literal["monitor", "command"]
    quantity: str = Field(description="site_power, site_limit, station_state ... (docs/scada-bridges.md)")
    site_id: int
    station_id: str | None = Field(description="the station of a per-station object; null for a site's")
    unit: str | None
    description: str
    value: float | bool | int | None = Field(description="the value the server holds now; null for commands")
    valid: bool | None = Field(description="false when the value is not known (sent with quality invalid)")


@router.get(
    "/iec104/points",
    response_model=list[Iec104PointOut],
    responses={503: {"description": "the IEC 104 server does not run in this process"}},
)
async def iec104_points(context: Context, _: Viewer) -> list[Iec104PointOut]:
    """Every information object in address order, with its value now; the common address is `[iec104]`'s."""
    if context.iec104_points is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the IEC 104 server is off: set [iec104] enabled = true"
        )
    return [Iec104PointOut(**point) for point in context.iec104_points()]
