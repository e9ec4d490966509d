"""Meter-sample range queries: raw samples for short ranges, downsampled buckets for long ones."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from evscada.core.charging.queries import ReadRepository
from evscada.core.errors import InvalidArgument, NotFound
from evscada.core.model import StationId, TransactionPk
from evscada.core.ports import Clock, Store
from evscada.core.stations.repositories import StationRepository

# OCPP measurand names are dotted words ("Energy.Active.Import.Register", "SoC"); anything else is a typo.
MEASURAND_FORMAT = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*$")
PHASES = frozenset({"L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"})
STORED_RESOLUTIONS = (60, 900)  # what the aggregator keeps; coarser buckets are merged from 15-minute ones
COARSE_RESOLUTIONS = (3600, 6 * 3600, 86400)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Resolution(enum.StrEnum):
    RAW = "raw"
    MINUTE = "1m"
    QUARTER = "15m"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class HistorianConfig:
    point_budget: int = 2000  # auto keeps every series at or under this many points
    auto_raw_max_span: timedelta = timedelta(hours=6)  # auto only considers raw samples within this span
    raw_max_span: timedelta = timedelta(days=2)  # an explicit raw query longer than this is refused
    raw_max_rows: int = 200_000
    max_buckets: int = 50_000  # per series, for an explicit 1m or 15m query


@dataclass(frozen=True, slots=True, order=True)
class SeriesKey:
    evse_id: int
    connector_id: int
    measurand: str
    phase: str  # "" when the sample named none


@dataclass(slots=True)
class Bucket:
    """Summary of the samples in one bucket; a raw sample is a bucket of one."""

    start: datetime
    count: int
    sum: float
    min: float
    max: float
    first_at: datetime
    first_value: float
    last_at: datetime
    last_value: float

    @property
    def avg(self) -> float:
        return self.sum / self.count

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.first_at < self.first_at:
            self.first_at, self.first_value = other.first_at, other.first_value
        if other.last_at >= self.last_at:
            self.last_at, self.last_value = other.last_at, other.last_value


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One row as storage returns it: a stored bucket or a not-yet-aggregated raw sample."""

    key: SeriesKey
    unit: str | None
    bucket: Bucket


@dataclass(frozen=True, slots=True)
class RawRow:
    key: SeriesKey
    unit: str | None
    timestamp: datetime
    value: float


@dataclass(frozen=True, slots=True)
class SampleScope:
    """Whose samples: a station (optionally one EVSE or connector) or one transaction (raw: its own samples;
    buckets: its EVSE's over its time)."""

    station_id: StationId
    evse_id: int | None = None
    connector_id: int | None = None
    transaction_pk: TransactionPk | None = None


@dataclass(slots=True)
class Series:
    key: SeriesKey
    unit: str | None
    raw: list[tuple[datetime, float]] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SampleAnswer:
    start: datetime
    end: datetime
    resolution: str  # "raw" or the bucket length, e.g. "1m", "15m", "1h", "1d"
    bucket_seconds: int | None
    series: list[Series]


class HistorianRepository(Protocol):
    async def raw(
        self,
        *,
        scope: SampleScope,
        start: datetime,
        end: datetime,
        measurands: list[str],
        phases: list[str],
        limit: int,
    ) -> list[RawRow]:
        """Samples with a value in [start, end), oldest first; at most `limit` rows."""
        ...

    async def summaries(
        self,
        *,
        scope: SampleScope,
        resolution: int,
        start: datetime,
        end: datetime,
        measurands: list[str],
        phases: list[str],
    ) -> list[SummaryRow]:
        """Stored buckets of that resolution in [start, end) plus the raw samples not yet aggregated, read in one
        consistent snapshot, so the caller can merge them into complete buckets."""
        ...


def floor_time(at: datetime, seconds: int) -> datetime:
    offset = int((at - _EPOCH).total_seconds() // seconds) * seconds
    return _EPOCH + timedelta(seconds=offset)


def ceil_time(at: datetime, seconds: int) -> datetime:
    floored = floor_time(at, seconds)
    return floored if floored == at else floored + timedelta(seconds=seconds)


def resolution_name(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def check_filters(measurands: Iterable[str], phases: Iterable[str]) -> None:
    for name in measurands:
        if len(name) > 48 or not MEASURAND_FORMAT.match(name):
            raise InvalidArgument(f"measurand {name!r} is not a measurand name (e.g. Energy.Active.Import.Register)")
    for phase in phases:
        if phase not in PHASES:
            raise InvalidArgument(f"phase {phase!r} is not one of {', '.join(sorted(PHASES))}")


def buckets_of(rows: Iterable[SummaryRow], seconds: int) -> list[Series]:
    """Merge stored buckets and raw tail samples into buckets of `seconds`, one series per key."""
    series: dict[SeriesKey, Series] = {}
    merged: dict[SeriesKey, dict[datetime, Bucket]] = {}
    for row in rows:
        if row.key not in series:
            series[row.key] = Series(key=row.key, unit=row.unit)
            merged[row.key] = {}
        start = floor_time(row.bucket.start, seconds)
        slot = merged[row.key]
        current = slot.get(start)
        if current is None:
            b = row.bucket
            slot[start] = Bucket(
                start, b.count, b.sum, b.min, b.max, b.first_at, b.first_value, b.last_at, b.last_value
            )
        else:
            current.merge(row.bucket)
    for key, one in series.items():
        one.buckets = [merged[key][start] for start in sorted(merged[key])]
    return [series[key] for key in sorted(series)]


def raw_series(rows: Iterable[RawRow]) -> list[Series]:
    series: dict[SeriesKey, Series] = {}
    for row in rows:
        one = series.get(row.key)
        if one is None:
            one = series[row.key] = Series(key=row.key, unit=row.unit)
        one.raw.append((row.timestamp, row.value))
    return [series[key] for key in sorted(series)]


class HistorianUnit(Protocol):
    historian: HistorianRepository
    stations: StationRepository
    reads: ReadRepository  # a transaction's time and EVSE


class HistorianService:
    def __init__(self, *, store: Store[HistorianUnit], clock: Clock, config: HistorianConfig) -> None:
        self._store = store
        self._clock = clock
        self._config = config

    async def station_samples(
        self,
        *,
        station_id: StationId,
        start: datetime | None,
        end: datetime | None,
        measurands: list[str],
        phases: list[str],
        evse_id: int | None,
        connector_id: int | None,
        resolution: Resolution,
    ) -> SampleAnswer:
        end = end or self._clock.now()
        start = start or end - timedelta(days=1)
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise NotFound(f"no station {station_id}")
        return await self._answer(
            SampleScope(station_id, evse_id, connector_id), start, end, measurands, phases, resolution=resolution
        )

    async def transaction_samples(
        self,
        *,
        pk: TransactionPk,
        start: datetime | None,
        end: datetime | None,
        measurands: list[str],
        phases: list[str],
        resolution: Resolution,
    ) -> SampleAnswer:
        """A transaction's samples; its buckets are its EVSE's over the transaction's time."""
        async with self._store.unit() as uow:
            tx = await uow.reads.transaction(pk=pk)
        if tx is None:
            raise NotFound(f"no transaction {pk}")
        now = self._clock.now()
        tx_start = tx.started_at or now
        tx_end = tx.ended_at + timedelta(microseconds=1) if tx.ended_at else now
        if start is not None and end is not None and start >= end:
            raise InvalidArgument(f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()})")
        start = max(start, tx_start) if start else tx_start
        end = min(end, tx_end) if end else tx_end
        if start >= end:  # the asked range misses the transaction: nothing to show, not an error
            return SampleAnswer(start=start, end=start, resolution="raw", bucket_seconds=None, series=[])
        scope = SampleScope(tx.station_id, tx.evse.evse_id if tx.evse else None, None, pk)
        return await self._answer(scope, start, end, measurands, phases, resolution=resolution)

    async def _answer(
        self,
        scope: SampleScope,
        start: datetime,
        end: datetime,
        measurands: list[str],
        phases: list[str],
        *,
        resolution: Resolution,
    ) -> SampleAnswer:
        if start >= end:
            raise InvalidArgument(f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()})")
        check_filters(measurands, phases)
        ask = _Ask(scope, start, end, measurands, phases)
        span = end - start
        cfg = self._config
        if resolution is Resolution.RAW:
            if span > cfg.raw_max_span:
                raise InvalidArgument(
                    f"the range is too long for raw samples (at most {cfg.raw_max_span}); use resolution 1m, 15m "
                    "or auto"
                )
            return await self._raw(ask, strict=True)  # type: ignore[return-value]
        if resolution is Resolution.AUTO:
            if span <= cfg.auto_raw_max_span:
                answer = await self._raw(ask, strict=False)
                if answer is not None:
                    return answer
            seconds = next(
                (s for s in STORED_RESOLUTIONS + COARSE_RESOLUTIONS if span.total_seconds() / s <= cfg.point_budget),
                COARSE_RESOLUTIONS[-1],
            )
        else:
            seconds = 60 if resolution is Resolution.MINUTE else 900
            if span.total_seconds() / seconds > cfg.max_buckets:
                raise InvalidArgument(
                    f"the range is too long for resolution {resolution} (more than {cfg.max_buckets} buckets); "
                    "use a coarser resolution or auto"
                )
        return await self._buckets(ask, seconds)

    async def _raw(self, ask: _Ask, *, strict: bool) -> SampleAnswer | None:
        limit = self._config.raw_max_rows
        async with self._store.unit() as uow:
            rows = await uow.historian.raw(
                scope=ask.scope,
                start=ask.start,
                end=ask.end,
                measurands=ask.measurands,
                phases=ask.phases,
                limit=limit + 1,
            )
        if len(rows) > limit:
            if strict:
                raise InvalidArgument(
                    f"more than {limit} raw samples in the range; narrow it or use resolution 1m, 15m or auto"
                )
            return None
        series = raw_series(rows)
        if not strict and any(len(s.raw) > self._config.point_budget for s in series):
            return None
        return SampleAnswer(start=ask.start, end=ask.end, resolution="raw", bucket_seconds=None, series=series)

    async def _buckets(self, ask: _Ask, seconds: int) -> SampleAnswer:
        # Whole buckets: the first and last may hold samples just outside the asked range.
        start, end = floor_time(ask.start, seconds), ceil_time(ask.end, seconds)
        stored = 60 if seconds == 60 else 900
        async with self._store.unit() as uow:
            rows = await uow.historian.summaries(
                scope=ask.scope, resolution=stored, start=start, end=end, measurands=ask.measurands, phases=ask.phases
            )
        return SampleAnswer(
            start=start,
            end=end,
            resolution=resolution_name(seconds),
            bucket_seconds=seconds,
            series=buckets_of(rows, seconds),
        )


@dataclass(frozen=True, slots=True)
class _Ask:
    scope: SampleScope
    start: datetime
    end: datetime
    measurands: list[str]
    phases: list[str]
