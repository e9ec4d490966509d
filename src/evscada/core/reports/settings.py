"""Settings of KPI reports (Settings.reports, the [reports] table): the schedule, what each report covers, its
availability target, how long reports are kept and who receives them."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evscada.core.reports.periods import Schedule
from evscada.core.reports.service import ReportConfig

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ReportSettings(BaseModel):
    """In TOML under [reports]; as a variable, EVSCADA_REPORTS='{"weekday": "friday"}' (JSON)."""

    model_config = ConfigDict(extra="forbid")

    weekly: bool = Field(True, description="make a report of each week (Monday to Monday, operator's time zone)")
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = Field(
        "monday", description="the day the weekly report of the week before is made"
    )
    monthly: bool = Field(True, description="make a report of each calendar month, on the 1st of the next")
    hour: int = Field(6, ge=0, le=23, description="hour of day (operator_timezone) scheduled reports are made at")
    scopes: list[str] = Field(
        default_factory=lambda: ["fleet"],
        description="what each scheduled report covers: 'fleet', 'site:<site id>' or 'group:<station group name>'",
    )
    station_groups: dict[str, list[str]] = Field(
        default_factory=dict, description='named station groups for scopes, e.g. {depot_north = ["CP-1", "CP-2"]}'
    )
    availability_target: float = Field(0.97, gt=0, le=1, description="availability a station should reach (0-1)")
    retention_days: float | None = Field(730.0, gt=0, description="reports older than this are deleted; null: kept")
    subscribers: list[str] = Field(
        default_factory=list,
        description="people or groups of [notifications] e-mailed when a scheduled report is made (a link to it)",
    )
    console_url: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        description="the console's address as subscribers reach it, for the link in the e-mail; null: no link",
    )
    session_rows: int = Field(50_000, ge=0, description="per-session rows in the XLSX (the transaction export has all)")
    check_interval_seconds: float = Field(300.0, gt=0, description="seconds between checks for due reports")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, scopes: list[str]) -> list[str]:
        for text in scopes:
            name, _, value = text.partition(":")
            if not (text == "fleet" or (name == "site" and value.isdigit()) or (name == "group" and value)):
                raise ValueError(f"{text!r} is not a report scope; use 'fleet', 'site:<site id>' or 'group:<name>'")
        return scopes

    @model_validator(mode="after")
    def _groups_known(self) -> ReportSettings:
        for text in self.scopes:
            name, _, value = text.partition(":")
            if name == "group" and value not in self.station_groups:
                known = ", ".join(sorted(self.station_groups)) or "none are set"
                raise ValueError(f"scope {text!r} names no station group in station_groups ({known})")
        return self

    def config(self, zone: ZoneInfo) -> ReportConfig:
        return ReportConfig(
            schedule=Schedule(
                zone=zone,
                weekly=self.weekly,
                weekday=WEEKDAY_NAMES.index(self.weekday),
                monthly=self.monthly,
                hour=self.hour,
            ),
            scopes=tuple(self.scopes),
            availability_target=self.availability_target,
            retention=timedelta(days=self.retention_days) if self.retention_days is not None else None,
            subscribers=tuple(self.subscribers),
            station_groups=dict(self.station_groups),
            session_rows=self.session_rows,
            console_url=self.console_url.rstrip("/") if self.console_url else None,
        )
