"""Settings of the historian: aggregation, range queries and retention (Settings.historian)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from evscada.core.historian.samples import HistorianConfig


class HistorianSettings(BaseModel):
    """In TOML under [historian]; as a variable, EVSCADA_HISTORIAN='{"raw_sample_days": 30}' (JSON)."""

    model_config = {"extra": "forbid"}

    aggregate_interval: float = Field(5.0, gt=0, description="seconds between aggregator rounds")
    # 500 readings of 2 values held the SQLite writer 15 ms (median), 68 ms at the longest, in
    # bench/historian.py --aggregate on a 2-core machine (docs/performance.md, "One row per reading").
    aggregate_batch: int = Field(
        500, ge=50, le=20_000, description="meter readings (a message's values of one time) folded per transaction"
    )
    aggregate_max_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="while catching up and stations' writes wait, the largest share of time the aggregator holds "
        "the database (with none waiting it catches up at full speed)",
    )
    commit_settle_seconds: float = Field(
        30.0, gt=0, description="PostgreSQL: after this long a gap in sample ids is a rollback, not a row in flight"
    )
    point_budget: int = Field(2000, ge=10, description="auto resolution keeps each series at or under this many points")
    auto_raw_max_hours: float = Field(6.0, ge=0, description="auto considers raw samples only for ranges this short")
    raw_max_hours: float = Field(48.0, gt=0, description="longest range for resolution=raw")
    raw_max_rows: int = Field(200_000, ge=1000, description="most raw samples one query returns")
    max_buckets: int = Field(50_000, ge=100, description="most buckets per series for resolution=1m or 15m")

    raw_sample_days: float | None = Field(90, gt=0, description="keep raw meter samples this long; null: forever")
    aggregate_1m_days: float | None = Field(365, gt=0, description="keep 1-minute buckets this long; null: forever")
    aggregate_15m_days: float | None = Field(None, gt=0, description="keep 15-minute buckets; null: forever")
    status_history_days: float | None = Field(730, gt=0, description="keep status history; null: forever")
    connectivity_days: float | None = Field(730, gt=0, description="keep connect/disconnect history; null: forever")
    message_receipt_days: float | None = Field(
        30, gt=0, description="keep the digests that detect repeated frames; null: forever"
    )
    prune_interval: float = Field(3600.0, gt=0, description="seconds between retention rounds")
    prune_batch: int = Field(2000, ge=10, le=100_000, description="rows deleted per statement")
    prune_pause: float = Field(0.2, ge=0, description="seconds between two deletes, so the gateway gets the database")

    def query_config(self) -> HistorianConfig:
        return HistorianConfig(
            point_budget=self.point_budget,
            auto_raw_max_span=timedelta(hours=self.auto_raw_max_hours),
            raw_max_span=timedelta(hours=self.raw_max_hours),
            raw_max_rows=self.raw_max_rows,
            max_buckets=self.max_buckets,
        )
