"""Bodies of a site's electrical layout: its feeders, and a station's supply (PATCH /stations/{id})."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evscada.api.params import Id
from evscada.api.routes.site_limits import LimitOut
from evscada.api.schemas import Name
from evscada.core.energy.layout import MAX_EVSE_W, MAX_FEEDER_A, MAX_FEEDER_W, Feeder

FeederAmps = Field(None, gt=0, le=MAX_FEEDER_A, allow_inf_nan=False, description="A per phase")
FeederWatts = Field(None, gt=0, le=MAX_FEEDER_W, allow_inf_nan=False, description="W")
PARENT = "the feeder above it; none: the site's grid connection"


class FeederIn(BaseModel):
    """A feeder needs max_w, max_a or both."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    parent_id: Id | None = Field(None, description=PARENT)
    max_a: float | None = FeederAmps
    max_w: float | None = FeederWatts


class FeederPatch(BaseModel):
    """Fields left out keep their value; an explicit null clears parent_id (to the connection), max_a or max_w."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    parent_id: Id | None = Field(None, description=PARENT)
    max_a: float | None = FeederAmps
    max_w: float | None = FeederWatts

    @field_validator("name")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("may not be null")
        return value

    def merged(self, feeder: Feeder) -> dict[str, Any]:
        current = {
            "name": feeder.name,
            "parent_id": feeder.parent_id,
            "max_a": feeder.limit.amps,
            "max_w": feeder.limit.watts,
        }
        return {**current, **{name: getattr(self, name) for name in self.model_fields_set}}


class PeriodOut(LimitOut):
    start: Any
    end: Any


class FeederOut(BaseModel):
    id: int
    site_id: int
    name: str
    parent_id: int | None
    max_a: float | None
    max_w: float | None
    limit_curve: list[PeriodOut]  # as PUT .../limit-curve takes it (and as the site's own)

    @classmethod
    def of(cls, feeder: Feeder) -> FeederOut:
        return cls(
            id=feeder.id,
            site_id=feeder.site_id,
            name=feeder.name,
            parent_id=feeder.parent_id,
            max_a=feeder.limit.amps,
            max_w=feeder.limit.watts,
            limit_curve=[
                PeriodOut(start=p.start, end=p.end, **LimitOut.of(p.limit).model_dump()) for p in feeder.curve
            ],
        )


class StationSupply(BaseModel):
    """A station's electrical place at its site (PATCH /stations/{id}); an explicit null clears one."""

    feeder_id: Id | None = Field(None, description="the feeder of its site it hangs from; none: the grid connection")
    max_power_w: float | None = Field(
        None, gt=0, le=MAX_EVSE_W, allow_inf_nan=False, description="what one of its EVSEs can deliver, in W"
    )
    supply: Literal["AC", "DC"] | None = None
    phases: Literal[1, 2, 3] | None = Field(None, description="AC only: the phases it is wired to")

    def merged_supply(self, current: dict[str, Any]) -> dict[str, Any]:
        """The current values with the ones this body names."""
        sent = self.model_fields_set & set(StationSupply.model_fields)
        return {**current, **{name: getattr(self, name) for name in sent}}
