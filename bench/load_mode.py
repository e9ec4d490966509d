"""`evscada simulate --load` against a real `evscada serve`: both processes' CPU and the load's own summary.

    python bench/load_mode.py [--server evscada|canned] [--stations 1000] [--ramp-up 200] [--seconds 40]
                              [--pace 0] [--sessions N] [--meters 5] [--v201-share 0.5] [--profile FILE]

The server runs on a fresh SQLite file pinned to CPU 0, the load generator pinned to CPU 1. The stations
(SIM-0001 ...) are inserted straight into the database as a set-up shortcut (as bench/gateway.py does); the
token SIM-TOKEN is added with `evscada token add`. Every station's driver presents that one card, so the server
allows concurrent transactions (else every start but the first is ConcurrentTx and the stations, like real ones,
stop those sessions). `--server canned` runs bench/canned_csms.py instead, which answers every call at once and
stores nothing: then the load generator is the slower side and its CPU per answered call is its own cost.
Prints the load's summary, then both processes' CPU, then the checks: the run fails (exit status 1) if the load
failed or got any CALLERROR, or if evscada stored fewer MeterValues messages (its repeat receipts) than it answered.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from gateway import HERE, LOAD_CPU, SERVER_CPU, free_port, pinned, server, wait_for_port


def prepare(directory: Path, stations: int) -> str:
    """A fresh SQLite file, migrated, with SIM-0001 ... registered and the token SIM-TOKEN known."""
    path = directory / "load.db"
    url = f"sqlite+aiosqlite:///{path}"
    env = {**os.environ, "EVSCADA_DATABASE_URL": url, "EVSCADA_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "evscada", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [sys.executable, "-m", "evscada", "token", "add", "SIM-TOKEN"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "insert into stations (id, registration, security_profile, online, created_at) values (?, ?, 0, 0, ?)",
            [(f"SIM-{n:04d}", "Accepted", now) for n in range(1, stations + 1)],
        )
    return url


@contextlib.contextmanager
def canned_server() -> Iterator[tuple[int, psutil.Process]]:
    port = free_port()
    command = [sys.executable, str(HERE / "canned_csms.py"), "--port", str(port)]
    process = subprocess.Popen(command, preexec_fn=pinned(SERVER_CPU), stdout=subprocess.DEVNULL)  # noqa: PLW1509
    try:
        wait_for_port(port, process)
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(30)


def stored_meter_messages(url: str) -> int:
    """MeterValues messages evscada stored: one repeat receipt each (a resend of the same frame adds none)."""
    with sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///")) as connection:
        return int(connection.execute("select count(*) from message_receipts").fetchone()[0])


def check(summary: str, exit_status: int, stored: int | None) -> None:
    """Hold the load's own summary against what evscada stored; exit 1 with the reason when they disagree."""
    problems = [] if exit_status == 0 else [f"the load exited with status {exit_status}"]
    errors = re.search(r"^errors: (.*)$", summary, re.MULTILINE)
    refusals = [part for part in (errors.group(1) if errors else "").split(", ") if "CALLERROR" in part]
    if refusals:
        problems.append("CALLERRORs: " + ", ".join(refusals))
    answered_row = re.search(r"^MeterValues +(\d+) ", summary, re.MULTILINE)
    answered = int(answered_row.group(1)) if answered_row else 0
    if stored is not None:
        print(f"checks: {answered} MeterValues answered with a CALLRESULT, {stored} MeterValues messages stored")
        # A message cut off in flight when the load stops may be stored unanswered; one answered is stored first.
        # The load's stations resend a message only after a lost connection, and a resend is answered, not stored.
        connections = re.search(r"(\d+) connected \((\d+) connections\)", summary)
        resent = connections is not None and connections.group(1) != connections.group(2)
        if stored < answered and not resent:
            problems.append(f"{answered - stored} MeterValues answered but not stored")
    if problems:
        raise SystemExit("load_mode failed: " + "; ".join(problems))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["evscada", "canned"], default="evscada")
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--ramp-up", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--meters", type=int, help="meter values per session (when the load mode has the option)")
    parser.add_argument("--v201-share", type=float, default=0.5)
    parser.add_argument("--profile", type=Path, help="run the load under cProfile, writing its stats here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.server == "evscada":
            url = prepare(workdir, args.stations)
            os.environ["EVSCADA_ALLOW_CONCURRENT_TRANSACTIONS"] = "true"  # read by the server only
        running = server("evscada", workdir, url) if args.server == "evscada" else canned_server()
        with running as (port, target):
            profile = ["-m", "cProfile", "-o", str(args.profile.resolve())] if args.profile else []
            command = [
                sys.executable, *profile, "-m", "evscada", "simulate", "--load",
                "--url", f"ws://127.0.0.1:{port}/ocpp",
                "--stations", str(args.stations),
                "--ramp-up", f"{args.ramp_up:g}",
                "--pace", f"{args.pace:g}",
                "--duration", f"{args.seconds:g}",
                "--v201-share", f"{args.v201_share:g}",
            ]  # fmt: skip
            if args.sessions is not None:
                command += ["--sessions", str(args.sessions)]
            if args.meters is not None:
                command += ["--meters", str(args.meters)]
            print("load:", " ".join(command[1:]), flush=True)
            before = target.cpu_times()
            started = time.monotonic()
            load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=pinned(LOAD_CPU))  # noqa: PLW1509
            assert load.stdout is not None
            summary = ""
            for line in load.stdout:  # shown as it comes, kept for the checks
                print(line, end="", flush=True)
                summary += line
            _, status, usage = os.wait4(load.pid, 0)
            elapsed = time.monotonic() - started
            after = target.cpu_times()
        stored = stored_meter_messages(url) if args.server == "evscada" else None  # the server has stopped
    server_cpu = after.user + after.system - before.user - before.system
    load_cpu = usage.ru_utime + usage.ru_stime
    print(
        f"\nwall {elapsed:.1f} s (exit status {os.waitstatus_to_exitcode(status)}); "
        f"server CPU {server_cpu:.1f} s ({100 * server_cpu / elapsed:.0f} % of a core), "
        f"load process CPU {load_cpu:.1f} s ({100 * load_cpu / elapsed:.0f} %, start-up included)"
    )
    check(summary, os.waitstatus_to_exitcode(status), stored)


if __name__ == "__main__":
    main()
