"""Curtailment benchmark: an emergency limit on every site, until every charging session holds its lower profile.

    .venv/bin/python bench/curtailment.py [--stations 5000] [--sites 100] [--kw-per-station 11] [--fraction 0.5]

It starts the real `evscada serve` (its own process pinned to CPU 0, a fresh SQLite file in a temporary directory,
ephemeral ports, site load management on with its default settings) and registers, through the core's services as
an operator would, `--sites` sites with a grid connection of (stations per site x `--kw-per-station`) kW, the
stations (security profile 0, accepted) placed on them, one accepted card per station and an operator's API key.

The stations are lean OCPP 1.6 clients in this process, pinned to CPU 1 (`bench/lean_ws.py`'s protocol, with a
small dispatcher for calls both ways): each boots, reports StatusNotification Charging, authorizes its card and
starts a transaction, and answers every SetChargingProfile with Accepted, noting when it arrived and its limit. Once
the load manager has sent every session its share of its site (steady state: the last profile of every station is
its fair share, and none arrived for `--quiet` seconds), the benchmark POSTs a curtailment to every site at once
(`--fraction` of the connection) and measures the time from the first POST until every station has received and
answered a profile at most its fair share of the curtailed limit.

Baseline, in the same run and on the same connections: one Heartbeat round trip of every station at once (the best
of `--baseline-rounds`): what the server takes to answer each station once, with nothing to decide or store.

It checks what it timed: every answer to a station's call is a CALLRESULT (BootNotification, Authorize and
StartTransaction Accepted), the server sends nothing but SetChargingProfile, every profile is a TxDefault profile in
W on connector 1, no station gets a profile above its share after the curtailment, and the server recorded every
station's newest profile as accepted with that limit (the database, all stations; the REST API, a sample). Any
failure ends the run with exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from gateway import free_port, pinned, raise_fd_limit, wait_for_port
from lean_ws import RoundTripProtocol, frame

SERVER_CPU, LOAD_CPU = 0, 1
TARGET_S = 10.0  # issue 18: every profile sent and answered within 10 s
OPERATOR = "grid-operator"
PROFILE_ID = 900_001  # the load manager's TxDefault profile on EVSE 1 (site_manager.PROFILE_ID_BASE + 1)
FAILSAFE_PROFILE_ID = 899_999  # its station-wide fail-safe TxDefault on connector 0 (sent to stations it knows)


class Failed(Exception):
    """What the run counted is wrong: the benchmark ends with exit status 1 and says why."""


def station_id(n: int) -> str:
    return f"CURT-{n:05d}"


def card(n: int) -> str:
    return f"CARD-{n:05d}"


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class CallFailed(Exception):
    pass


class Station(RoundTripProtocol):
    """One OCPP 1.6 station: its own calls awaited by unique id; the server's SetChargingProfile answered at once.

    The frame reading and the handshake are RoundTripProtocol's; only what a message means differs."""

    def __init__(self, host: str, index: int, answer: str = "Accepted") -> None:
        super().__init__(host, f"/ocpp/{station_id(index)}", "ocpp1.6", self._no_call, self._no_answer)
        self.index = index
        self.answer = answer  # the status every SetChargingProfile is answered with
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._number = 0
        self.profiles: list[tuple[float, float]] = []  # (perf_counter when it arrived, its limit in W)
        self.bad_profiles: list[str] = []  # profiles not shaped as the load manager's
        self.failsafes = 0  # the load manager's fail-safe profiles (station-wide)
        self.refused = 0  # profiles answered other than Accepted (--answer): none of them counts
        self.lost = False

    @staticmethod
    def _no_call(n: int) -> tuple[bytes, bytes]:
        raise AssertionError("a Station sends its calls with call()")

    @staticmethod
    def _no_answer(latency: float) -> None:
        raise AssertionError("a Station's answers resolve call()")

    def call(self, action: str, payload: dict[str, Any]) -> asyncio.Future[Any]:
        self._number += 1
        unique_id = f"{self.index}-{self._number}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        assert self.transport is not None
        self.sent += 1
        self.transport.write(frame(orjson.dumps([2, unique_id, action, payload]).decode()))
        return future

    def _message(self, buffer: bytes, start: int, end: int) -> None:
        try:
            message = orjson.loads(buffer[start:end])
            kind, unique_id = message[0], message[1]
        except (orjson.JSONDecodeError, IndexError, TypeError):
            self._odd(buffer[start:end])
            return
        if kind == 2:
            self._server_call(unique_id, message[2], message[3])
            return
        future = self._pending.pop(unique_id, None)
        if future is None or kind not in (3, 4):
            self._odd(buffer[start:end])
        elif kind == 3:
            self.results += 1
            future.set_result(message[2])
        else:
            self.errors += 1
            self.example = self.example or buffer[start:end]
            future.set_exception(CallFailed(buffer[start:end][:200].decode(errors="replace")))

    def _odd(self, data: bytes) -> None:
        self.unexpected += 1
        self.example = self.example or data

    def _server_call(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        assert self.transport is not None
        if action != "SetChargingProfile":
            self._odd(f"{action} {payload}".encode())
            answer = [4, unique_id, "NotImplemented", f"the benchmark does not answer {action}", {}]
            self.transport.write(frame(orjson.dumps(answer).decode()))
            return
        arrived = time.perf_counter()
        self.transport.write(frame(orjson.dumps([3, unique_id, {"status": self.answer}]).decode()))
        if self.answer != "Accepted":
            self.refused += 1
            return
        profile = payload.get("csChargingProfiles", {})
        schedule = profile.get("chargingSchedule", {})
        periods = schedule.get("chargingSchedulePeriod") or [{}]
        shape = (
            payload.get("connectorId"),
            profile.get("chargingProfileId"),
            profile.get("chargingProfilePurpose"),
            schedule.get("chargingRateUnit"),
            len(periods),
        )
        if shape[0] == 0 and shape[1] == FAILSAFE_PROFILE_ID:
            self.failsafes += 1  # the load manager's station-wide fall-back: not what is timed
        elif shape == (1, PROFILE_ID, "TxDefaultProfile", "W", 1) and isinstance(periods[0].get("limit"), int | float):
            self.profiles.append((arrived, float(periods[0]["limit"])))
        else:
            self.bad_profiles.append(json.dumps(payload)[:300])

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.lost = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"{station_id(self.index)}: connection lost"))
        self._pending.clear()

    @property
    def limit(self) -> float | None:
        return self.profiles[-1][1] if self.profiles else None


# --- set-up: the database, the server, the stations ---------------------------------------------------------------


async def seed(database_url: str, stations: int, sites: int, kw_per_station: float) -> str:
    """Sites, stations, cards and an operator's API key through the core's services (the CLI's way in)."""
    from evscada.app import build_core
    from evscada.bus.local import LocalBus
    from evscada.core.access.users import Role
    from evscada.core.model import StationId, Token
    from evscada.settings import Settings
    from evscada.storage.db import Database
    from evscada.storage.store import SqlStore

    database = Database(database_url)
    try:
        await database.migrate()
        core = build_core(Settings(database_url=database_url), SqlStore(database), LocalBus())
        per_site = stations // sites
        for s in range(sites):
            site = await core.sites.create(name=f"Site {s + 1:03d}", grid_capacity_w=per_site * kw_per_station * 1e3)
            for n in range(s * per_site + 1, (s + 1) * per_site + 1):
                sid = StationId(station_id(n))
                await core.stations.register(station_id=sid)
                await core.sites.place_station(
                    station_id=sid, name=None, site_id=site.id, latitude=None, longitude=None
                )
                await core.authorization.save_token(token=Token(value=card(n), type="ISO14443"))
        await core.access.add_user(username=OPERATOR, role=Role.OPERATOR)
        return await core.access.create_api_key(username=OPERATOR, name="curtailment benchmark")
    finally:
        await database.close()


@contextlib.contextmanager
def server(workdir: Path, database_url: str, extra_env: dict[str, str]) -> Iterator[tuple[int, int, psutil.Process]]:
    ocpp_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "EVSCADA_DATABASE_URL": database_url,
        "EVSCADA_OCPP_HOST": "127.0.0.1",
        "EVSCADA_OCPP_PORT": str(ocpp_port),
        "EVSCADA_HTTP_HOST": "127.0.0.1",
        "EVSCADA_HTTP_PORT": str(http_port),
        "EVSCADA_LOG_LEVEL": "WARNING",
        "EVSCADA_MIGRATE_ON_START": "false",
        **extra_env,
    }
    log_file = open(workdir / "evscada.log", "ab")  # noqa: SIM115 (closed below, after the server)
    process = subprocess.Popen(
        [sys.executable, "-m", "evscada", "serve"],
        env=env,
        cwd=workdir,
        preexec_fn=pinned(SERVER_CPU),  # noqa: PLW1509
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    try:
        wait_for_port(ocpp_port, process)
        wait_for_port(http_port, process)
        yield ocpp_port, http_port, psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


def check_answer(what: str, answer: Any, status: str = "Accepted") -> None:
    found = answer.get("status") if what == "BootNotification" else answer.get("idTagInfo", {}).get("status")
    if found != status:
        raise Failed(f"{what} answered {answer}, not {status}")


async def bring_up(
    port: int, count: int, concurrency: int, profile_answer: str = "Accepted"
) -> tuple[list[Station], dict[str, float]]:
    """Connect, boot and report Charging (at most `concurrency` at a time); then every station starts its session."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    timings: dict[str, float] = {}

    async def boot(n: int) -> Station:
        async with gate:
            _, station = await loop.create_connection(
                lambda: Station(f"127.0.0.1:{port}", n, profile_answer), "127.0.0.1", port
            )
            await station.ready
            answer = await station.call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "C1"})
            check_answer("BootNotification", answer)
            await station.call(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": now_text()},
            )
            return station

    async def start(station: Station) -> None:
        async with gate:
            check_answer("Authorize", await station.call("Authorize", {"idTag": card(station.index)}))
            answer = await station.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": card(station.index), "meterStart": 0, "timestamp": now_text()},
            )
            check_answer("StartTransaction", answer)
            if not isinstance(answer.get("transactionId"), int):
                raise Failed(f"StartTransaction answered {answer}: no transactionId")

    began = time.perf_counter()
    stations = await asyncio.wait_for(asyncio.gather(*(boot(n) for n in range(1, count + 1))), 600)
    timings["booted"] = time.perf_counter() - began
    began = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(start(s) for s in stations)), 600)
    timings["started"] = time.perf_counter() - began
    return list(stations), timings


def broken(stations: list[Station]) -> str | None:
    """What is wrong with the conversation so far, if anything."""
    errors = sum(s.errors for s in stations)
    odd = sum(s.unexpected for s in stations)
    bad = [p for s in stations for p in s.bad_profiles]
    lost = sum(s.lost for s in stations)
    refused = sum(s.refused for s in stations)
    if refused:
        return f"{refused} profile(s) answered {stations[0].answer}, not Accepted"
    if errors or odd or bad or lost:
        example = next((s.example for s in stations if s.example), b"") or b""
        return (
            f"{errors} CALLERROR(s), {odd} unexpected frame(s), {len(bad)} profile(s) not the load manager's, "
            f"{lost} connection(s) lost; first: {example[:200].decode(errors='replace')} {bad[:1]}"
        )
    return None


async def until_steady(
    stations: list[Station], per_site: int, share_w: float, args: argparse.Namespace
) -> tuple[float, str]:
    """Wait until the load manager is done with the sessions' start: the time it took, and how it ended.

    Steady: every station holds a profile, each site's limits add up to at most its connection, and either every
    station holds its fair share and no profile arrived for `quiet` seconds, or none arrived for `settle` seconds
    (a share within the manager's material step of the fair one is not sent again)."""
    quiet, settle, timeout = args.quiet, args.settle, args.setup_timeout
    began = time.perf_counter()
    capacity = per_site * share_w
    while True:
        if problem := broken(stations):
            raise Failed(f"before the curtailment: {problem}")
        now = time.perf_counter()
        last = max((s.profiles[-1][0] for s in stations if s.profiles), default=began)
        limits = [s.limit for s in stations]
        held = [x for x in limits if x is not None]
        within = len(held) == len(stations) and all(
            sum(held[i : i + per_site]) <= capacity + 1 for i in range(0, len(held), per_site)
        )
        fair = within and all(share_w - 1 <= x <= share_w for x in held)
        if (fair and now - last >= quiet) or (within and now - last >= settle):
            return last - began, "every station at its fair share" if fair else f"no profile for {settle:.0f} s"
        if now - began > timeout:
            raise Failed(
                f"no steady state after {timeout:.0f} s: {len(held)} of {len(stations)} stations hold a profile, "
                f"{sum(share_w - 1 <= x <= share_w for x in held)} their fair share {share_w:.0f} W"
            )
        await asyncio.sleep(0.25)


async def heartbeat_round(stations: list[Station]) -> float:
    """Every station sends one Heartbeat at once; the time until the last answer."""
    began = time.perf_counter()
    answers = await asyncio.wait_for(asyncio.gather(*(s.call("Heartbeat", {}) for s in stations)), 120)
    elapsed = time.perf_counter() - began
    if not all("currentTime" in a for a in answers):
        raise Failed("a Heartbeat answer without currentTime")
    return elapsed


# --- the curtailment ----------------------------------------------------------------------------------------------


async def curtail(
    api: httpx.AsyncClient, site_ids: list[int], max_kw: float
) -> tuple[float, list[float], list[tuple[int, str]]]:
    """POST the curtailment to every site at once: when the first was sent, each answer's time, and failures."""
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    body = {"max_kw": max_kw, "until": until}
    answered: list[float] = []
    refused: list[tuple[int, str]] = []

    async def one(site_id: int) -> None:
        response = await api.post(f"/sites/{site_id}/curtailment", json=body)
        answered.append(time.perf_counter())
        if response.status_code != 200:
            refused.append((response.status_code, response.text[:200]))

    began = time.perf_counter()
    await asyncio.gather(*(one(site_id) for site_id in site_ids))
    return began, answered, refused


async def until_curtailed(
    stations: list[Station], before: list[int], share_w: float, began: float, timeout: float
) -> float | None:
    """Wait until every station received a profile at most `share_w` after `began`; the last arrival, or None."""
    while time.perf_counter() - began < timeout:
        if all(any(limit <= share_w for _, limit in s.profiles[b:]) for s, b in zip(stations, before, strict=True)):
            return max(
                next(t for t, limit in s.profiles[b:] if limit <= share_w)
                for s, b in zip(stations, before, strict=True)
            )
        await asyncio.sleep(0.01)
    return None


def stored_newest(database: Path) -> dict[str, tuple[str, float, str | None]]:
    """Per station, the load manager's newest profile as the server stored it: status, limit in W, answered_at."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        rows = connection.execute(
            "select station_id, status, profile, answered_at from charging_profiles where id in "
            "(select max(id) from charging_profiles where set_by = 'site-load-manager' and profile_id = ? "
            "and evse_id = 1 group by station_id)",
            (PROFILE_ID,),
        ).fetchall()
    found = {}
    for sid, status, profile, answered_at in rows:
        periods = json.loads(profile)["schedule"]["periods"]
        found[sid] = (status, float(periods[0]["limit"]), answered_at)
    return found


def stored_statuses(database: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        rows = connection.execute(
            "select status, count(*) from charging_profiles where set_by = 'site-load-manager' group by status"
        ).fetchall()
    return {status: count for status, count in rows}


async def verify_stored(
    database: Path, api: httpx.AsyncClient, stations: list[Station], share_w: float, sample: int
) -> dict[str, Any]:
    """The server recorded every station's newest profile as accepted, at most its share.

    All stations in the database; a sample through the REST API."""
    deadline = time.monotonic() + 30
    while True:  # the server keeps an answer after the station sent it: give it a moment
        newest = await asyncio.to_thread(stored_newest, database)
        wrong = {
            sid: row
            for s in stations
            if (row := newest.get(sid := station_id(s.index))) is None or row[0] != "accepted" or row[1] > share_w
        }
        if not wrong or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    if wrong:
        first = next(iter(wrong.items()))
        raise Failed(
            f"{len(wrong)} station(s) without an accepted stored profile at most {share_w:.0f} W; e.g. {first}"
        )
    statuses = await asyncio.to_thread(stored_statuses, database)
    if set(statuses) - {"accepted", "replaced"}:
        raise Failed(f"the load manager's profiles as stored: {statuses} (none may be rejected, failed or pending)")
    for s in random.Random(18).sample(stations, min(sample, len(stations))):
        response = await api.get(f"/stations/{station_id(s.index)}/charging-profiles", params={"in_force": "true"})
        response.raise_for_status()
        mine = [p for p in response.json() if p["set_by"] == "site-load-manager" and p["profile"]["id"] == PROFILE_ID]
        if (
            len(mine) != 1
            or mine[0]["status"] != "accepted"
            or mine[0]["profile"]["schedule"]["periods"][0]["limit"] > share_w
        ):
            raise Failed(f"{station_id(s.index)}: the API shows the load manager's profiles in force as {mine}")
    answered = [row[2] for row in newest.values() if row[2]]
    return {"stored": statuses, "last_answered_at": max(answered) if answered else None}


# --- the run --------------------------------------------------------------------------------------------------------


PROFILE_RATE = 200  # py-spy samples per second


def start_profiler(py_spy: str | None, pid: int, workdir: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server from just before the first POST (raw stacks, all threads, idle left out)."""
    if py_spy is None:
        return None
    command = [py_spy, "record", "--pid", str(pid), "--rate", str(PROFILE_RATE), "--format", "raw", "--threads"]
    command += ["--output", str(workdir / "curtailment.stacks"), "--nonblocking"]
    profiler = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pinned(LOAD_CPU),  # noqa: PLW1509 (beside the stations, off the server's core)
    )
    time.sleep(1.0)  # py-spy attaches before the first sample
    return profiler


def kind_of(frames: list[str]) -> str:
    """What a sample of the server was doing, by the libraries on its stack (SQLAlchemy's greenlets hide the
    evscada caller, so a sample is told by what it ran, not by who asked)."""
    if "_connection_worker_thread" in frames[0]:
        return "database thread: SQLite executing statements, commits"
    text = ";".join(frames)
    if "sqlalchemy/" in text:
        return "event loop: SQLAlchemy (building statements, cache keys, compiling, binding, reading rows)"
    if "aiosqlite/" in text:
        return "event loop: aiosqlite hand-offs to the database thread"
    if "selectors.py" in frames[-1]:
        return "event loop: waiting in epoll"
    if "json/" in text:
        return "event loop: json (command log and audit details)"
    if "evscada/" in frames[-1]:
        return "event loop: evscada's own code"
    return "event loop: asyncio, sockets, the rest"


def stop_profiler(profiler: subprocess.Popen[bytes], workdir: Path) -> dict[str, Any]:
    """Samples per kind of work (see kind_of), and the leaf functions with most samples."""
    profiler.send_signal(signal.SIGINT)
    profiler.wait(30)
    kinds: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in (workdir / "curtailment.stacks").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        kinds[kind_of(frames)] += int(count)
        own[frames[-1]] += int(count)
    return {"rate": PROFILE_RATE, "kinds": kinds.most_common(), "own": own.most_common(10)}


async def measure(
    args: argparse.Namespace,
    api: httpx.AsyncClient,
    *,
    stations: list[Station],
    target: psutil.Process,
    site_ids: list[int],
    database: Path,
    workdir: Path,
) -> dict[str, Any]:
    """Curtail every site at once; the time until every station answered its lower profile, checked."""
    per_site = args.stations // args.sites
    curtailed_share_w = args.kw_per_station * 1e3 * args.fraction
    figures: dict[str, Any] = {}
    before = [len(s.profiles) for s in stations]
    cpu = target.cpu_times()
    wall = time.time()
    profiler = start_profiler(args.py_spy, target.pid, workdir)
    began, answered, refused = await curtail(api, site_ids, args.fraction * per_site * args.kw_per_station)
    if refused:
        raise Failed(f"{len(refused)} curtailment POST(s) refused; first: {refused[0]}")
    last = await until_curtailed(stations, before, curtailed_share_w, began, args.timeout)
    cpu_after = target.cpu_times()
    if profiler is not None:
        figures["profile"] = stop_profiler(profiler, workdir)
    if last is None:
        missing = [
            station_id(s.index)
            for s, b in zip(stations, before, strict=True)
            if not any(limit <= curtailed_share_w for _, limit in s.profiles[b:])
        ]
        raise Failed(
            f"{len(missing)} of {len(stations)} stations got no profile at most {curtailed_share_w:.0f} W "
            f"within {args.timeout:.0f} s of the first POST; e.g. {missing[:5]}"
        )
    arrivals = sorted(
        next(t for t, limit in s.profiles[b:] if limit <= curtailed_share_w) - began
        for s, b in zip(stations, before, strict=True)
    )
    elapsed = last - began
    figures.update(
        all_answered_s=elapsed,
        first_s=arrivals[0],
        p50_s=arrivals[len(arrivals) // 2],
        p99_s=arrivals[int(len(arrivals) * 0.99)],
        posts_answered_s=max(answered) - began,
        server_cpu_percent=100
        * (cpu_after.user + cpu_after.system - cpu.user - cpu.system)
        / max(time.perf_counter() - began, 1e-9),
    )
    print(f"  curtailed: every station answered its lower profile {elapsed:.2f} s after the first POST")
    await asyncio.sleep(args.quiet)  # nothing may raise a station above its curtailed share afterwards
    above = [
        (station_id(s.index), limit)
        for s, b in zip(stations, before, strict=True)
        for t, limit in s.profiles[b:]
        if t > last and limit > curtailed_share_w
    ]
    if above:
        raise Failed(f"{len(above)} profile(s) above the curtailed share after it; e.g. {above[:3]}")
    if problem := broken(stations):
        raise Failed(f"during the curtailment: {problem}")
    figures["curtail_profiles"] = sum(len(s.profiles) - b for s, b in zip(stations, before, strict=True))
    figures.update(await verify_stored(database, api, stations, curtailed_share_w, args.sample))
    if figures["last_answered_at"]:
        stored_at = dt.datetime.fromisoformat(figures["last_answered_at"]).replace(tzinfo=dt.UTC).timestamp()
        figures["stored_s"] = stored_at - wall
    return figures


async def run(args: argparse.Namespace, workdir: Path, database: Path, key: str, site_ids: list[int]) -> dict[str, Any]:
    per_site = args.stations // args.sites
    share_w = args.kw_per_station * 1e3
    figures: dict[str, Any] = {}
    extra_env = {}
    if args.interval is not None:
        extra_env["EVSCADA_LOAD_MANAGEMENT_INTERVAL_SECONDS"] = str(args.interval)
    with server(workdir, f"sqlite+aiosqlite:///{database}", extra_env) as (ocpp_port, http_port, target):
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > LOAD_CPU:
            os.sched_setaffinity(0, {LOAD_CPU})
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{http_port}/api/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
            limits=httpx.Limits(max_connections=args.sites),
        ) as api:
            print(f"{args.stations} stations connecting, booting and starting a session ...", flush=True)
            stations, timings = await bring_up(ocpp_port, args.stations, args.connect_concurrency, args.answer)
            print(
                f"  booted in {timings['booted']:.1f} s, sessions started in {timings['started']:.1f} s; "
                f"waiting for every session's share ({share_w / 1e3:.1f} kW) ...",
                flush=True,
            )
            steady, how = await until_steady(stations, per_site, share_w, args)
            figures["ramp_profiles"] = sum(len(s.profiles) for s in stations)
            held = sorted(s.limit or 0.0 for s in stations)
            print(
                f"  steady ({how}): the last profile {steady:.1f} s after the sessions started, "
                f"{figures['ramp_profiles']} profiles on the way; limits held {held[0]:.0f} to {held[-1]:.0f} W "
                f"(median {held[len(held) // 2]:.0f} W)",
                flush=True,
            )
            rounds = [await heartbeat_round(stations) for _ in range(args.baseline_rounds)]
            figures["heartbeat_rounds_s"] = rounds
            shown = ", ".join(f"{r:.2f}" for r in rounds)
            print(f"  baseline: a Heartbeat from every station, all answered in {shown} s", flush=True)
            await asyncio.sleep(1.0)
            if problem := broken(stations):
                raise Failed(f"before the curtailment: {problem}")

            figures.update(
                await measure(
                    args, api, stations=stations, target=target, site_ids=site_ids, database=database, workdir=workdir
                )
            )
            for s in stations:
                s.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=5000)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--kw-per-station", type=float, default=11.0, help="a site's connection per station, kW")
    parser.add_argument("--fraction", type=float, default=0.5, help="the curtailment, a fraction of the connection")
    parser.add_argument("--interval", type=float, help="load_management_interval_seconds (default: the server's)")
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds without a profile that make steady state")
    parser.add_argument(
        "--settle", type=float, default=50.0, help="or this many without any (above the send and recompute intervals)"
    )
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument("--setup-timeout", type=float, default=900.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on the curtailment after this long")
    parser.add_argument("--sample", type=int, default=20, help="stations whose profiles are read through the API")
    parser.add_argument("--py-spy", metavar="PATH", help="profile the server with this py-spy during the curtailment")
    parser.add_argument(
        "--answer", default="Accepted", help="the stations' answer to SetChargingProfile; any other fails the run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    args = parser.parse_args()
    if args.stations % args.sites or not 0 < args.fraction < 1:
        parser.error("--stations must be a multiple of --sites, and --fraction between 0 and 1")
    raise_fd_limit()
    tmp = tempfile.mkdtemp(prefix="evscada-curtail-")
    workdir = Path(tmp)
    database = workdir / "bench.db"
    try:
        began = time.perf_counter()
        print(f"seeding {args.sites} sites, {args.stations} stations and cards through the core ...", flush=True)
        key = asyncio.run(seed(f"sqlite+aiosqlite:///{database}", args.stations, args.sites, args.kw_per_station))
        with contextlib.closing(sqlite3.connect(database)) as connection:
            site_ids = [row[0] for row in connection.execute("select id from sites order by id")]
        print(f"  seeded in {time.perf_counter() - began:.0f} s", flush=True)
        try:
            figures = asyncio.run(run(args, workdir, database, key, site_ids))
        except (Failed, CallFailed) as exc:
            log = (workdir / "evscada.log").read_text(errors="replace")[-2000:]
            sys.exit(f"benchmark failed: {exc}\nserver log (tail):\n{log}")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    report(args, figures)


def report(args: argparse.Namespace, f: dict[str, Any]) -> None:
    per_site = args.stations // args.sites
    baseline = min(f["heartbeat_rounds_s"])
    elapsed = f["all_answered_s"]
    print()
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; server on CPU {SERVER_CPU}, "
        f"stations on CPU {LOAD_CPU}"
    )
    print(
        f"{args.stations} stations on {args.sites} sites ({per_site} x {args.kw_per_station:g} kW each), "
        f"curtailed to {args.fraction:.0%}: {per_site * args.kw_per_station * args.fraction:g} kW per site, "
        f"{args.kw_per_station * args.fraction * 1e3:.0f} W per session"
    )
    print("| what | seconds |")
    print("| --- | ---: |")
    print(
        f"| baseline: one Heartbeat from every station, all answered (best of {len(f['heartbeat_rounds_s'])}) "
        f"| {baseline:.2f} |"
    )
    print(f"| curtailment: all {args.sites} POSTs answered | {f['posts_answered_s']:.2f} |")
    print(f"| curtailment: first station's lower profile | {f['first_s']:.2f} |")
    print(f"| curtailment: half the stations' | {f['p50_s']:.2f} |")
    print(f"| curtailment: 99 % of the stations' | {f['p99_s']:.2f} |")
    print(f"| **curtailment: every station's lower profile answered** | **{elapsed:.2f}** |")
    if "stored_s" in f:
        print(f"| curtailment: the server took the last answer (its answered_at) | {f['stored_s']:.2f} |")
    print()
    print(
        f"ratio to the baseline: {elapsed / baseline:.1f}x; server CPU during the curtailment "
        f"{f['server_cpu_percent']:.0f} %; profiles sent: {f['curtail_profiles']} for the curtailment, "
        f"{f['ramp_profiles']} while the sessions started; stored profiles by status: {f['stored']}"
    )
    if "profile" in f:
        profile = f["profile"]
        rate = profile["rate"]
        total = sum(n for _, n in profile["kinds"]) or 1
        print(f"py-spy, {rate} samples/s, the server from 1 s before the first POST until the last profile:")
        for name, n in profile["kinds"]:
            print(f"  {n / rate:7.2f} s {100 * n / total:5.1f} %  {name}")
        print("  leaf functions (s):")
        for name, n in profile["own"]:
            print(f"    {n / rate:7.2f}  {name}")
    verdict = "met" if elapsed <= TARGET_S else "NOT met"
    print(f"target: every profile answered within {TARGET_S:.0f} s of the curtailment: {verdict} ({elapsed:.2f} s)")
    print(f"heartbeat rounds: {statistics.median(f['heartbeat_rounds_s']):.2f} s median")


if __name__ == "__main__":
    main()
