"""A KPI report as an XLSX workbook: a sheet per section, numbers as numbers and times as dates (local wall-clock
times in the operator's zone, since spreadsheets have no time zones; the zone is named on the Summary sheet)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from evscada.core.reports.figures import WEEKDAYS, ReportFigures, change, outcome_of

DATE_FORMAT = "yyyy-mm-dd hh:mm"
PERCENT = "0.00%"
BOLD = Font(bold=True)


def render_xlsx(figures: ReportFigures, *, session_rows: int = 50_000) -> bytes:
    """Written in openpyxl's write-only mode: rows stream out, so 50,000 session rows take seconds, not minutes."""
    zone = ZoneInfo(figures.zone)
    book = Workbook(write_only=True)
    _summary(_sheet(book, "Summary", A=28, B=20, C=20), figures, zone)
    _energy(_sheet(book, "Energy", A=30), figures)
    _heat_map(_sheet(book, "Busiest hours"), figures)
    _sessions(_sheet(book, "Sessions", A=28, E=17, F=17), figures, zone, session_rows)
    _availability(_sheet(book, "Availability", A=28, B=17, C=17), figures, zone)
    _alarms(_sheet(book, "Alarms", A=32), figures)
    _depots(_sheet(book, "Depots", A=24, E=18), figures, zone)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(book: Workbook, title: str, **widths: float) -> Worksheet:
    sheet = book.create_sheet(title)
    for column, width in widths.items():  # before any row: a write-only sheet writes its columns first
        sheet.column_dimensions[column].width = width
    return sheet


@dataclass(frozen=True, slots=True)
class Formatted:
    """A value with its number format, e.g. Formatted(0.97, PERCENT)."""

    value: Any
    number_format: str


def _local(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    return at.astimezone(zone).replace(tzinfo=None) if at is not None else None


def _cell(sheet: Worksheet, value: Any, *, font: Font | None = None) -> WriteOnlyCell:
    if isinstance(value, Formatted):
        cell = WriteOnlyCell(sheet, value.value)
        cell.number_format = value.number_format
    else:
        cell = WriteOnlyCell(sheet, value)
        if isinstance(value, datetime):
            cell.number_format = DATE_FORMAT
    if font is not None:
        cell.font = font
    return cell


def _rows(
    sheet: Worksheet, header: Sequence[str], rows: Iterable[Sequence[Any]], *, percent: Sequence[int] = ()
) -> None:
    """A bold header and the rows; datetimes get a date format, the `percent` columns (0-based) a percentage."""
    sheet.append([_cell(sheet, name, font=BOLD) for name in header])
    for row in rows:
        sheet.append(
            [_cell(sheet, Formatted(v, PERCENT) if i in percent and v is not None else v) for i, v in enumerate(row)]
        )


def _title(sheet: Worksheet, text: str) -> None:
    sheet.append([_cell(sheet, text, font=Font(bold=True, size=13))])


def _summary(sheet: Worksheet, figures: ReportFigures, zone: ZoneInfo) -> None:
    _title(sheet, figures.title)
    _rows(
        sheet,
        ["Item", "Value"],
        [
            ("Scope", figures.scope),
            ("Period", figures.period_label),
            ("From", _local(figures.start, zone)),
            ("To", _local(figures.end, zone)),
            ("Time zone", figures.zone),
        ],
    )
    sheet.append([])
    h, p = figures.headline, figures.previous
    _rows(
        sheet,
        ["Figure", "This period", "Previous period", "Change"],
        [
            (
                "Energy (kWh)",
                h.energy_wh / 1000,
                p.energy_wh / 1000 if p else None,
                change(h.energy_wh, p.energy_wh if p else None),
            ),
            ("Sessions", h.sessions, p.sessions if p else None, change(h.sessions, p.sessions if p else None)),
            ("Failed sessions", h.failed, p.failed if p else None, change(h.failed, p.failed if p else None)),
            (
                "Availability",
                Formatted(h.availability, PERCENT),
                Formatted(p.availability, PERCENT) if p else None,
                change(h.availability, p.availability if p else None),
            ),
            ("Alarms raised", h.alarms, p.alarms if p else None, change(h.alarms, p.alarms if p else None)),
        ],
    )
    sheet.append([])
    sheet.append([_cell(sheet, "Summary", font=BOLD)])
    for line in figures.summary:
        sheet.append([line])


def _energy(sheet: Worksheet, figures: ReportFigures) -> None:
    e = figures.energy
    _title(sheet, "Energy")
    _rows(
        sheet,
        ["Figure", "Value"],
        [
            ("Total (kWh)", e.total_wh / 1000),
            ("Mean per session (kWh)", e.mean_session_wh / 1000 if e.mean_session_wh is not None else None),
            ("Mean session duration (min)", e.mean_duration_s / 60 if e.mean_duration_s is not None else None),
            ("Mean session power (kW)", e.mean_power_w / 1000 if e.mean_power_w is not None else None),
            ("Peak power (kW)", e.peak_power_w / 1000 if e.peak_power_w is not None else None),
        ],
    )
    for label, totals in (
        ("Site", e.by_site),
        ("Station", e.by_station),
        ("Vehicle", e.by_vehicle),
        ("Fleet", e.by_fleet),
    ):
        sheet.append([])
        _rows(sheet, [label, "Energy (kWh)"], sorted(((k, v / 1000) for k, v in totals.items()), key=lambda r: -r[1]))


def _heat_map(sheet: Worksheet, figures: ReportFigures) -> None:
    _title(sheet, f"Energy (kWh) by weekday and hour, {figures.zone} ({figures.energy.heat_map_source})")
    _rows(
        sheet,
        ["Weekday", *[f"{h:02d}" for h in range(24)]],
        [(WEEKDAYS[d], *[round(v / 1000, 3) for v in figures.energy.heat_map[d]]) for d in range(7)],
    )


def _sessions(sheet: Worksheet, figures: ReportFigures, zone: ZoneInfo, limit: int) -> None:
    s = figures.sessions
    _title(sheet, "Sessions")
    _rows(
        sheet,
        ["Figure", "Value"],
        [
            ("Sessions", s.count),
            ("Succeeded", s.succeeded),
            ("Failed", s.failed),
            ("Running at the period's end", s.running),
            ("Failure rate", Formatted(s.failure_rate, PERCENT)),
        ],
    )
    sheet.append([])
    _rows(sheet, ["Failure reason", "Sessions"], s.failure_reasons.items())
    sheet.append([])
    _rows(sheet, ["Station (most failures)", "Failed sessions"], s.failing_stations)
    sheet.append([])
    rows = figures.session_rows
    shown = rows[:limit]
    if len(rows) > limit:
        sheet.append([f"The first {limit:,} of {len(rows):,} sessions; the transaction export has them all."])
    _rows(
        sheet,
        [
            "Transaction",
            "Station",
            "EVSE",
            "Connector",
            "Started",
            "Ended",
            "Duration (min)",
            "Energy (kWh)",
            "Mean power (kW)",
            "Peak power (kW)",
            "Vehicle",
            "Fleet",
            "Outcome",
            "Reason",
        ],
        (_session_row(row, zone) for row in shown),
    )


def _session_row(row: Any, zone: ZoneInfo) -> tuple[Any, ...]:
    seconds = (row.ended_at - row.started_at).total_seconds() if row.ended_at else None
    energy = row.energy_wh
    mean = energy * 3600 / seconds / 1000 if energy is not None and seconds else None
    outcome, reason = outcome_of(row)
    return (
        row.pk,
        row.station_id,
        row.evse_id,
        row.connector_id,
        _local(row.started_at, zone),
        _local(row.ended_at, zone),
        round(seconds / 60, 2) if seconds is not None else None,
        energy / 1000 if energy is not None else None,
        round(mean, 3) if mean is not None else None,
        row.peak_power_w / 1000 if row.peak_power_w is not None else None,
        row.vehicle,
        row.fleet,
        outcome,
        reason,
    )


def _availability(sheet: Worksheet, figures: ReportFigures, zone: ZoneInfo) -> None:
    a = figures.availability
    _title(sheet, "Availability")
    _rows(
        sheet,
        ["Figure", "Value"],
        [
            ("Fleet availability", Formatted(a.fleet, PERCENT)),
            ("Target", Formatted(a.target, PERCENT)),
            ("Stations below target", a.below_target),
            ("Outages", a.outages),
            ("Outage time (h)", a.outage_seconds / 3600),
            ("Mean time to repair (h)", a.mttr_s / 3600 if a.mttr_s is not None else None),
            ("Repairs (alarms cleared)", a.repairs),
        ],
    )
    sheet.append([])
    _rows(
        sheet,
        ["Station", "Availability", "Down (h)", "Outages", "Longest outage (h)", "Below target"],
        (
            (
                s.station_id,
                s.availability,
                s.down_seconds / 3600,
                s.outages,
                s.longest_outage_s / 3600,
                "yes" if s.availability is not None and s.availability < a.target else "",
            )
            for s in a.stations
        ),
        percent=(1,),
    )
    sheet.append([])
    _rows(
        sheet,
        ["Station", "EVSE", "Connector", "Availability"],
        ((s.station_id, evse, connector, value) for s in a.stations for evse, connector, value in s.connectors),
        percent=(3,),
    )
    sheet.append([])
    _rows(
        sheet,
        ["Outage: station", "From", "To", "Duration (h)"],
        (
            (sid, _local(start, zone), _local(end, zone), (end - start).total_seconds() / 3600)
            for sid, start, end in a.longest_outages
        ),
    )


def _alarms(sheet: Worksheet, figures: ReportFigures) -> None:
    al = figures.alarms
    _title(sheet, "Alarms")
    _rows(
        sheet,
        ["Figure", "Value"],
        [
            ("Raised", al.raised),
            ("Acknowledged", al.acknowledged),
            ("Mean time to acknowledge (min)", al.mean_ack_s / 60 if al.mean_ack_s is not None else None),
            ("Median time to acknowledge (min)", al.median_ack_s / 60 if al.median_ack_s is not None else None),
            ("Standing at the period's end", al.standing_at_end),
            ("Shelved at the period's end", al.shelved_at_end),
        ],
    )
    sheet.append([])
    _rows(sheet, ["Priority", "Alarms"], al.by_priority.items())
    sheet.append([])
    _rows(sheet, ["Source", "Alarms"], al.by_source.items())
    sheet.append([])
    _rows(sheet, ["Station (most alarms)", "Alarms"], al.top_stations)


def _depots(sheet: Worksheet, figures: ReportFigures, zone: ZoneInfo) -> None:
    d = figures.depots
    _title(sheet, "Depots: buses that left below their target SoC")
    sheet.append([d.note])
    _rows(
        sheet,
        ["Figure", "Value"],
        [
            ("Vehicles with a target SoC", d.vehicles_with_target),
            ("Sessions checked", d.sessions_checked),
            ("Below target", len(d.below_target)),
        ],
    )
    sheet.append([])
    _rows(
        sheet,
        ["Vehicle", "Station", "Last SoC (%)", "Target SoC (%)", "Left (session end)"],
        ((v, s, soc, target, _local(at, zone)) for v, s, soc, target, at in d.below_target),
    )
