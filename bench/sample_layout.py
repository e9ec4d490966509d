"""What one group commit of meter values costs SQLite, for evscada's sample layout and the alternatives.

    .venv/bin/python bench/sample_layout.py [--stations 1000] [--commits 70] [--samples 5] [--rounds 2]

Plain `sqlite3` in this process, no server: each commit holds what the gateway's MeterSampleWriter writes for
one MeterValues message per station (a receipt per message, a meter_readings row holding its `--samples` values),
on evscada's own tables (`storage/tables.py`) and pragmas (`storage/db.py`). The alternatives change one thing
each:

- no-receipts: without the repeat receipts (repeated messages would be stored twice);
- per-value: the layout before 2026-12-06, a meter_samples row per sampled value with both indexes, so each value
  took an entry in each index;
- values-table: a reading row per message and time (both indexes) and its values in a second table keyed by
  `reading id * 1024 + position` (no index but the primary keys takes an entry per value).

It prints the mean time per commit over the second half of the commits (the first half grows the indexes) and
the ratio to evscada's layout measured in the same run, so the machine's noise cancels.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine

from evscada.storage import tables as t
from evscada.storage.db import _sqlite_pragmas

MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC")
LAYOUTS = ("evscada", "no-receipts", "per-value", "values-table")
PER_VALUE = (
    "CREATE TABLE meter_samples (id INTEGER PRIMARY KEY, station_id VARCHAR(64) NOT NULL, evse_id INTEGER NOT NULL,"
    " connector_id INTEGER NOT NULL, transaction_pk INTEGER, timestamp DATETIME NOT NULL, measurand VARCHAR(48)"
    " NOT NULL, phase VARCHAR(8), location VARCHAR(8), context VARCHAR(24), unit VARCHAR(20), value FLOAT, raw TEXT);"
    "CREATE INDEX ix_meter_samples_station_time ON meter_samples (station_id, timestamp);"
    "CREATE INDEX ix_meter_samples_transaction ON meter_samples (transaction_pk);"
)


def open_database(path: Path, layout: str) -> sqlite3.Connection:
    engine = create_engine(f"sqlite:///{path}")
    t.metadata.create_all(engine, tables=[t.meter_readings, t.message_receipts])
    engine.dispose()
    connection = sqlite3.connect(path, isolation_level=None)
    _sqlite_pragmas(connection, None)
    if layout == "per-value":
        connection.executescript("DROP TABLE meter_readings;" + PER_VALUE)
    if layout == "values-table":
        connection.executescript(
            "CREATE TABLE meter_values (id INTEGER PRIMARY KEY, measurand VARCHAR(48) NOT NULL, phase VARCHAR(8),"
            " location VARCHAR(8), context VARCHAR(24), unit VARCHAR(20), value FLOAT, raw TEXT);"
        )
    return connection


def commit_writer(connection: sqlite3.Connection, layout: str, stations: int, samples: int) -> Callable[[int], None]:
    start = datetime(2026, 12, 5, tzinfo=UTC)
    measurands = (MEASURANDS * (samples // len(MEASURANDS) + 1))[:samples]

    def packed(value: float) -> str:
        return json.dumps([[m, None, None, "Sample.Periodic", "Wh", value, None] for m in measurands])

    def write(k: int) -> None:
        at = (start + timedelta(seconds=k)).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        names = [f"BENCH-{s:05d}" for s in range(stations)]
        connection.execute("BEGIN")
        if layout != "no-receipts":
            receipts = sorted((name, f"{k:08x}{hash((name, k)) & 0xFFFFFFFFFFFF:012x}", at) for name in names)
            placeholders = ",".join(["(?,?,?)"] * len(receipts))
            connection.execute(
                f"INSERT INTO message_receipts (station_id, message_key, received_at) VALUES {placeholders} "
                "ON CONFLICT DO NOTHING RETURNING station_id, message_key",
                [value for receipt in receipts for value in receipt],
            ).fetchall()
        if layout in ("evscada", "no-receipts"):
            rows = [(name, 1, 1, None, at, packed(float(k))) for name in names]
            connection.executemany(
                "INSERT INTO meter_readings (station_id, evse_id, connector_id, transaction_pk, timestamp, samples)"
                " VALUES (?,?,?,?,?,?)",
                rows,
            )
        elif layout == "values-table":
            first = (connection.execute("SELECT max(id) FROM meter_readings").fetchone()[0] or 0) + 1
            connection.executemany(
                "INSERT INTO meter_readings (id, station_id, evse_id, connector_id, transaction_pk, timestamp, samples)"
                " VALUES (?,?,?,?,?,?,'')",
                [(first + i, name, 1, 1, None, at) for i, name in enumerate(names)],
            )
            connection.executemany(
                "INSERT INTO meter_values (id, measurand, phase, location, context, unit, value, raw)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [
                    ((first + i) * 1024 + p, m, None, None, "Sample.Periodic", "Wh", float(k), None)
                    for i in range(len(names))
                    for p, m in enumerate(measurands)
                ],
            )
        else:
            sample_rows = [
                (name, 1, 1, None, at, m, None, None, "Sample.Periodic", "Wh", float(k), None)
                for name in names
                for m in measurands
            ]
            connection.executemany(
                "INSERT INTO meter_samples (station_id, evse_id, connector_id, transaction_pk, timestamp, measurand,"
                " phase, location, context, unit, value, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                sample_rows,
            )
        connection.execute("COMMIT")

    return write


def measure(layout: str, args: argparse.Namespace, workdir: Path) -> float:
    path = workdir / f"{layout}.db"
    connection = open_database(path, layout)
    write = commit_writer(connection, layout, args.stations, args.samples)
    times = []
    for k in range(args.commits):
        began = time.perf_counter()
        write(k)
        times.append(time.perf_counter() - began)
        if k % 10 == 9:
            print(f"  {layout}: {k + 1}/{args.commits} commits", end="\r", flush=True)
    connection.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return 1000 * statistics.fmean(times[len(times) // 2 :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=1000, help="messages per commit, one per station")
    parser.add_argument("--commits", type=int, default=70, help="commits per layout (about 10 s of the gateway)")
    parser.add_argument("--samples", type=int, default=5, help="sampled values per message")
    parser.add_argument("--rounds", type=int, default=2, help="runs of every layout, interleaved")
    args = parser.parse_args()
    results: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    with tempfile.TemporaryDirectory(prefix="evscada-layout-") as tmp:
        for round_ in range(1, args.rounds + 1):
            for layout in LAYOUTS:
                results[layout].append(measure(layout, args, Path(tmp)))
                print(f"  round {round_}: {layout} {results[layout][-1]:.1f} ms per commit" + " " * 20)
    baseline = statistics.median(results["evscada"])
    print(f"\nSQLite {sqlite3.sqlite_version}; {args.stations} messages of {args.samples} samples per commit")
    print("| layout | ms per commit (median) | per message µs | ratio to evscada's layout |")
    print("| --- | ---: | ---: | ---: |")
    for layout, values in results.items():
        ms = statistics.median(values)
        print(f"| {layout} | {ms:.1f} | {1000 * ms / args.stations:.1f} | {ms / baseline:.2f}x |")


if __name__ == "__main__":
    main()
