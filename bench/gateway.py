"""Gateway benchmark: evscada against a bare `websockets` echo server, measured in the same run.

    python bench/gateway.py [--scenario heartbeat|metervalues|idle|storm|all] [--stations 1000]
                            [--idle-stations 10000] [--storm-stations 10000] [--seconds 10] [--rounds 1]
                            [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Server and load run as separate processes pinned to separate cores (server: CPU 0, load: CPU 1), and both
processes' CPU use is printed, so a reader can tell which side was saturated. With `--postgres` the server stores
into a scratch database made on that PostgreSQL server (and dropped afterwards) instead of a SQLite file; the
PostgreSQL processes are not pinned, and their CPU use is printed as well.

Every run is checked, not only timed: answers are counted as CALLRESULTs and CALLERRORs apart, and for
MeterValues the rows evscada stored (meter_readings, one per message) are counted against the MeterValues it
answered. Any CALLERROR, unexpected frame or answered message not stored ends the benchmark with exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

HERE = Path(__file__).resolve().parent
SERVER_CPU, LOAD_CPU = 0, 1
ECHO_ANSWER_ID = "bench-answer"  # the unique id of echo_server.py's one fixed answer


@dataclass
class Measured:
    scenario: str
    server: str
    figures: dict[str, object] = field(default_factory=dict)
    round: int = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned(cpu: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        raise_fd_limit()
        if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})

    return apply


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"server not listening on {port} after {timeout} s")


def prepare_evscada_database(directory: Path, stations: int) -> str:
    """A fresh SQLite file, migrated, with the bench stations registered (rows inserted directly: 10,000
    `evscada station add` calls would take minutes; this is a set-up shortcut, not how stations are added)."""
    path = directory / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    env = {**os.environ, "EVSCADA_DATABASE_URL": url, "EVSCADA_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "evscada", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "insert into stations (id, registration, security_profile, online, created_at) values (?, ?, 0, 0, ?)",
            [(f"BENCH-{n:05d}", "Accepted", now) for n in range(1, stations + 1)],
        )
    return url


@contextlib.contextmanager
def scratch_postgres(admin_url: str, stations: int) -> Iterator[str]:
    """A new database on the PostgreSQL server of `admin_url`, migrated, with the bench stations; dropped after."""
    name = f"evscada_bench_{uuid4().hex[:12]}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def add_stations() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "insert into stations (id, registration, security_profile, online, created_at) "
                        "values (:id, 'Accepted', 0, false, now())"
                    ),
                    [{"id": f"BENCH-{n:05d}"} for n in range(1, stations + 1)],
                )
        finally:
            await engine.dispose()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, SQLAlchemyError) as exc:
        raise SystemExit(
            f"cannot create a scratch database on {make_url(admin_url).render_as_string()}: {exc}\n"
            "--postgres needs the URL of a running PostgreSQL server whose user may create databases"
        ) from exc
    try:
        env = {**os.environ, "EVSCADA_DATABASE_URL": url, "EVSCADA_LOG_LEVEL": "WARNING"}
        subprocess.run([sys.executable, "-m", "evscada", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        asyncio.run(add_stations())
        print(f"PostgreSQL: scratch database {name}", flush=True)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def stored_readings(database_url: str) -> int:
    """Rows in meter_readings: a stored MeterValues message of the load is one row (one timestamp each)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database)) as connection:
            return int(connection.execute("select count(*) from meter_readings").fetchone()[0])

    async def count() -> int:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                return int((await connection.execute(text("select count(*) from meter_readings"))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine (the server's backends do the storing work)."""
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("postgres", "postmaster"):
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


@contextlib.contextmanager
def server(kind: str, workdir: Path, database_url: str) -> Iterator[tuple[int, psutil.Process]]:
    port = free_port()
    if kind == "echo":
        command = [sys.executable, str(HERE / "echo_server.py"), "--port", str(port)]
        env = dict(os.environ)
    else:
        command = [sys.executable, "-m", "evscada", "serve"]
        env = {
            **os.environ,
            "EVSCADA_DATABASE_URL": database_url,
            "EVSCADA_OCPP_HOST": "127.0.0.1",
            "EVSCADA_OCPP_PORT": str(port),
            "EVSCADA_HTTP_HOST": "127.0.0.1",
            "EVSCADA_HTTP_PORT": str(free_port()),  # the API runs as in production, on a port nothing else holds
            "EVSCADA_LOG_LEVEL": "WARNING",
            "EVSCADA_MIGRATE_ON_START": "false",
        }
    log_file = open(workdir / f"{kind}.log", "ab")  # noqa: SIM115 (closed below, after the server)
    process = subprocess.Popen(
        command,
        env=env,
        cwd=workdir,
        preexec_fn=pinned(SERVER_CPU),  # noqa: PLW1509
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    try:
        wait_for_port(port, process)
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


async def run_load(
    port: int,
    scenario: str,
    stations: int,
    seconds: float,
    target: psutil.Process,
    *,
    postgres: bool = False,
    answer_id: str | None = None,
) -> dict[str, object]:
    """Run bench/load.py on the load core; sample the server's CPU and memory at the load's markers."""
    samples: dict[str, object] = {"rss_before": target.memory_info().rss}
    fixed = ["--answer-id", answer_id] if answer_id else []
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "load.py"),
        "--port",
        str(port),
        "--scenario",
        scenario,
        "--stations",
        str(stations),
        "--seconds",
        str(seconds),
        *fixed,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=pinned(LOAD_CPU),
    )
    assert process.stdout is not None and process.stderr is not None
    cpu_start = wall_start = database_start = 0.0
    async for raw in process.stderr:
        line = raw.decode().strip()
        times = target.cpu_times()
        if line == "measure-start":
            cpu_start, wall_start = times.user + times.system, time.monotonic()
            database_start = postgres_cpu_seconds() if postgres else 0.0
            print(f"  {scenario}: measuring ...", flush=True)
        elif line == "measure-end":
            wall = time.monotonic() - wall_start
            samples["server_cpu_percent"] = 100 * (times.user + times.system - cpu_start) / wall
            if postgres:
                samples["database_cpu_percent"] = 100 * (postgres_cpu_seconds() - database_start) / wall
        elif line.startswith("connected"):
            await asyncio.sleep(1.0)
            samples["rss_connected"] = target.memory_info().rss
            print(
                f"  {scenario}: {line.split()[1]} connected, server RSS {samples['rss_connected'] / 2**20:.0f} MiB",
                flush=True,
            )
        elif line:
            print(f"  load: {line}", flush=True)
    output = (await process.stdout.read()).decode().strip().splitlines()
    if await process.wait() != 0 and not output:
        raise RuntimeError(f"load generator failed for {scenario}")
    return {**samples, **json.loads(output[-1])}  # a run with CALLERRORs still has its counts: measure() says why


def measure(
    scenario: str, kind: str, stations: int, *, seconds: float, workdir: Path, database_url: str, round_: int = 1
) -> Measured:
    print(f"{kind}: {scenario} with {stations} stations (round {round_})", flush=True)
    storing = kind == "evscada" and scenario == "metervalues"
    before = stored_readings(database_url) if storing else 0
    with server(kind, workdir, database_url) as (port, target):
        postgres = kind == "evscada" and database_url.startswith("postgresql")
        answer_id = ECHO_ANSWER_ID if kind == "echo" else None
        figures = asyncio.run(
            run_load(port, scenario, stations, seconds, target, postgres=postgres, answer_id=answer_id)
        )
    if storing:  # counted once the server has stopped: whatever it committed is in
        figures["stored"] = stored_readings(database_url) - before
    if "rss_connected" in figures:
        per = (int(figures["rss_connected"]) - int(figures["rss_before"])) / stations  # type: ignore[call-overload]
        figures["kib_per_connection"] = per / 1024
    measured = Measured(scenario, kind, figures, round_)
    check(measured)
    return measured


def check(m: Measured) -> None:
    """Print what was answered (and stored); exit 1 on a CALLERROR, an unexpected frame or an answer not stored."""
    f = m.figures
    labels = {
        "sent": "calls sent",
        "callresults": "CALLRESULTs",
        "callerrors": "CALLERRORs",
        "unexpected": "unexpected frames",
        "unanswered": "unanswered",
        "stored": "rows stored in meter_readings",
    }
    counts = {name: int(f[name]) for name in labels if isinstance(f.get(name), int)}  # type: ignore[call-overload]
    if not counts:
        return
    said = ", ".join(f"{value} {labels[name]}" for name, value in counts.items())
    print(f"  {m.scenario} {m.server}: {said}", flush=True)
    problems = []
    refused, odd = counts.get("callerrors", 0), counts.get("unexpected", 0)
    if refused or odd:
        problems.append(f"{refused} CALLERROR(s), {odd} unexpected frame(s)")
    if "stored" in counts:
        answered, stored, cut_off = counts["callresults"], counts["stored"], counts["unanswered"]
        # An answered MeterValues was committed before its answer; one cut off in flight may or may not have been.
        if not answered <= stored <= answered + cut_off:
            problems.append(
                f"{answered} MeterValues answered with a CALLRESULT but {stored} rows stored in meter_readings"
                f" ({cut_off} calls left unanswered)"
            )
    if problems:
        first = f"; first: {f['example']}" if f.get("example") else ""
        raise SystemExit(f"benchmark failed: {m.server} {m.scenario} (round {m.round}): {'; '.join(problems)}{first}")


def ratio_of(m: Measured, echo: dict[str, object]) -> float | None:
    """evscada's figure against the echo server's of the same round: rate, time or memory."""
    f = m.figures
    for key in ("rate", "all_answered_s", "kib_per_connection"):
        mine, theirs = f.get(key), echo.get(key)
        if isinstance(mine, int | float) and isinstance(theirs, int | float) and theirs:
            return float(mine) / float(theirs)
    return None


def report(results: list[Measured]) -> str:
    lines = [
        "| scenario | server | round trips/s | p50 ms | p99 ms | server CPU % | load CPU % | PostgreSQL CPU % "
        "| KiB/conn | ratio to echo |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_key = {(m.scenario, m.server, m.round): m.figures for m in results}
    rounds = max(m.round for m in results)
    ratios: dict[str, list[float]] = {}
    for m in results:
        f = m.figures
        ratio = ""
        if m.server == "evscada":
            value = ratio_of(m, by_key.get((m.scenario, "echo", m.round), {}))
            if value is not None:
                ratios.setdefault(m.scenario, []).append(value)
                unit = {"storm": "x time", "idle": "x memory"}.get(m.scenario, "x")
                ratio = f"{value:.2f}{unit}"

        def num(key: str, fmt: str = "{:.0f}", f: dict[str, object] = f) -> str:
            value = f.get(key)
            return fmt.format(value) if isinstance(value, int | float) else ""

        if m.scenario == "storm":
            rate = f"all {f.get('stations')} answered in {float(f['all_answered_s']):.1f} s, {f.get('failed')} failed"  # type: ignore[arg-type]
        else:
            rate = num("rate")
        name = m.scenario if rounds == 1 else f"{m.scenario} ({m.round})"
        lines.append(
            f"| {name} | {m.server} | {rate} | {num('p50_ms', '{:.2f}')} | {num('p99_ms', '{:.2f}')} | "
            f"{num('server_cpu_percent')} | {num('load_cpu_percent')} | {num('database_cpu_percent')} | "
            f"{num('kib_per_connection', '{:.1f}')} | {ratio} |"
        )
    if rounds > 1:
        lines.append("")
        for scenario, values in ratios.items():
            ordered = sorted(values)
            lines.append(
                f"{scenario}: median ratio {statistics.median(ordered):.2f} over {len(ordered)} rounds "
                f"(from {ordered[0]:.2f} to {ordered[-1]:.2f})"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["heartbeat", "metervalues", "idle", "storm", "all"], default="all")
    parser.add_argument("--stations", type=int, default=1000, help="concurrent stations for round-trip scenarios")
    parser.add_argument("--idle-stations", type=int, default=10_000)
    parser.add_argument("--storm-stations", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round-trip run")
    parser.add_argument(
        "--rounds", type=int, default=1, help="echo and evscada alternately this many times; prints the median ratio"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="store into a scratch database on this PostgreSQL server (made and dropped by the benchmark), "
        "e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres; default: a SQLite file",
    )
    args = parser.parse_args()
    raise_fd_limit()
    scenarios = ["heartbeat", "metervalues", "idle", "storm"] if args.scenario == "all" else [args.scenario]
    counts = {"idle": args.idle_stations, "storm": args.storm_stations}
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="evscada-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        needed = max([counts.get(s, args.stations) for s in scenarios])
        if args.postgres:
            database_url = stack.enter_context(scratch_postgres(args.postgres, needed))
        else:
            database_url = prepare_evscada_database(workdir, needed)
        for scenario in scenarios:
            stations = counts.get(scenario, args.stations)
            hold = 3.0 if scenario == "idle" else 30.0 if scenario == "storm" else args.seconds
            for round_ in range(1, args.rounds + 1):
                for kind in ("echo", "evscada"):
                    results.append(
                        measure(
                            scenario,
                            kind,
                            stations,
                            seconds=hold,
                            workdir=workdir,
                            database_url=database_url,
                            round_=round_,
                        )
                    )
    print()
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"server on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}"
    )
    print(report(results))


if __name__ == "__main__":
    main()
