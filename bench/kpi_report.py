"""A monthly KPI report of a large fleet: 1,000 stations, 300,000 sessions and their meter data, timed.

    .venv/bin/python bench/kpi_report.py [--stations 1000] [--sessions 300000] [--keep DIR]

A fresh SQLite database (migrated like `evscada serve` does it) in a temporary folder is filled, before anything is
timed, with March 2026 in Europe/Berlin (the month with the spring-forward change): `--stations` stations on 20
sites, two connectors each; `--sessions` charging sessions spread over them, 20 min to 2 h at 11 kW or 50 kW, each
connector's energy register running on from session to session; 2 % refused authorizations, 1 % emergency stops,
2 % without energy; a tenth charging one of 200 buses with a target SoC. Their meter data is what the historian keeps
of it and the report reads: the 15-minute buckets (energy register, power, and the buses' SoC) that the aggregator
folds from raw readings, written directly (raw readings are not generated: the report never reads them). Also a
status history (Charging / Available per session), an offline period on a tenth of the stations and 10,000 alarms.

Timed: `ReportService.make` for the month and the whole fleet, as the scheduler and `POST /api/v1/reports` run it:
the figures (SQL aggregation, availability from the status and connectivity history, the previous month's
headline), the XLSX (the first 50,000 session rows) and the PDF, both stored in the file store. Baseline in the same
run: the least a report must do, one SQL pass summing the month's sessions (count and energy).

It checks what it counted, else exits 1: the report's session count, failures and energy equal the generated ones;
the busiest-hours map adds up to the energy the registers counted; each generated offline period is one outage;
the alarm count matches; the XLSX opens with its seven sheets and the PDF's text names the month.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import text

from evscada.app import build_core
from evscada.bus.local import LocalBus
from evscada.core.reports.periods import month_of
from evscada.core.reports.service import Scope, Trigger
from evscada.settings import Settings
from evscada.storage.db import Database
from evscada.storage.store import SqlStore

ZONE = ZoneInfo("Europe/Berlin")
MONTH = month_of(datetime(2026, 3, 15).date(), ZONE)
BUCKET = timedelta(minutes=15)
SITES = 20
BUSES = 200
ALARMS = 10_000


def db_time(at: datetime) -> str:
    """How UtcDateTime keeps a time on SQLite."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class Expected:
    sessions: int = 0
    failed: int = 0
    energy_wh: float = 0.0
    register_wh: float = 0.0
    outages: int = 0
    alarms: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def generate(path: Path, stations: int, sessions: int, seed: int) -> Expected:  # noqa: PLR0915  # set-up, in order
    """Fill the migrated database at `path` (plain sqlite3: this is set-up, not what is measured)."""
    rng = random.Random(seed)
    expected = Expected()
    connection = sqlite3.connect(path)
    created = db_time(datetime(2026, 1, 1, tzinfo=UTC))
    connection.executemany(
        "INSERT INTO sites (id, name, created_at) VALUES (?, ?, ?)",
        [(n + 1, f"Depot {n + 1:02d}", created) for n in range(SITES)],
    )
    ids = [f"CP-{n:04d}" for n in range(stations)]
    connection.executemany(
        "INSERT INTO stations (id, registration, security_profile, online, created_at, site_id) "
        "VALUES (?, 'Accepted', 0, 1, ?, ?)",
        [(sid, created, n % SITES + 1) for n, sid in enumerate(ids)],
    )
    connection.executemany(
        "INSERT INTO vehicles (id, name, fleet, target_soc_pct, priority, created_at) VALUES (?, ?, ?, 80, 0, ?)",
        [(n + 1, f"bus-{n + 1:03d}", f"Fleet {n % 4}", created) for n in range(BUSES)],
    )
    connectors = [(sid, evse) for sid in ids for evse in (1, 2)]
    per_connector = sessions // len(connectors)
    month_seconds = (MONTH.end - MONTH.start).total_seconds()
    slot = month_seconds / per_connector
    transactions, buckets, statuses = [], [], []
    pk = 0
    for sid, evse in connectors:
        register = rng.uniform(0, 1e6)
        for k in range(per_connector):
            pk += 1
            start = MONTH.start + timedelta(seconds=k * slot + rng.uniform(0, slot * 0.3))
            minutes = rng.randint(20, min(120, int(slot * 0.6 / 60)))
            end = start + timedelta(minutes=minutes)
            power = 11_000.0 if evse == 1 else 50_000.0
            roll = rng.random()
            auth, reason, energy = "Accepted", "EVDisconnected", round(power * minutes / 60)
            if roll < 0.02:
                auth, energy = "Invalid", 0
            elif roll < 0.03:
                reason = "EmergencyStop"
            elif roll < 0.05:
                energy = 0
            vehicle = rng.randint(1, BUSES) if rng.random() < 0.1 else None
            expected.sessions += 1
            expected.failed += roll < 0.05
            expected.energy_wh += energy
            transactions.append(
                (
                    pk,
                    sid,
                    str(pk),
                    evse,
                    1,
                    "ended",
                    auth,
                    db_time(start),
                    db_time(end),
                    register,
                    register + energy,
                    reason,
                    vehicle,
                    db_time(start),
                    db_time(end),
                )
            )
            statuses.append((sid, evse, 1, "Charging", db_time(start), db_time(start)))
            statuses.append((sid, evse, 1, "Available", db_time(end), db_time(end)))
            if energy:
                buckets.extend(_buckets(sid, evse, start, end, register, energy, power, vehicle is not None, rng))
                expected.register_wh += energy
            register += energy
    connection.executemany(
        "INSERT INTO transactions (pk, station_id, station_transaction_id, evse_id, connector_id, state, auth_status,"
        " started_at, ended_at, meter_start, meter_stop, stop_reason, vehicle_id, created_at, updated_at, offline)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        transactions,
    )
    connection.executemany(
        "INSERT INTO meter_aggregates (station_id, resolution, bucket_start, evse_id, connector_id, measurand, phase,"
        " unit, count, sum, min, max, first_at, first_value, last_at, last_value)"
        " VALUES (?, 900, ?, ?, 1, ?, '', ?, 2, ?, ?, ?, ?, ?, ?, ?)",
        buckets,
    )
    before = db_time(MONTH.start - timedelta(days=10))
    statuses += [(sid, evse, 1, "Available", before, before) for sid, evse in connectors]
    connection.executemany(
        "INSERT INTO status_history (station_id, evse_id, connector_id, status, timestamp, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        statuses,
    )
    connectivity = [(sid, 1, before) for sid in ids]
    for sid in ids[::10]:  # an offline period on every tenth station, 1 to 12 hours
        down = MONTH.start + timedelta(days=rng.uniform(1, 28))
        connectivity.append((sid, 0, db_time(down)))
        connectivity.append((sid, 1, db_time(down + timedelta(hours=rng.uniform(1, 12)))))
        expected.outages += 1
    connection.executemany("INSERT INTO station_connectivity (station_id, online, at) VALUES (?, ?, ?)", connectivity)
    alarms = []
    for n in range(ALARMS):
        raised = MONTH.start + timedelta(seconds=rng.uniform(0, month_seconds - 7200))
        cleared = raised + timedelta(minutes=rng.uniform(1, 120))
        acked = raised + timedelta(minutes=rng.uniform(1, 60)) if rng.random() < 0.8 else None
        alarms.append(
            (
                f"k{n}",
                rng.choice(["station_fault", "offline", "transaction", "boot"]),
                rng.choice(ids),
                rng.randint(1, 4),
                db_time(raised),
                db_time(raised),
                db_time(cleared),
                db_time(acked) if acked else None,
            )
        )
    expected.alarms = ALARMS
    connection.executemany(
        "INSERT INTO alarms (key, source, station_id, priority, message, state, raised_at, last_raised_at, count,"
        " cleared_at, acknowledged_at, suppressed) VALUES (?, ?, ?, ?, 'bench', 'cleared', ?, ?, 1, ?, ?, 0)",
        alarms,
    )
    connection.commit()
    expected.rows = {
        "transactions": len(transactions),
        "meter_aggregates": len(buckets),
        "status_history": len(statuses),
        "alarms": len(alarms),
    }
    connection.execute("ANALYZE")
    connection.close()
    return expected


def _buckets(  # noqa: PLR0917
    sid: str,
    evse: int,
    start: datetime,
    end: datetime,
    register: float,
    energy: float,
    power: float,
    soc: bool,
    rng: random.Random,
) -> list[tuple[object, ...]]:
    """The historian's 15-minute buckets of one session at constant power: register, power and (buses) SoC."""
    rows: list[tuple[object, ...]] = []
    seconds = (end - start).total_seconds()
    bucket = start.replace(minute=start.minute // 15 * 15, second=0, microsecond=0)
    soc_start = rng.uniform(20, 60)
    while bucket < end:
        first_at = max(start, bucket)
        last_at = (
            end if bucket + BUCKET >= end else bucket + BUCKET - timedelta(seconds=1)
        )  # the last sample: at the end
        first = register + energy * (first_at - start).total_seconds() / seconds
        last = register + energy * (last_at - start).total_seconds() / seconds
        at = db_time(bucket)
        rows.append(
            (
                sid,
                at,
                evse,
                "Energy.Active.Import.Register",
                "Wh",
                first + last,
                first,
                last,
                db_time(first_at),
                first,
                db_time(last_at),
                last,
            )
        )
        rows.append(
            (
                sid,
                at,
                evse,
                "Power.Active.Import",
                "W",
                2 * power,
                power,
                power,
                db_time(first_at),
                power,
                db_time(last_at),
                power,
            )
        )
        if soc:
            value = min(100.0, soc_start + 40 * (last_at - start).total_seconds() / seconds)
            rows.append(
                (
                    sid,
                    at,
                    evse,
                    "SoC",
                    "Percent",
                    2 * value,
                    value,
                    value,
                    db_time(first_at),
                    value,
                    db_time(last_at),
                    value,
                )
            )
        bucket += BUCKET
    return rows


async def measure(url: str, folder: Path, expected: Expected, repeat: int) -> int:
    database = Database(url)
    store = SqlStore(database)
    settings = Settings(database_url=url, operator_timezone=ZONE.key, files={"folder": str(folder / "files")})
    core = build_core(
        settings, store, LocalBus(), _Clock(MONTH.end + timedelta(hours=6))
    )  # as `evscada serve` wires it
    reports = core.reports
    baseline_times, figure_times, make_times = [], [], []
    report = figures = None
    for _ in range(repeat):
        began = time.perf_counter()
        async with database.transaction() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT count(*), sum(meter_stop - meter_start) FROM transactions"
                        " WHERE started_at >= :start AND started_at < :end"
                    ),
                    {"start": db_time(MONTH.start), "end": db_time(MONTH.end)},
                )
            ).one()
        baseline_times.append(time.perf_counter() - began)
        assert row[0] == expected.sessions, row
        began = time.perf_counter()
        figures = await reports.figures(period=MONTH, scope=Scope("fleet"))
        figure_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        report = await reports.make(period=MONTH, scope=Scope("fleet"), trigger=Trigger.ON_DEMAND, requested_by="bench")
        make_times.append(time.perf_counter() - began)
    assert report is not None and figures is not None
    problems = _check(figures, expected)
    xlsx = b"".join([c async for c in (await reports.content(report_id=report.id, fmt="xlsx"))[1]])
    pdf = b"".join([c async for c in (await reports.content(report_id=report.id, fmt="pdf"))[1]])
    book = await asyncio.to_thread(load_workbook, io.BytesIO(xlsx), read_only=True)
    if len(book.sheetnames) != 7:
        problems.append(f"the XLSX has sheets {book.sheetnames}")
    try:
        from pypdf import PdfReader

        first_page = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        if "March 2026" not in first_page:
            problems.append("the PDF's first page does not name March 2026")
    except ImportError:
        print("  (pypdf not installed: the PDF's text is not checked; pip install -e '.[test]')")
    await store.close()
    await database.close()

    def line(name: str, times: list[float]) -> str:
        return f"  {name:<44} best {min(times):7.2f} s  median {statistics.median(times):7.2f} s"

    print(line("baseline: one SQL pass over the sessions", baseline_times))
    print(line("figures (SQL aggregates + availability)", figure_times))
    print(line("report made (figures + XLSX + PDF, stored)", make_times))
    print(
        f"  ratio report / baseline (medians): {statistics.median(make_times) / statistics.median(baseline_times):.0f}x"
    )
    print(f"  XLSX {len(xlsx) / 1e6:.1f} MB, PDF {len(pdf) / 1e3:.0f} kB")
    e, s, a = figures.energy, figures.sessions, figures.availability
    print(
        f"  figures: {s.count:,} sessions, {s.failed:,} failed, {e.total_wh / 1e6:,.1f} MWh, "
        f"availability {a.fleet * 100 if a.fleet is not None else float('nan'):.3f} %, {a.outages} outages, "
        f"{figures.alarms.raised:,} alarms"
    )
    if problems:
        print("FAILED:", *problems, sep="\n  ")
        return 1
    print("checks: sessions, failures, energy, heat map, outages and alarms as generated; XLSX and PDF read back")
    return 0


def _check(figures: object, expected: Expected) -> list[str]:
    from evscada.core.reports.figures import ReportFigures

    assert isinstance(figures, ReportFigures)
    problems = []
    if figures.sessions.count != expected.sessions:
        problems.append(f"sessions {figures.sessions.count} != {expected.sessions}")
    if figures.sessions.failed != expected.failed:
        problems.append(f"failed {figures.sessions.failed} != {expected.failed}")
    if abs(figures.energy.total_wh - expected.energy_wh) > 1e-3 * max(1.0, expected.sessions / 1000):
        problems.append(f"energy {figures.energy.total_wh} != {expected.energy_wh}")
    mapped = sum(map(sum, figures.energy.heat_map))
    if abs(mapped - expected.register_wh) > 1e-6 * expected.register_wh:
        problems.append(f"heat map {mapped} Wh != {expected.register_wh} Wh the registers counted")
    if figures.availability.outages != expected.outages:
        problems.append(f"outages {figures.availability.outages} != {expected.outages}")
    if figures.alarms.raised != expected.alarms:
        problems.append(f"alarms {figures.alarms.raised} != {expected.alarms}")
    return problems


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--keep", type=Path, help="build the database in this folder and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="evscada-kpi-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "evscada.db"
    path.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"

    async def migrate() -> None:
        database = Database(url)
        await database.migrate()
        await database.close()

    asyncio.run(migrate())
    began = time.perf_counter()
    expected = generate(path, args.stations, args.sessions, args.seed)
    print(
        f"generated in {time.perf_counter() - began:.0f} s: {args.stations:,} stations, "
        + ", ".join(f"{count:,} {table}" for table, count in expected.rows.items())
    )
    print(f"monthly report of {MONTH.label(ZONE)} ({MONTH.hours:.0f} h, Europe/Berlin), whole fleet, SQLite:")
    return asyncio.run(measure(url, folder, expected, args.repeat))


if __name__ == "__main__":
    sys.exit(main())
