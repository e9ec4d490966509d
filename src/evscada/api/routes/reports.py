"""KPI reports: made on a schedule (core/reports) or on demand here; listed, read as figures (JSON) and downloaded as
XLSX or PDF."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, model_validator

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.params import Id, Offset, Time
from evscada.core.errors import InvalidArgument
from evscada.core.files.store import ObjectMissing
from evscada.core.reports.periods import Period, ReportKind, custom, period_containing
from evscada.core.reports.service import FORMATS, Report, ReportService, Trigger

router = APIRouter(tags=["reports"])


class ReportRequest(BaseModel):
    kind: ReportKind = Field(description="weekly or monthly (the calendar period containing `day`), or custom")
    day: date | None = Field(
        None, description="weekly/monthly: any day in the period, on the operator's calendar; default: the last period"
    )
    start: Time | None = Field(None, description="custom: the period's start, with its UTC offset")
    end: Time | None = Field(None, description="custom: the period's end (exclusive), with its UTC offset")
    scope: str = Field("fleet", max_length=120, description="fleet, site:<site id> or group:<station group>")

    @model_validator(mode="after")
    def _period_fields(self) -> ReportRequest:
        if self.kind is ReportKind.CUSTOM:
            if self.start is None or self.end is None:
                raise ValueError("a custom report needs 'start' and 'end'")
            if self.day is not None:
                raise ValueError("'day' is for weekly and monthly reports; a custom report takes 'start' and 'end'")
        elif self.start is not None or self.end is not None:
            raise ValueError("'start' and 'end' are for custom reports; a weekly or monthly report takes 'day'")
        return self


class ReportOut(BaseModel):
    id: int
    kind: ReportKind
    scope: str
    period_start: datetime
    period_end: datetime
    time_zone: str
    trigger: Trigger
    requested_by: str
    made_at: datetime
    title: str
    xlsx_bytes: int
    pdf_bytes: int
    xlsx_url: str
    pdf_url: str

    @classmethod
    def of(cls, r: Report) -> ReportOut:
        return cls(
            id=r.id,
            kind=r.kind,
            scope=r.scope,
            period_start=r.period_start,
            period_end=r.period_end,
            time_zone=r.time_zone,
            trigger=r.trigger,
            requested_by=r.requested_by,
            made_at=r.made_at,
            title=r.title,
            xlsx_bytes=r.xlsx_bytes,
            pdf_bytes=r.pdf_bytes,
            xlsx_url=f"/api/v1/reports/{r.id}.xlsx",
            pdf_url=f"/api/v1/reports/{r.id}.pdf",
        )


class ReportDetailOut(ReportOut):
    figures: dict[str, Any] = Field(description="the report's figures: summary, energy, sessions, availability ...")

    @classmethod
    def detail(cls, r: Report) -> ReportDetailOut:
        return cls(**ReportOut.of(r).model_dump(), figures=r.summary)


class ReportPageOut(BaseModel):
    items: list[ReportOut]
    total: int
    limit: int
    offset: int


def requested_period(reports: ReportService, body: ReportRequest, now: datetime) -> Period:
    """The period a request names; weekly/monthly without a day: the last finished one."""
    if body.kind is ReportKind.CUSTOM:
        assert body.start is not None and body.end is not None  # checked by the model
        if body.start >= now:
            raise InvalidArgument("the period has not started yet; pick an earlier start")
        return custom(body.start, min(body.end, now))  # the future is neither downtime nor sessions
    if body.day is None:
        return period_containing(body.kind, now, reports.zone).previous(reports.zone)
    return period_containing(
        body.kind, datetime.combine(body.day, datetime.min.time(), tzinfo=reports.zone), reports.zone
    )


@router.post("/reports", response_model=ReportDetailOut, status_code=status.HTTP_201_CREATED)
async def make_report(body: ReportRequest, core: CoreDep, user: Operator) -> ReportDetailOut:
    """Make a report now: computed, rendered (XLSX and PDF) and kept like a scheduled one."""
    reports = core.reports
    scope = reports.scope(body.scope)
    period = requested_period(reports, body, core.clock.now())
    if period.start >= core.clock.now():
        raise InvalidArgument("the period has not started yet; pick an earlier day")
    report = await reports.make(period=period, scope=scope, trigger=Trigger.ON_DEMAND, requested_by=user.username)
    return ReportDetailOut.detail(report)


@router.get("/reports", response_model=ReportPageOut)
async def list_reports(
    core: CoreDep, _: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0
) -> ReportPageOut:
    """Reports kept, newest first."""
    items, total = await core.reports.list(limit=limit, offset=offset)
    return ReportPageOut(items=[ReportOut.of(r) for r in items], total=total, limit=limit, offset=offset)


@router.get(
    "/reports/{report_id}.{fmt}",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media in FORMATS.values()}}, 404: {"description": "no such report"}},
)
async def download_report(report_id: Id, fmt: Literal["xlsx", "pdf"], core: CoreDep, _: Viewer) -> StreamingResponse:
    """The report's XLSX workbook or PDF."""
    report, chunks = await core.reports.content(report_id=report_id, fmt=fmt)
    try:
        first = await anext(chunks, b"")
    except ObjectMissing:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"report {report_id} is recorded but its {fmt} file is missing from the store"
        ) from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    name = f"kpi-{report.kind}-{report.period_start.astimezone().date():%Y-%m-%d}-{report.id}.{fmt}"
    size = report.xlsx_bytes if fmt == "xlsx" else report.pdf_bytes
    return StreamingResponse(
        body(),
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(size)},
    )


@router.get("/reports/{report_id}", response_model=ReportDetailOut)
async def report_detail(report_id: Id, core: CoreDep, _: Viewer) -> ReportDetailOut:
    """The report's metadata and its figures."""
    return ReportDetailOut.detail(await core.reports.get(report_id=report_id))
