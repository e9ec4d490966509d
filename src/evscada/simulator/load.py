"""`evscada simulate --load`: thousands of lean stations in one process, with live progress and a summary."""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import urlsplit

from evscada.simulator.lean import LeanStation, Script

CONNECT_ATTEMPTS = 5


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Stats:
    stations: int
    connected: int = 0
    booted: int = 0
    connect_errors: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    connect_failures: Counter[str] = field(default_factory=Counter)
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    started_at: float = field(default_factory=time.perf_counter)
    cpu_at_start: float = field(default_factory=cpu_seconds)

    def record(self, action: str, latency: float | None, error: str | None) -> None:
        if error is None:
            self.answered[action] += 1
        else:
            self.errors[f"{action}: {error}"] += 1
        if latency is not None:
            self.latencies[action].append(latency)

    @property
    def messages(self) -> int:
        return sum(self.answered.values()) + sum(self.errors.values())

    def summary(self) -> str:
        elapsed = max(time.perf_counter() - self.started_at, 1e-9)
        lines = [
            f"load summary: {self.stations} stations, {self.connected} connected, {self.booted} booted, "
            f"{self.connect_errors} never connected ({CONNECT_ATTEMPTS} attempts each), {elapsed:.1f} s",
            f"{'action':<20} {'answered':>9} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}",
        ]
        for action in sorted(self.latencies):
            p50, p95, p99 = percentiles(self.latencies[action], (50, 95, 99))
            lines.append(
                f"{action:<20} {self.answered[action]:>9} {self.answered[action] / elapsed:>8.1f} "
                f"{p50 * 1e3:>8.1f} {p95 * 1e3:>8.1f} {p99 * 1e3:>8.1f}"
            )
        total = sum(self.answered.values())
        cpu = cpu_seconds() - self.cpu_at_start
        lines.append(f"{'all':<20} {total:>9} {total / elapsed:>8.1f}")
        lines.append(
            f"load generator CPU: {cpu:.1f} s ({100 * cpu / elapsed:.0f} % of one core), "
            f"{total / max(cpu, 1e-9):,.0f} answered calls per CPU-second"
        )
        errors = self.errors + Counter({f"connect attempt: {k}": n for k, n in self.connect_failures.items()})
        lines.append("errors: " + (", ".join(f"{k} x{n}" for k, n in errors.most_common()) or "none"))
        return "\n".join(lines)


def percentiles(values: list[float], which: tuple[int, ...]) -> tuple[float, ...]:
    if not values:
        return tuple(0.0 for _ in which)
    ordered = sorted(values)
    return tuple(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] for p in which)


async def run_load(
    url: str,
    station_ids: list[tuple[str, str]],
    *,
    token: str,
    ramp_per_second: float,
    duration: float | None,
    pace: float = 1.0,
    meters_per_session: int = 5,
    sessions: int | None = None,
    out: TextIO = sys.stderr,
    progress_every: float = 1.0,
    stop: asyncio.Event | None = None,
) -> Stats:
    """Connect (station id, version) pairs at the ramp rate and run them until `duration` ends, every station has
    finished its `sessions`, or `stop` is set (Ctrl-C); the stats say what was achieved."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "wss" else 80)
    if parts.scheme == "wss":
        raise ValueError("the load mode speaks plain ws:// only (TLS would measure the load generator)")
    base = parts.path.rstrip("/")
    stats = Stats(len(station_ids))
    loop = asyncio.get_running_loop()
    stations: list[LeanStation] = []

    async def start(station_id: str, version: str) -> None:
        """Connect like a real station: a refused or timed-out attempt is retried with a growing pause."""
        delay = 1.0
        for attempt in range(CONNECT_ATTEMPTS):
            script = Script(station_id, version, token, meters_per_session)
            protocol = LeanStation(
                f"{host}:{port}", f"{base}/{station_id}", script, stats.record, pace=pace, sessions=sessions
            )
            try:
                await loop.create_connection(lambda: protocol, host, port)  # noqa: B023 (awaited here)
                await asyncio.wait_for(protocol.connected, 30)
            except (OSError, ConnectionError, TimeoutError) as exc:
                stats.connect_failures[str(exc) or type(exc).__name__] += 1
                protocol.close()
                if attempt + 1 < CONNECT_ATTEMPTS:
                    await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 30.0)
                continue
            stations.append(protocol)
            stats.connected += 1
            return
        stats.connect_errors += 1

    async def everyone() -> None:
        step = 1.0 / max(ramp_per_second, 1e-3)
        began = loop.time()
        async with asyncio.TaskGroup() as group:
            for n, (station_id, version) in enumerate(station_ids):
                group.create_task(start(station_id, version))
                await asyncio.sleep(max(0.0, began + (n + 1) * step - loop.time()))
        await asyncio.gather(*(s.finished for s in stations))

    progress = asyncio.create_task(_progress(stats, stations, out, progress_every))
    work = asyncio.create_task(everyone())
    stopping = asyncio.create_task(stop.wait()) if stop is not None else None
    try:
        await asyncio.wait(
            {work} | ({stopping} if stopping else set()), timeout=duration, return_when="FIRST_COMPLETED"
        )
    finally:
        for task in (progress, work, stopping):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for s in stations:
            s.close()
        stats.booted = sum(s.booted for s in stations)
    return stats


async def _progress(stats: Stats, stations: list[LeanStation], out: TextIO, every: float) -> None:
    last, last_at = 0, time.perf_counter()
    while True:
        await asyncio.sleep(every)
        now = time.perf_counter()
        messages = stats.messages
        booted = sum(s.booted for s in stations)
        errors = sum(stats.errors.values()) + stats.connect_errors
        print(
            f"\rconnected {stats.connected}/{stats.stations}  booted {booted}  "
            f"{(messages - last) / (now - last_at):,.0f} msg/s  errors {errors}",
            end="",
            file=out,
            flush=True,
        )
        last, last_at = messages, now
