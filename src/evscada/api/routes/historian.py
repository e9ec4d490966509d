"""Historian reads: meter-sample series over a time range, availability and downtime."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from evscada.api.deps import CoreDep, Viewer
from evscada.api.params import EvseIdOrZero, Id, Time
from evscada.core.historian.availability import Availability, StationAvailability
from evscada.core.historian.samples import Resolution, SampleAnswer
from evscada.core.model import SiteId, StationId, TransactionPk

router = APIRouter(tags=["historian"])

From = Annotated[
    Time | None,
    Query(alias="from", description="start, inclusive (ISO 8601 with offset); default: `to` minus one day"),
]
To = Annotated[Time | None, Query(alias="to", description="end, exclusive; default: now")]
Measurands = Annotated[
    list[str],
    Query(
        alias="measurand",
        description="repeatable, e.g. Energy.Active.Import.Register; none: every measurand",
    ),
]
Phases = Annotated[list[str], Query(alias="phase", description="repeatable: L1, L2, L3, N, L1-N ...; none: all")]
ResolutionQuery = Annotated[
    Resolution, Query(description="raw, 1m, 15m, or auto (raw for short ranges, buckets under the point budget)")
]


class PointOut(BaseModel):
    """A raw sample (`value`) or a bucket (`min`, `avg`, `max`, `count`, `first`, `last`)."""

    t: datetime
    value: float | None = None
    min: float | None = None
    avg: float | None = None
    max: float | None = None
    count: int | None = None
    first: float | None = None
    last: float | None = None


class SeriesOut(BaseModel):
    measurand: str
    phase: str | None
    evse_id: int
    connector_id: int
    unit: str | None
    points: list[PointOut]


class SamplesOut(BaseModel):
    start: datetime
    end: datetime
    resolution: str
    bucket_seconds: int | None
    series: list[SeriesOut]

    @classmethod
    def of(cls, answer: SampleAnswer) -> SamplesOut:
        series = []
        for s in answer.series:
            if answer.bucket_seconds is None:
                points = [PointOut(t=at, value=value) for at, value in s.raw]
            else:
                points = [
                    PointOut(
                        t=b.start,
                        min=b.min,
                        avg=b.avg,
                        max=b.max,
                        count=b.count,
                        first=b.first_value,
                        last=b.last_value,
                    )
                    for b in s.buckets
                ]
            k = s.key
            series.append(
                SeriesOut(
                    measurand=k.measurand,
                    phase=k.phase or None,
                    evse_id=k.evse_id,
                    connector_id=k.connector_id,
                    unit=s.unit,
                    points=points,
                )
            )
        return cls(
            start=answer.start,
            end=answer.end,
            resolution=answer.resolution,
            bucket_seconds=answer.bucket_seconds,
            series=series,
        )


@router.get("/stations/{station_id}/meter-samples", response_model=SamplesOut)
async def station_samples(
    *,
    station_id: str,
    core: CoreDep,
    _: Viewer,
    start: From = None,
    end: To = None,
    measurands: Measurands = [],  # noqa: B006  (FastAPI copies defaults)
    phases: Phases = [],  # noqa: B006
    evse: EvseIdOrZero | None = None,
    connector: EvseIdOrZero | None = None,
    resolution: ResolutionQuery = Resolution.AUTO,
) -> SamplesOut:
    """A station's meter samples over [from, to), grouped into series by EVSE, connector, measurand and phase."""
    answer = await core.historian.station_samples(
        station_id=StationId(station_id),
        start=start,
        end=end,
        measurands=measurands,
        phases=phases,
        evse_id=evse,
        connector_id=connector,
        resolution=resolution,
    )
    return SamplesOut.of(answer)


@router.get("/transactions/{transaction_id}/meter-samples", response_model=SamplesOut)
async def transaction_samples(
    *,
    transaction_id: Id,
    core: CoreDep,
    _: Viewer,
    start: From = None,
    end: To = None,
    measurands: Measurands = [],  # noqa: B006
    phases: Phases = [],  # noqa: B006
    resolution: ResolutionQuery = Resolution.AUTO,
) -> SamplesOut:
    """A transaction's meter samples; `from` / `to` default to its start and end."""
    answer = await core.historian.transaction_samples(
        pk=TransactionPk(transaction_id),
        start=start,
        end=end,
        measurands=measurands,
        phases=phases,
        resolution=resolution,
    )
    return SamplesOut.of(answer)


class OutageOut(BaseModel):
    start: datetime
    end: datetime
    seconds: float


class AvailabilityOut(BaseModel):
    availability: float | None  # up / (up + down); None when nothing is known about the period
    up_seconds: float
    down_seconds: float
    unknown_seconds: float
    seconds_by_state: dict[str, float]
    outage_count: int
    outage_seconds: float
    outages: list[OutageOut]

    @classmethod
    def of(cls, a: Availability) -> AvailabilityOut:
        return cls(
            availability=a.availability,
            up_seconds=a.up_seconds,
            down_seconds=a.down_seconds,
            unknown_seconds=a.unknown_seconds,
            seconds_by_state=a.seconds_by_state,
            outage_count=len(a.outages),
            outage_seconds=sum(o.seconds for o in a.outages),
            outages=[OutageOut(start=o.start, end=o.end, seconds=o.seconds) for o in a.outages],
        )


class ConnectorAvailabilityOut(AvailabilityOut):
    evse_id: int
    connector_id: int


class StationAvailabilityOut(AvailabilityOut):
    station_id: str
    start: datetime
    end: datetime
    connectors: list[ConnectorAvailabilityOut]

    @classmethod
    def of_station(cls, s: StationAvailability) -> StationAvailabilityOut:
        return cls(
            station_id=s.station_id,
            start=s.station.start,
            end=s.station.end,
            connectors=[
                ConnectorAvailabilityOut(
                    evse_id=c.evse_id, connector_id=c.connector_id, **AvailabilityOut.of(c.availability).model_dump()
                )
                for c in s.connectors
            ],
            **AvailabilityOut.of(s.station).model_dump(),
        )


class FleetAvailabilityOut(BaseModel):
    start: datetime
    end: datetime
    stations: int
    availability: float | None  # up / (up + down) summed over the stations
    up_seconds: float
    down_seconds: float
    outage_count: int
    per_station: list[StationAvailabilityOut]


AvailabilityFrom = Annotated[
    Time | None, Query(alias="from", description="start (ISO 8601 with offset); default: 30 days before `to`")
]
AvailabilityTo = Annotated[Time | None, Query(alias="to", description="end, exclusive; default and at most: now")]


@router.get("/stations/{station_id}/availability", response_model=StationAvailabilityOut)
async def station_availability(
    station_id: str, core: CoreDep, _: Viewer, start: AvailabilityFrom = None, end: AvailabilityTo = None
) -> StationAvailabilityOut:
    """Up time, down time (faulted, unavailable, offline) and outages of a station and each connector."""
    result = await core.availability.station(station_id=StationId(station_id), start=start, end=end)
    return StationAvailabilityOut.of_station(result)


@router.get("/availability", response_model=FleetAvailabilityOut)
async def fleet_availability(
    core: CoreDep,
    _: Viewer,
    start: AvailabilityFrom = None,
    end: AvailabilityTo = None,
    site: Annotated[Id | None, Query(description="only the stations of this site (id)")] = None,
) -> FleetAvailabilityOut:
    """Every station's availability over the period, and the fleet's."""
    first, last, stations = await core.availability.fleet(
        site_id=SiteId(site) if site is not None else None, start=start, end=end
    )
    up = sum(s.station.up_seconds for s in stations)
    down = sum(s.station.down_seconds for s in stations)
    return FleetAvailabilityOut(
        start=first,
        end=last,
        stations=len(stations),
        availability=up / (up + down) if up + down > 0 else None,
        up_seconds=up,
        down_seconds=down,
        outage_count=sum(len(s.station.outages) for s in stations),
        per_station=[StationAvailabilityOut.of_station(s) for s in stations],
    )
