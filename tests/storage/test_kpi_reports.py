"""KPI report figures against a known history across the spring-forward change in Europe/Berlin (Sunday 29 March
2026, 02:00 CET -> 03:00 CEST), on SQLite and PostgreSQL; the XLSX and PDF are read back; scheduled runs are made
once.

The history is written to the tables storage reads (the transactions, status, connectivity, alarm and historian
bucket rows a running CSMS writes), because its timestamps lie in the past; the expected values below are worked
out by hand from it, not by the code under test."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from evscada.core.files.store import FileStore
from evscada.core.reports.pdf import render_pdf
from evscada.core.reports.periods import ReportKind, Schedule, week_of
from evscada.core.reports.service import ReportConfig, ReportService, Scope, Trigger
from evscada.core.reports.xlsx import render_xlsx
from evscada.storage import tables as t
from evscada.storage.db import Database
from evscada.storage.files.local import LocalFileStore
from evscada.storage.store import SqlStore

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class SetClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def service(store: SqlStore, files: FileStore, clock: SetClock, **config: Any) -> ReportService:
    return ReportService(
        store=store,
        clock=clock,
        file_store=files,
        config=ReportConfig(schedule=Schedule(zone=BERLIN), **config),
        renderers={"xlsx": render_xlsx, "pdf": render_pdf},
    )


async def build_history(database: Database, tag: str) -> dict[str, str]:
    """Three stations (A and B at one site, C at none) and their week; ids carry `tag` (PostgreSQL is shared)."""
    a, b, c = f"A-{tag}", f"B-{tag}", f"C-{tag}"
    created = z("2026-01-01 00:00")
    async with database.transaction() as conn:
        site = (
            await conn.execute(t.sites.insert().values(name=f"Depot {tag}", created_at=created).returning(t.sites.c.id))
        ).scalar_one()
        bus = (
            await conn.execute(
                t.vehicles.insert()
                .values(name=f"bus-{tag}", fleet=f"City {tag}", target_soc_pct=80.0, created_at=created, priority=0)
                .returning(t.vehicles.c.id)
            )
        ).scalar_one()
        for sid, site_id in ((a, site), (b, site), (c, None)):
            await conn.execute(
                t.stations.insert().values(
                    id=sid,
                    registration="Accepted",
                    security_profile=0,
                    online=False,
                    created_at=created,
                    site_id=site_id,
                )
            )

        def tx(sid: str, n: int, start: str, end: str | None, wh: float | None, **more: Any) -> dict[str, Any]:
            return {
                "station_id": sid,
                "station_transaction_id": f"{n}",
                "evse_id": 1,
                "connector_id": 1,
                "state": "ended" if end else "running",
                "started_at": z(start),
                "ended_at": z(end) if end else None,
                "meter_start": 1000.0,
                "meter_stop": 1000.0 + wh if wh is not None else None,
                "offline": False,
                "created_at": z(start),
                "updated_at": z(end or start),
                "auth_status": "Accepted",
                "vehicle_id": None,
                "stop_reason": None,
                **more,
            }

        await conn.execute(
            t.transactions.insert(),
            [
                # Sunday 29 March, 01:30 CET to 04:30 CEST: two hours across the change.
                tx(a, 1, "2026-03-29 00:30", "2026-03-29 02:30", 40000.0, vehicle_id=bus, stop_reason="EVDisconnected"),
                tx(a, 2, "2026-03-23 07:00", "2026-03-23 08:00", 11000.0, stop_reason="Local"),
                tx(b, 3, "2026-03-24 09:00", "2026-03-24 09:01", 0.0, auth_status="Invalid"),
                tx(b, 4, "2026-03-25 09:00", "2026-03-25 09:30", 500.0, stop_reason="EmergencyStop"),
                tx(c, 5, "2026-03-26 09:00", "2026-03-26 09:10", 0.0, stop_reason="Local"),
                tx(c, 6, "2026-03-29 21:00", None, None),  # Sunday 23:00 CEST: running at the week's end
                tx(c, 7, "2026-03-29 22:15", "2026-03-29 23:00", 900.0),  # Monday 00:15 CEST: next week
                tx(a, 8, "2026-03-22 22:30", "2026-03-22 23:00", 3000.0),  # Sunday 23:30 CET: the week before
            ],
        )
        # The historian's 15-minute buckets of session 1: 5 kWh per bucket, and its power and state of charge.
        buckets = []
        for i in range(8):
            start = z("2026-03-29 00:30") + timedelta(minutes=15 * i)
            buckets.append(
                _bucket(
                    a,
                    start,
                    "Energy.Active.Import.Register",
                    "Wh",
                    1000 + 5000 * i + (10 if i else 0),
                    1000 + 5000 * (i + 1),
                )
            )
        buckets.append(_bucket(a, z("2026-03-29 00:45"), "Power.Active.Import", "W", 7000.0, 7000.0))
        buckets.append(_bucket(a, z("2026-03-29 01:15"), "Power.Active.Import", "kW", 22.0, 21.0))
        buckets.append(_bucket(a, z("2026-03-29 02:00"), "SoC", "Percent", 60.0, 65.0))
        buckets.append(_bucket(a, z("2026-03-29 02:15"), "SoC", "Percent", 66.0, 70.0))
        await conn.execute(t.meter_aggregates.insert(), buckets)

        await conn.execute(
            t.station_connectivity.insert(),
            [
                {"station_id": a, "online": True, "at": z("2026-03-20 00:00")},
                {"station_id": b, "online": True, "at": z("2026-03-20 00:00")},
                {"station_id": b, "online": False, "at": z("2026-03-28 00:00")},
                {"station_id": b, "online": True, "at": z("2026-03-28 06:00")},
            ],
        )

        def status(sid: str, value: str, at: str) -> dict[str, Any]:
            return {
                "station_id": sid,
                "evse_id": 1,
                "connector_id": 1,
                "status": value,
                "timestamp": z(at),
                "received_at": z(at),
            }

        await conn.execute(
            t.status_history.insert(),
            [
                status(a, "Available", "2026-03-20 00:00"),
                status(a, "Faulted", "2026-03-25 10:00"),
                status(a, "Available", "2026-03-25 12:00"),
                status(b, "Available", "2026-03-20 00:00"),
            ],
        )

        def alarm(n: int, sid: str, source: str, priority: int, raised: str, **more: Any) -> dict[str, Any]:
            return {
                "key": f"{source}:{sid}:{n}",
                "source": source,
                "station_id": sid,
                "priority": priority,
                "message": "test",
                "state": "cleared" if more.get("cleared_at") else "active",
                "raised_at": z(raised),
                "last_raised_at": z(raised),
                "count": 1,
                "suppressed": False,
                "cleared_at": None,
                "acknowledged_at": None,
                "shelved_until": None,
                **more,
            }

        await conn.execute(
            t.alarms.insert(),
            [
                alarm(
                    1,
                    a,
                    "station_fault",
                    1,
                    "2026-03-25 10:00",
                    cleared_at=z("2026-03-25 12:00"),
                    acknowledged_at=z("2026-03-25 10:10"),
                ),
                alarm(
                    2,
                    b,
                    "offline",
                    2,
                    "2026-03-28 00:00",
                    cleared_at=z("2026-03-28 06:00"),
                    acknowledged_at=z("2026-03-29 08:00"),
                ),
                alarm(3, b, "transaction", 3, "2026-03-27 12:00"),
                alarm(4, a, "no_meter_values", 3, "2026-03-15 12:00", shelved_until=z("2026-04-05 00:00")),
                alarm(5, c, "boot", 4, "2026-03-29 22:30"),  # Monday 00:30 CEST: next week
                alarm(
                    6,
                    c,
                    "boot",
                    4,
                    "2026-03-29 21:30",
                    cleared_at=z("2026-03-29 21:31"),
                    acknowledged_at=z("2026-03-29 21:40"),
                ),
            ],
        )
    return {"a": a, "b": b, "c": c, "group": f"depot-{tag}", "site": str(site)}


def _bucket(sid: str, start: datetime, measurand: str, unit: str, first: float, last: float) -> dict[str, Any]:
    return {
        "station_id": sid,
        "resolution": 900,
        "bucket_start": start,
        "evse_id": 1,
        "connector_id": 1,
        "measurand": measurand,
        "phase": "",
        "unit": unit,
        "count": 2,
        "sum": first + last,
        "min": min(first, last),
        "max": max(first, last),
        "first_at": start,
        "first_value": first,
        "last_at": start + timedelta(minutes=14),
        "last_value": last,
    }


@pytest.fixture
async def history(database: Database, tmp_path: Path) -> Any:
    tag = uuid.uuid4().hex[:8]
    ids = await build_history(database, tag)
    store = SqlStore(database)
    clock = SetClock(z("2026-03-30 08:00"))
    files = LocalFileStore(tmp_path / "files")
    groups = {ids["group"]: [ids["a"], ids["b"], ids["c"]]}
    return ids, store, clock, files, groups


async def test_weekly_figures_across_the_summer_time_change(history: Any) -> None:
    ids, store, clock, files, groups = history
    reports = service(store, files, clock, station_groups=groups)
    week = week_of(datetime(2026, 3, 25).date(), BERLIN)
    assert (week.start, week.end) == (z("2026-03-22 23:00"), z("2026-03-29 22:00"))  # 167 hours
    figures = await reports.figures(period=week, scope=Scope("group", ids["group"]))
    a, b, c = ids["a"], ids["b"], ids["c"]

    e = figures.energy
    assert e.total_wh == 51500.0
    assert e.by_station == {a: 51000.0, b: 500.0, c: 0.0}
    assert e.by_site == {f"Depot {a[2:]}": 51500.0, "(no site)": 0.0}
    assert e.by_vehicle == {f"bus-{a[2:]}": 40000.0}
    assert e.by_fleet == {f"City {a[2:]}": 40000.0, "(no fleet)": 11500.0}
    assert e.peak_power_w == 22000.0  # 22 kW in a kW bucket, above the 7,000 W one
    # Heat map from the historian: 00:30-01:00 UTC is 01:xx CET, 01:00-02:00 UTC is 03:xx CEST, 02:00-02:30 is 04:xx.
    sunday = e.heat_map[6]
    assert (sunday[1], sunday[2], sunday[3], sunday[4]) == (10000.0, 0.0, 20000.0, 10000.0)
    assert sum(map(sum, e.heat_map)) == 40000.0

    s = figures.sessions
    assert (s.count, s.succeeded, s.failed, s.running) == (6, 2, 3, 1)
    assert s.failure_reasons == {"authorization Invalid": 1, "stopped: EmergencyStop": 1, "no energy delivered": 1}
    assert s.failing_stations[0] == (b, 2)

    av = figures.availability
    by_station = {st.station_id: st for st in av.stations}
    assert by_station[a].availability == pytest.approx(1 - 2 / 167)
    assert by_station[b].availability == pytest.approx(1 - 6 / 167)
    assert by_station[c].availability is None
    assert av.fleet == pytest.approx((334 - 8) / 334)
    assert (av.below_target, av.outages, av.outage_seconds) == (1, 2, 8 * HOUR)
    assert av.stations[0].station_id == b  # least available first
    assert av.mttr_s == 4 * HOUR and av.repairs == 2
    assert av.longest_outages == [
        (b, z("2026-03-28 00:00"), z("2026-03-28 06:00")),
        (a, z("2026-03-25 10:00"), z("2026-03-25 12:00")),
    ]

    al = figures.alarms
    assert al.raised == 4  # alarm 5 at 00:30 CEST on Monday belongs to the next week
    assert al.by_priority == {1: 1, 2: 1, 3: 1, 4: 1}
    assert al.acknowledged == 3
    assert al.mean_ack_s == pytest.approx((600 + 32 * HOUR + 600) / 3)
    assert al.median_ack_s == 600
    assert (al.standing_at_end, al.shelved_at_end) == (2, 1)
    assert al.top_stations[0] == (b, 2)

    assert [(v, soc, target) for v, _, soc, target, _ in figures.depots.below_target] == [(f"bus-{a[2:]}", 70.0, 80.0)]
    assert figures.previous is not None
    assert (figures.previous.sessions, figures.previous.energy_wh) == (1, 3000.0)
    assert figures.summary[0].startswith("51.5 kWh delivered in 6 sessions (+1617 % energy")


async def test_files_read_back(history: Any) -> None:
    ids, store, clock, files, groups = history
    reports = service(store, files, clock, station_groups=groups)
    week = week_of(datetime(2026, 3, 25).date(), BERLIN)
    report = await reports.make(
        period=week, scope=Scope("group", ids["group"]), trigger=Trigger.ON_DEMAND, requested_by="t"
    )
    _, chunks = await reports.content(report_id=report.id, fmt="xlsx")
    book = load_workbook(io.BytesIO(b"".join([c async for c in chunks])))
    assert book.sheetnames == ["Summary", "Energy", "Busiest hours", "Sessions", "Availability", "Alarms", "Depots"]
    summary = {row[0]: row[1:] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["From"][0] == datetime(2026, 3, 23, 0, 0)  # local midnight, a date cell
    assert summary["To"][0] == datetime(2026, 3, 30, 0, 0)
    assert summary["Energy (kWh)"][:2] == (51.5, 3.0)
    assert summary["Sessions"][:2] == (6, 1)
    sessions = list(book["Sessions"].iter_rows(values_only=True))
    header = sessions.index(next(r for r in sessions if r[0] == "Transaction"))
    first = sessions[header + 1]
    assert isinstance(first[4], datetime) and first[4] == datetime(2026, 3, 23, 8, 0)  # 07:00 UTC = 08:00 CET
    across = next(r for r in sessions[header + 1 :] if r[7] == 40.0)
    assert (across[4], across[5], across[6], across[9]) == (
        datetime(2026, 3, 29, 1, 30),
        datetime(2026, 3, 29, 4, 30),
        120.0,
        22.0,
    )
    availability = list(book["Availability"].iter_rows(values_only=True))
    outages = availability.index(next(r for r in availability if r[0] == "Outage: station"))
    assert availability[outages + 1][:4] == (ids["b"], datetime(2026, 3, 28, 1, 0), datetime(2026, 3, 28, 7, 0), 6.0)
    hours = list(book["Busiest hours"].iter_rows(values_only=True))
    assert hours[8][0] == "Sun" and hours[8][1 + 3] == 20.0  # 03:00 CEST on Sunday

    _, chunks = await reports.content(report_id=report.id, fmt="pdf")
    pdf = PdfReader(io.BytesIO(b"".join([c async for c in chunks])))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "KPI report week 2026-W13" in text
    assert "51.5 kWh delivered in 6 sessions" in text
    assert "Busiest hours" in text and "Least available stations" in text
    assert ids["b"] in text

    listed, total = await reports.list()
    assert total >= 1 and listed[0].id == report.id
    assert listed[0].summary["sessions"]["failed"] == 3


async def test_a_missed_schedule_runs_once(history: Any) -> None:
    """The schedule began on Monday 23 March; the CSMS was down on Monday 30 March 06:00: on Tuesday two processes
    checking at once make the week's report once, and a later check makes nothing more."""
    ids, store, clock, files, groups = history
    scopes = (f"group:{ids['group']}",)
    one = service(store, files, clock, station_groups=groups, scopes=scopes)
    two = service(store, files, clock, station_groups=groups, scopes=scopes)
    clock.at = z("2026-03-23 07:00")
    assert await one.run_due() == []  # the first check only sets the baseline: no report on the time before
    clock.at = z("2026-03-31 09:00")
    made = await asyncio.gather(one.run_due(), two.run_due())
    again = await one.run_due()
    assert [(r.kind, r.period_start) for batch in made for r in batch] == [(ReportKind.WEEKLY, z("2026-03-22 23:00"))]
    assert again == []
    assert made[0] or made[1]
    report = (made[0] or made[1])[0]
    assert report.summary["sessions"]["count"] == 6
