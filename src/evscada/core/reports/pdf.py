"""A KPI report as a PDF a manager reads: the summary, key tables and charts drawn with reportlab's graphics (bar
charts, and the busiest hours as a table of shaded cells). Times are local to the operator's zone."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from evscada.core.reports.figures import WEEKDAYS, ReportFigures, change

STYLES = getSampleStyleSheet()
ACCENT = colors.HexColor("#1f5fa8")
GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8.5),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f1f4f8")]),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
    ]
)


def render_pdf(figures: ReportFigures) -> bytes:
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=figures.title,
        author="evscada",
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
    )
    document.build(_story(figures))
    return out.getvalue()


def _p(text: str, style: str = "BodyText") -> Paragraph:
    return Paragraph(escape(text), STYLES[style])


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float] | None = None) -> Table:
    table = Table([list(header), *[[_cell(v) for v in row] for row in rows]], colWidths=widths, repeatRows=1)
    table.setStyle(GRID)
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pct(value: float | None) -> str:
    return f"{value * 100:.2f} %" if value is not None else "–"


def _kwh(wh: float | None) -> str:
    return f"{wh / 1000:,.1f}" if wh is not None else "–"


def _story(figures: ReportFigures) -> list[Flowable]:
    e, s, a, al, d = figures.energy, figures.sessions, figures.availability, figures.alarms, figures.depots
    h, p = figures.headline, figures.previous
    story: list[Flowable] = [
        _p(figures.title, "Title"),
        _p(f"{figures.start:%Y-%m-%d %H:%M} to {figures.end:%Y-%m-%d %H:%M} UTC; hours of day in {figures.zone}."),
        _p("Summary", "Heading2"),
        *[_p(line) for line in figures.summary],
        Spacer(1, 4 * mm),
        _table(
            ["Figure", "This period", "Previous period", "Change"],
            [
                [
                    "Energy (kWh)",
                    _kwh(h.energy_wh),
                    _kwh(p.energy_wh) if p else "–",
                    change(h.energy_wh, p.energy_wh if p else None),
                ],
                ["Sessions", h.sessions, p.sessions if p else None, change(h.sessions, p.sessions if p else None)],
                ["Failed sessions", h.failed, p.failed if p else None, change(h.failed, p.failed if p else None)],
                [
                    "Availability",
                    _pct(h.availability),
                    _pct(p.availability) if p else "–",
                    change(h.availability, p.availability if p else None),
                ],
                ["Alarms raised", h.alarms, p.alarms if p else None, change(h.alarms, p.alarms if p else None)],
            ],
        ),
        _p("Energy", "Heading2"),
        _table(
            ["Figure", "Value"],
            [
                ["Total (kWh)", _kwh(e.total_wh)],
                ["Mean per session (kWh)", _kwh(e.mean_session_wh)],
                ["Mean duration (min)", e.mean_duration_s / 60 if e.mean_duration_s is not None else None],
                ["Mean power (kW)", e.mean_power_w / 1000 if e.mean_power_w is not None else None],
                ["Peak power (kW)", e.peak_power_w / 1000 if e.peak_power_w is not None else None],
            ],
        ),
        Spacer(1, 3 * mm),
        _bars("Energy by station, top 10 (kWh)", _top(e.by_station)),
        _bars("Energy by site (kWh)", _top(e.by_site)),
        _p(f"Busiest hours: energy (kWh) by weekday and hour ({e.heat_map_source})", "Heading3"),
        _heat_map(e.heat_map),
        _p("Sessions", "Heading2"),
        _table(
            ["Sessions", "Succeeded", "Failed", "Running", "Failure rate"],
            [[s.count, s.succeeded, s.failed, s.running, _pct(s.failure_rate)]],
        ),
        Spacer(1, 3 * mm),
        _table(["Failure reason", "Sessions"], list(s.failure_reasons.items())[:12] or [["none", 0]]),
        Spacer(1, 3 * mm),
        _table(["Station (most failures)", "Failed sessions"], s.failing_stations or [["none", 0]]),
        _p("Availability", "Heading2"),
        _p(
            f"Fleet availability {_pct(a.fleet)} against a target of {_pct(a.target)}; {a.below_target} station(s) "
            f"below target; {a.outages} outage(s), {a.outage_seconds / 3600:,.1f} h in all; mean time to repair "
            + (f"{a.mttr_s / 3600:,.2f} h over {a.repairs} repair(s)." if a.mttr_s is not None else "unknown.")
        ),
        _table(
            ["Least available stations", "Availability", "Down (h)", "Outages"],
            [[st.station_id, _pct(st.availability), st.down_seconds / 3600, st.outages] for st in a.stations[:10]]
            or [["none", "–", 0.0, 0]],
        ),
        Spacer(1, 3 * mm),
        _table(
            ["Longest outages", "From (UTC)", "To (UTC)", "Hours"],
            [
                [sid, f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}", (end - start).total_seconds() / 3600]
                for sid, start, end in a.longest_outages[:10]
            ]
            or [["none", "–", "–", 0.0]],
        ),
        _p("Alarms", "Heading2"),
        _table(
            ["Raised", "Acknowledged", "Median to acknowledge (min)", "Standing at end", "Shelved at end"],
            [
                [
                    al.raised,
                    al.acknowledged,
                    al.median_ack_s / 60 if al.median_ack_s is not None else None,
                    al.standing_at_end,
                    al.shelved_at_end,
                ]
            ],
        ),
        Spacer(1, 3 * mm),
        _bars("Alarms by priority", [(f"P{k}", float(v)) for k, v in al.by_priority.items()]),
        _table(["Source", "Alarms"], list(al.by_source.items()) or [["none", 0]]),
        Spacer(1, 3 * mm),
        _table(["Station (most alarms)", "Alarms"], al.top_stations or [["none", 0]]),
        _p("Depots", "Heading2"),
        _p(d.note),
        _p(
            f"{d.vehicles_with_target} vehicle(s) with a target SoC, {d.sessions_checked} session(s) checked, "
            f"{len(d.below_target)} ended below target."
        ),
    ]
    if d.below_target:
        story.append(
            _table(
                ["Vehicle", "Station", "Last SoC (%)", "Target (%)", "Left (UTC)"],
                [[v, st, soc, target, f"{at:%Y-%m-%d %H:%M}"] for v, st, soc, target, at in d.below_target[:30]],
            )
        )
    return story


def _top(totals: dict[str, float], count: int = 10) -> list[tuple[str, float]]:
    return sorted(((k, v / 1000) for k, v in totals.items()), key=lambda kv: -kv[1])[:count]


def _bars(title: str, values: Sequence[tuple[str, float]]) -> Drawing:
    """A horizontal bar chart of (label, value), or a line saying there is nothing to draw."""
    if not values:
        drawing = Drawing(170 * mm, 10 * mm)
        drawing.add(String(0, 3 * mm, f"{title}: nothing in this period", fontName="Helvetica", fontSize=8.5))
        return drawing
    height = max(30 * mm, len(values) * 6 * mm + 14 * mm)
    drawing = Drawing(170 * mm, height)
    drawing.add(String(0, height - 5 * mm, title, fontName="Helvetica-Bold", fontSize=9))
    chart = HorizontalBarChart()
    chart.x, chart.y = 45 * mm, 5 * mm
    chart.width, chart.height = 115 * mm, height - 14 * mm
    chart.data = [[v for _, v in reversed(values)]]
    chart.categoryAxis.categoryNames = [label[:28] for label, _ in reversed(values)]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = ACCENT
    drawing.add(chart)
    return drawing


def _heat_map(grid: list[list[float]]) -> Table:
    """Weekday rows x 24 hour columns, each cell shaded by its share of the busiest cell."""
    peak = max((v for row in grid for v in row), default=0.0) or 1.0
    header = ["", *[f"{hour:02d}" for hour in range(24)]]
    rows = [[WEEKDAYS[day], *[f"{v / 1000:.0f}" if v else "" for v in grid[day]]] for day in range(7)]
    table = Table([header, *rows], colWidths=[10 * mm] + [6.9 * mm] * 24)
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 6),
        ("ALIGN", (1, 0), (-1, -1), "CENTER"),
        ("GRID", (1, 1), (-1, -1), 0.25, colors.white),
    ]
    for day in range(7):
        for hour in range(24):
            share = grid[day][hour] / peak
            shade = colors.Color(1 - 0.85 * share, 1 - 0.6 * share, 1 - 0.25 * share)
            style.append(("BACKGROUND", (hour + 1, day + 1), (hour + 1, day + 1), shade))
            if share > 0.6:
                style.append(("TEXTCOLOR", (hour + 1, day + 1), (hour + 1, day + 1), colors.white))
    table.setStyle(TableStyle(style))
    return table


__all__ = ["render_pdf"]
