"""`evscada simulate --load`: thousands of simulated stations in one process, with live progress and a summary.

They are the same SimulatedStations as the full ones, in the same Fleet (so fault plans and the control surface
work on them too); only their links are lean (`links/lean_links.py`).
"""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from evscada.simulator.faults import PlannedFault
from evscada.simulator.fleet import Fleet
from evscada.simulator.links.lean_links import LeanDial
from evscada.simulator.model import StationSpec, Timing
from evscada.simulator.station import cancel_quietly


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tune_garbage_collector() -> None:
    """For the load generator's process: collect cycles rarely.

    Thousands of stations keep hundreds of thousands of objects alive, and at the default pace (every 700
    allocations) the cycle collector rescanned them for a third of the process's CPU; what a call allocates is
    freed by reference counting. The same tuning as `evscada serve` (app.tune_garbage_collector)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def load_timing(*, pace: float, meters_per_session: int = 5, sessions: int | None = None) -> Timing:
    """A station's clockwork for load: `pace` seconds between samples and (on average) between sessions."""
    return Timing(
        meter_interval=pace,
        tick=max(pace, 1.0),  # one wake-up per sample: what load mode measures is the messages
        idle_seconds=(0.5 * pace, 1.5 * pace),
        session_seconds=(1e9, 1e9),  # a session ends after its samples (or when the car is full)
        meters_per_session=meters_per_session,
        sessions=sessions,
    )


@dataclass
class Stats:
    """What the load achieved; the lean dial reports every call, connection and failed attempt here."""

    stations: int
    booted: int = 0
    sessions_started: int = 0  # by the stations' drivers; one refused at Authorize or its start does not complete
    sessions_completed: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    connect_failures: Counter[str] = field(default_factory=Counter)
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ever_connected: set[str] = field(default_factory=set)
    online: int = 0  # connections open now
    connections: int = 0  # opened, reconnections included
    started_at: float = field(default_factory=time.perf_counter)
    cpu_at_start: float = field(default_factory=cpu_seconds)

    def record(self, action: str, latency: float | None, error: str | None) -> None:
        if error is None:
            self.answered[action] += 1
        else:
            self.errors[f"{action}: {error}"] += 1
        if latency is not None:
            self.latencies[action].append(latency)

    def connected(self, station_id: str) -> None:
        self.ever_connected.add(station_id)
        self.online += 1
        self.connections += 1

    def disconnected(self, station_id: str) -> None:
        self.online -= 1

    def connect_failed(self, reason: str) -> None:
        self.connect_failures[reason] += 1

    @property
    def messages(self) -> int:
        return sum(self.answered.values()) + sum(self.errors.values())

    def summary(self) -> str:
        elapsed = max(time.perf_counter() - self.started_at, 1e-9)
        connected = len(self.ever_connected)
        lines = [
            f"load summary: {self.stations} stations, {connected} connected ({self.connections} connections), "
            f"{self.booted} booted, {self.stations - connected} never connected, {elapsed:.1f} s; "
            f"sessions: {self.sessions_started} started, {self.sessions_completed} completed",
            f"{'action':<28} {'answered':>9} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}",
        ]
        for action in sorted(self.latencies):
            p50, p95, p99 = percentiles(self.latencies[action], (50, 95, 99))
            lines.append(
                f"{action:<28} {self.answered[action]:>9} {self.answered[action] / elapsed:>8.1f} "
                f"{p50 * 1e3:>8.1f} {p95 * 1e3:>8.1f} {p99 * 1e3:>8.1f}"
            )
        total = sum(self.answered.values())
        cpu = cpu_seconds() - self.cpu_at_start
        lines.append(f"{'all':<28} {total:>9} {total / elapsed:>8.1f}")
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
    specs: Sequence[StationSpec],
    timing: Timing,
    *,
    ramp_per_second: float,
    duration: float | None,
    plan: Sequence[PlannedFault] = (),
    control_port: int | None = None,
    out: TextIO = sys.stderr,
    progress_every: float = 1.0,
    stop: asyncio.Event | None = None,
) -> Stats:
    """Connect the stations at the ramp rate and run them until `duration` ends, every station has had its
    `timing.sessions`, or `stop` is set (Ctrl-C); the stats say what was achieved."""
    if not url.startswith("ws://"):
        raise ValueError("the load mode speaks plain ws:// only (TLS would measure the load generator)")
    stats = Stats(len(specs))
    fleet = Fleet(url, specs, timing, dial=LeanDial(stats))
    control = None
    if control_port is not None:
        from evscada.simulator.control import start_control

        control = await start_control(fleet, control_port)
        print(control.banner(), file=out, flush=True)
    progress = asyncio.create_task(_progress(stats, fleet, out, progress_every), name="load-progress")
    work = asyncio.create_task(fleet.run(ramp_per_second=ramp_per_second, plan=plan), name="load-fleet")
    stopping = asyncio.create_task(stop.wait() if stop is not None else asyncio.Event().wait(), name="load-stop")
    try:
        await asyncio.wait({work, stopping}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_quietly(stopping, progress, work)
        if control is not None:
            await control.stop()
        stations = fleet.stations.values()
        stats.booted = sum(s.booted for s in stations)
        stats.sessions_started = sum(s.sessions_started for s in stations)
        stats.sessions_completed = sum(s.sessions_completed for s in stations)
    if work.done() and not work.cancelled() and (failure := work.exception()) is not None:
        raise failure  # a bug, not a load figure
    return stats


async def _progress(stats: Stats, fleet: Fleet, out: TextIO, every: float) -> None:
    last, last_at = 0, time.perf_counter()
    while True:
        await asyncio.sleep(every)
        now = time.perf_counter()
        messages = stats.messages
        stations = fleet.stations.values()
        errors = sum(stats.errors.values()) + sum(stats.connect_failures.values())
        print(
            f"\rconnected {len(stats.ever_connected)}/{stats.stations}  online {stats.online}"
            f"  booted {sum(s.booted for s in stations)}  {(messages - last) / (now - last_at):,.0f} msg/s"
            f"  errors {errors}",
            end="",
            file=out,
            flush=True,
        )
        last, last_at = messages, now
