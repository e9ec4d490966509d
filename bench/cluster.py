"""Cluster benchmark (issue 23, ADR 12): gateway processes on Redis and PostgreSQL against one process alone.

    python bench/cluster.py [--scenario metervalues|heartbeat|both] [--stations 1000] [--seconds 10] [--rounds 1]
                            [--haproxy] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                            [--redis redis://127.0.0.1:6379/0]

Every round runs the same load (the same stations, one call in flight each) against, in turn:

- alone:      one `evscada serve --role all` process, no Redis (the baseline), on CPU 0; load on CPU 1;
- gateway:    one `evscada serve --role gateway` process with the Redis bus on, on CPU 0; load on CPU 1;
- 2 gateways: two gateway processes, one on CPU 0 and one on CPU 1, half the stations connected straight to each;
              the load generator is not pinned (it shares both cores with them);
- 2 via HAProxy (--haproxy): the same two gateways behind deploy/haproxy.cfg, every station through HAProxy.

A setup's processes start once per round and take the Heartbeat run first, then MeterValues. All of them store
into one scratch database on the PostgreSQL server (made and dropped by the benchmark), whose processes are not
pinned either; each setup's run has its own Redis prefix. The ratios are against the alone run of the same round.
Two are printed: of the rate, and of round trips per CPU-second of the gateway processes (what a message costs),
which is the one to read on a shared machine, where a process waiting for its core loses rate but not efficiency.

Every run is checked, not only timed: every answer must be a CALLRESULT to the call in flight, no station may lose
its connection, and every MeterValues answered must be a row in meter_readings (counted once the servers have
stopped). Any CALLERROR, unexpected frame, lost connection or answered message not stored ends the benchmark with
exit status 1. Redis's INFO counters are read at the start and end of the measured window (the alone run shows what
other users of the same Redis did meanwhile), and PostgreSQL's commit counter of the scratch database over each whole
run, so that the per-message costs behind docs/performance.md's estimate are measured, not guessed; the events the
gateways' buses sent and dropped (from their /api/v1/health) and the Redis messages that carried them are printed
against the MeterValues stored (a bus drops its oldest events when it falls behind: ADR 12).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from gateway import (  # bench/gateway.py: the same scratch database, pinning and counting
    free_port,
    pinned,
    raise_fd_limit,
    scratch_postgres,
    stored_readings,
    wait_for_port,
)

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
THIS_FILE = Path(__file__).resolve()
HAPROXY_CONFIG = REPOSITORY / "deploy" / "haproxy.cfg"
HAPROXY = "/usr/sbin/haproxy"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
REDIS_COUNTERS = ("total_commands_processed", "total_net_input_bytes", "total_net_output_bytes")


@dataclass(frozen=True)
class Setup:
    name: str
    cluster: bool  # role gateway with the Redis bus; else role all, no Redis
    gateway_cpus: tuple[int, ...]  # one process per entry, pinned to that CPU
    load_cpu: int | None  # None: not pinned
    haproxy: bool = False


ALONE = Setup("alone", cluster=False, gateway_cpus=(0,), load_cpu=1)
ONE_GATEWAY = Setup("gateway", cluster=True, gateway_cpus=(0,), load_cpu=1)
TWO_GATEWAYS = Setup("2 gateways", cluster=True, gateway_cpus=(0, 1), load_cpu=None)
TWO_BEHIND_HAPROXY = Setup("2 via HAProxy", cluster=True, gateway_cpus=(0, 1), load_cpu=None, haproxy=True)


@dataclass
class Run:
    scenario: str
    setup: Setup
    round: int
    figures: dict[str, float | int | str | None] = field(default_factory=dict)


# -- the load generator (a child process) -------------------------------------------------------------------------


async def load_worker(options: dict[str, object]) -> dict[str, object]:
    """bench/load.py's round trips, but station n connects to ports[n % len(ports)], and lost connections count."""
    from lean_ws import RoundTripProtocol, frame
    from load import RUN, call_text, cpu_seconds, mark

    ports: list[int] = list(options["ports"])  # type: ignore[call-overload]
    scenario, stations = str(options["scenario"]), int(options["stations"])  # type: ignore[call-overload]
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    measuring = False
    lost: list[int] = []

    def record(latency: float) -> None:
        if measuring:
            latencies.append(latency)

    class Station(RoundTripProtocol):
        """Counts a connection the server closed (a close frame, or the socket gone) before the load ended."""

        finishing = False

        async def drain(self) -> None:
            self.finishing = True
            await super().drain()

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.finishing:
                lost.append(1)
            super().connection_lost(exc)

    def station(index: int, port: int) -> RoundTripProtocol:
        def make_call(n: int) -> tuple[bytes, bytes]:
            unique_id = f"{RUN}-{index}-{n}"
            return frame(call_text(scenario, unique_id, n)), unique_id.encode()

        return Station(f"127.0.0.1:{port}", f"/ocpp/BENCH-{index:05d}", "ocpp1.6", make_call, record)

    gate = asyncio.Semaphore(200)

    async def connect(index: int) -> RoundTripProtocol:
        port = ports[index % len(ports)]
        async with gate:
            _, protocol = await loop.create_connection(lambda: station(index, port), "127.0.0.1", port)
            await protocol.ready
            return protocol

    protocols = await asyncio.gather(*(connect(n) for n in range(1, stations + 1)))
    mark(f"connected {len(protocols)}")
    await asyncio.sleep(1.5)  # let every gateway record its stations' ownership before the load starts
    for protocol in protocols:
        protocol.send_next()
    await asyncio.sleep(float(options["warmup"]))  # type: ignore[arg-type]
    cpu_before, wall_before = cpu_seconds(), loop.time()
    mark("measure-start")
    measuring = True
    await asyncio.sleep(float(options["seconds"]))  # type: ignore[arg-type]
    measuring = False
    mark("measure-end")
    wall = loop.time() - wall_before
    cpu = cpu_seconds() - cpu_before
    lost_while_running = len(lost)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(p.drain() for p in protocols)), 15)
    for protocol in protocols:
        protocol.close()
    latencies.sort()
    count = len(latencies)
    example = next((p.example for p in protocols if p.example), None)
    return {
        "round_trips": count,
        "rate": count / wall,
        "p50_ms": latencies[count // 2] * 1000 if count else None,
        "p99_ms": latencies[int(count * 0.99)] * 1000 if count else None,
        "load_cpu_percent": 100 * cpu / wall,
        "sent": sum(p.sent for p in protocols),
        "callresults": sum(p.results for p in protocols),
        "callerrors": sum(p.errors for p in protocols),
        "unexpected": sum(p.unexpected for p in protocols),
        "unanswered": sum(p.in_flight for p in protocols),
        "lost_connections": lost_while_running,
        "example": example[:200].decode(errors="replace") if example else None,
    }


# -- the servers --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def evscada_processes(
    setup: Setup, *, database_url: str, redis_url: str, prefix: str, workdir: Path
) -> Iterator[list[tuple[int, psutil.Process]]]:
    """The setup's `evscada serve` processes, each pinned to its CPU, started together (start-up takes seconds on
    a busy machine); yields each one's OCPP port and process."""
    role = "gateway" if setup.cluster else "all"
    started: list[tuple[str, int, subprocess.Popen[bytes]]] = []
    logs = []
    try:
        for n, cpu in enumerate(setup.gateway_cpus):
            node_id = f"gw{n + 1}" if setup.cluster else "alone"
            port, http_port = free_port(), free_port()
            HTTP_PORTS[port] = http_port
            env = {key: value for key, value in os.environ.items() if not key.startswith("EVSCADA_")}
            env.update(
                {
                    "EVSCADA_DATABASE_URL": database_url,
                    "EVSCADA_OCPP_HOST": "127.0.0.1",
                    "EVSCADA_OCPP_PORT": str(port),
                    "EVSCADA_HTTP_HOST": "127.0.0.1",
                    # role all serves the API and console as in production; a gateway its health and metrics only
                    "EVSCADA_HTTP_PORT": str(http_port),
                    "EVSCADA_LOG_LEVEL": "WARNING",
                    "EVSCADA_MIGRATE_ON_START": "false",
                }
            )
            if setup.cluster:
                cluster = {"redis_url": redis_url, "prefix": prefix, "node_id": node_id, "role": role}
                env["EVSCADA_CLUSTER"] = json.dumps(cluster)
            log_file = open(workdir / f"{prefix}-{node_id}.log", "wb")  # noqa: SIM115 (closed below)
            logs.append(log_file)
            process = subprocess.Popen(
                [sys.executable, "-m", "evscada", "serve", "--role", role],
                env=env,
                cwd=workdir,
                preexec_fn=pinned(cpu),  # noqa: PLW1509
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
            started.append((node_id, port, process))
        for node_id, port, process in started:
            try:
                wait_for_port(port, process, timeout=90)
            except (RuntimeError, TimeoutError) as exc:
                tail = (workdir / f"{prefix}-{node_id}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"{node_id} ({role}) did not start: {exc}\n{tail}") from exc
        yield [(port, psutil.Process(process.pid)) for _, port, process in started]
    finally:
        for _, _, process in started:
            process.terminate()
        for _, _, process in started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for log_file in logs:
            log_file.close()


@contextlib.contextmanager
def haproxy_in_front(gateway_ports: list[int], workdir: Path) -> Iterator[tuple[int, psutil.Process]]:
    """deploy/haproxy.cfg as it is, its addresses from the environment; the api backend points nowhere (unused)."""
    if not os.path.exists(HAPROXY):
        raise SystemExit(f"--haproxy needs HAProxy at {HAPROXY} (make haproxy installs Debian's)")
    port = free_port()
    env = {
        **os.environ,
        "EVSCADA_LB_OCPP": f"127.0.0.1:{port}",
        "EVSCADA_LB_HTTP": f"127.0.0.1:{free_port()}",
        "EVSCADA_GATEWAY_1": f"127.0.0.1:{gateway_ports[0]}",
        "EVSCADA_GATEWAY_2": f"127.0.0.1:{gateway_ports[1]}",
        "EVSCADA_GATEWAY_1_HEALTH_PORT": str(HTTP_PORTS[gateway_ports[0]]),
        "EVSCADA_GATEWAY_2_HEALTH_PORT": str(HTTP_PORTS[gateway_ports[1]]),
        "EVSCADA_API_1": "127.0.0.1:9",  # no api process in this benchmark: its health check fails, harmless
    }
    log_file = open(workdir / "haproxy.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(HAPROXY_CONFIG)],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        preexec_fn=raise_fd_limit,  # noqa: PLW1509
    )
    try:
        wait_for_port(port, process, timeout=10)
        time.sleep(2.5)  # both gateways pass their health checks (rise 2, inter 1 s) before stations arrive
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(10)
        log_file.close()


# -- measuring ----------------------------------------------------------------------------------------------------


def redis_server_cpu_seconds() -> float:
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "redis-server":
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL process serving the scratch database, and of the server's own processes
    (WAL writer, checkpointer, ...), by pid: other databases' backends (other users of a shared server) left out,
    and a backend that ends within the window cannot make the sum go backwards."""
    used = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] not in ("postgres", "postmaster"):
            continue
        title = " ".join(process.info["cmdline"] or [])
        backend = "(" in title  # "postgres: 15/main: user database 127.0.0.1(port) idle"
        if backend and f" {database} " not in title:
            continue
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            used[process.pid] = times.user + times.system
    return used


async def redis_counters(client: object) -> dict[str, int]:
    """INFO's traffic counters, and the calls and time Redis spent on PUBLISH (events) and EVAL (ownership)."""
    stats = await client.info("stats")  # type: ignore[attr-defined]
    counters = {name: int(stats[name]) for name in REDIS_COUNTERS}
    commands = await client.info("commandstats")  # type: ignore[attr-defined]
    for command in ("publish", "eval"):
        entry = commands.get(f"cmdstat_{command}", {})
        counters[f"{command}_calls"] = int(entry.get("calls", 0))
        counters[f"{command}_usec"] = int(entry.get("usec", 0))
    counters["all_usec"] = sum(int(entry.get("usec", 0)) for entry in commands.values() if isinstance(entry, dict))
    return counters


HTTP_PORTS: dict[int, int] = {}  # a process's OCPP port -> its HTTP port (a gateway's serves its health)


async def bus_counts(http_ports: list[int]) -> tuple[int, int]:
    """Events the gateways' Redis buses sent and dropped so far, from each one's /api/v1/health."""
    sent = dropped = 0
    async with httpx.AsyncClient(timeout=10) as client:
        for port in http_ports:
            bus = (await client.get(f"http://127.0.0.1:{port}/api/v1/health")).json()["cluster"]["bus"]
            sent, dropped = sent + int(bus["sent"]), dropped + int(bus["dropped_outgoing"])
    return sent, dropped


async def publish_calls(redis_url: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        return (await redis_counters(client))["publish_calls"]
    finally:
        await client.aclose()


async def delete_keys(redis_url: str, prefix: str) -> None:
    """Ownership keys expire by themselves; a benchmark leaves nothing behind anyway."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def commits(database_url: str) -> int:
    """Transactions committed in the scratch database so far (pg_stat_database, as its backends reported them)."""
    name = make_url(database_url).database

    async def read() -> int:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                value = await connection.execute(
                    text("select xact_commit from pg_stat_database where datname = :name"), {"name": name}
                )
                return int(value.scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def drive(
    *,
    ports: list[int],
    scenario: str,
    args: argparse.Namespace,
    setup: Setup,
    servers: list[psutil.Process],
    balancer: psutil.Process | None,
    database: str,
) -> dict[str, object]:
    """Run the load worker; sample every process's CPU and Redis's counters at its markers."""
    import redis.asyncio as aioredis

    redis_client = aioredis.Redis.from_url(args.redis)
    options = {"ports": ports, "scenario": scenario, "stations": args.stations, "seconds": args.seconds, "warmup": 2.0}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(THIS_FILE),
        "--load-worker",
        json.dumps(options),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=pinned(setup.load_cpu) if setup.load_cpu is not None else raise_fd_limit,
    )
    assert process.stdout is not None and process.stderr is not None
    figures: dict[str, object] = {}
    start: dict[str, float] = {}
    postgres_start: dict[int, float] = {}
    start_redis: dict[str, int] = {}

    def cpu(p: psutil.Process) -> float:
        times = p.cpu_times()
        return times.user + times.system

    try:
        async for raw in process.stderr:
            line = raw.decode().strip()
            if line == "measure-start":
                start = {f"server{n}": cpu(p) for n, p in enumerate(servers)}
                start["balancer"] = cpu(balancer) if balancer else 0.0
                postgres_start = postgres_cpu(database)
                start["redis"] = redis_server_cpu_seconds()
                start["wall"] = time.monotonic()
                start_redis = await redis_counters(redis_client)
                print(f"    {scenario} / {setup.name}: measuring ...", flush=True)
            elif line == "measure-end":
                wall = time.monotonic() - start["wall"]
                for n, p in enumerate(servers):
                    figures[f"server{n}_cpu_percent"] = 100 * (cpu(p) - start[f"server{n}"]) / wall
                if balancer:
                    figures["balancer_cpu_percent"] = 100 * (cpu(balancer) - start["balancer"]) / wall
                postgres_end = postgres_cpu(database)
                used = sum(t - postgres_start.get(pid, 0.0) for pid, t in postgres_end.items())
                figures["database_cpu_percent"] = 100 * used / wall
                figures["redis_cpu_percent"] = 100 * (redis_server_cpu_seconds() - start["redis"]) / wall
                end_redis = await redis_counters(redis_client)
                for name, value in end_redis.items():
                    figures[f"redis_{name}"] = value - start_redis[name]
                figures["window_s"] = wall
            elif line.startswith("connected"):
                print(f"    {scenario} / {setup.name}: {line.split()[1]} stations connected", flush=True)
            elif line:
                print(f"    load: {line}", flush=True)
    finally:
        await redis_client.aclose()
    output = (await process.stdout.read()).decode().strip().splitlines()
    if await process.wait() != 0 or not output:
        raise SystemExit(f"the load generator failed for {scenario} / {setup.name}")
    return {**figures, **json.loads(output[-1])}


def measure(setup: Setup, round_: int, scenarios: list[str], args: argparse.Namespace, context: Context) -> list[Run]:
    """Start the setup's processes once and run every scenario against them (MeterValues last: its rows are
    counted once the servers have stopped, when whatever they committed is in)."""
    prefix = f"bench-{uuid4().hex[:8]}"
    before_rows, before_commits = stored_readings(context.database_url), commits(context.database_url)
    before_published = asyncio.run(publish_calls(args.redis))
    runs = []
    with contextlib.ExitStack() as stack:
        print(f"  {setup.name} (round {round_}): starting", flush=True)
        started = stack.enter_context(
            evscada_processes(
                setup, database_url=context.database_url, redis_url=args.redis, prefix=prefix, workdir=context.workdir
            )
        )
        ports = [port for port, _ in started]
        balancer = None
        if setup.haproxy:
            lb_port, balancer = stack.enter_context(haproxy_in_front(ports, context.workdir))
            ports = [lb_port]
        for scenario in sorted(scenarios, key=lambda name: name == "metervalues"):
            figures = asyncio.run(
                drive(
                    ports=ports,
                    scenario=scenario,
                    args=args,
                    setup=setup,
                    servers=[p for _, p in started],
                    balancer=balancer,
                    database=context.database_name,
                )
            )
            runs.append(Run(scenario, setup, round_, figures))  # type: ignore[arg-type]
        bus = asyncio.run(bus_counts([HTTP_PORTS[port] for port, _ in started])) if setup.cluster else None
    if setup.cluster:
        asyncio.run(delete_keys(args.redis, prefix))
    time.sleep(1.0)  # the stopped servers' backends have reported their commits
    published = asyncio.run(publish_calls(args.redis)) - before_published
    rows, transactions = (
        stored_readings(context.database_url) - before_rows,
        commits(context.database_url) - before_commits,
    )
    for run in runs:
        if run.scenario == "metervalues":
            run.figures["stored"], run.figures["commits"] = rows, transactions
            if bus is not None:  # what the gateways' buses sent over the whole run, connections' events included
                run.figures["published"] = published
                run.figures["bus_sent"], run.figures["bus_dropped"] = bus
        check(run)
    return runs


@dataclass(frozen=True)
class Context:
    database_url: str
    workdir: Path

    @property
    def database_name(self) -> str:
        return str(make_url(self.database_url).database)


def check(run: Run) -> None:
    """Print what was answered (and stored); exit 1 on a CALLERROR, an unexpected frame, a lost connection or an
    answered MeterValues not stored."""
    f = run.figures
    counts = {name: int(f[name] or 0) for name in ("sent", "callresults", "callerrors", "unexpected", "unanswered")}
    counts["lost connections"] = int(f.get("lost_connections") or 0)
    said = ", ".join(f"{value} {name}" for name, value in counts.items())
    if "stored" in f:
        said += f", {f['stored']} rows stored in meter_readings"
    if "bus_sent" in f:
        said += (
            f"; the gateways' buses sent {f['bus_sent']} events in {f['published']} Redis messages and dropped "
            f"{f['bus_dropped']}"
        )
    print(f"    {said}", flush=True)
    problems = []
    if counts["callerrors"] or counts["unexpected"]:
        problems.append(f"{counts['callerrors']} CALLERROR(s), {counts['unexpected']} unexpected frame(s)")
    if counts["lost connections"]:
        problems.append(f"{counts['lost connections']} station connection(s) closed by the server during the run")
    if "stored" in f:
        answered, stored, cut_off = counts["callresults"], int(f["stored"] or 0), counts["unanswered"]
        # An answered MeterValues was committed before its answer; one cut off in flight may or may not have been.
        if not answered <= stored <= answered + cut_off:
            problems.append(
                f"{answered} MeterValues answered with a CALLRESULT but {stored} rows stored in meter_readings"
                f" ({cut_off} calls left unanswered)"
            )
    if problems:
        first = f"; first: {f['example']}" if f.get("example") else ""
        raise SystemExit(
            f"benchmark failed: {run.scenario} / {run.setup.name} (round {run.round}): {'; '.join(problems)}{first}"
        )


# -- the report ---------------------------------------------------------------------------------------------------


def number(value: object, fmt: str = "{:.0f}") -> str:
    return fmt.format(value) if isinstance(value, int | float) else ""


def per_cpu_second(f: dict[str, object], gateways: int) -> float | None:
    """Round trips per CPU-second of the gateway processes: what a message costs, which a busy shared machine
    disturbs much less than the rate (a process that waits for a core has a lower rate, not a higher cost)."""
    cpu = sum(float(f.get(f"server{n}_cpu_percent") or 0) for n in range(gateways)) / 100  # type: ignore[arg-type]
    return float(f["rate"] or 0) / cpu if cpu else None  # type: ignore[arg-type]


def report(runs: list[Run]) -> str:
    rounds = max(r.round for r in runs)
    by_key = {(r.scenario, r.setup.name, r.round): r for r in runs}
    lines = [
        "| scenario | setup | round trips/s | x alone | x 1 gateway | per gateway CPU-s | x alone | p50 ms | p99 ms "
        "| gateway CPU % | load CPU % | PostgreSQL CPU % | Redis CPU % | Redis PUBLISH + EVAL / msg | Redis us / msg "
        "| Redis bytes in / out per msg | rows per commit |",
        "| --- | --- " + "| ---: " * 15 + "|",
    ]
    ratios: dict[tuple[str, str, str], list[float]] = {}

    def ratio(r: Run, against: str, measure: str, mine: float | None, theirs: float | None) -> str:
        if r.setup.name in (against, "alone") or not mine or not theirs:
            return ""
        value = mine / theirs
        ratios.setdefault((r.scenario, r.setup.name, f"{measure} against {against}"), []).append(value)
        return f"{value:.2f}x"

    for r in runs:
        f = r.figures
        rate = float(f["rate"] or 0)  # type: ignore[arg-type]
        base = {name: by_key.get((r.scenario, name, r.round)) for name in ("alone", "gateway")}
        base_rate = {name: float(b.figures["rate"] or 0) if b else None for name, b in base.items()}  # type: ignore[arg-type]
        efficiency = per_cpu_second(f, len(r.setup.gateway_cpus))
        alone = base["alone"]
        alone_efficiency = per_cpu_second(alone.figures, 1) if alone else None
        gateways = " + ".join(number(f.get(f"server{n}_cpu_percent")) for n in range(len(r.setup.gateway_cpus)))
        if r.setup.haproxy:
            gateways += f" (HAProxy {number(f.get('balancer_cpu_percent'))})"
        messages = float(f["round_trips"] or 0) or 1.0  # type: ignore[arg-type]
        redis_per = (
            f"{float(f['redis_publish_calls']) / messages:.2f} + {float(f['redis_eval_calls']) / messages:.2f}"  # type: ignore[arg-type]
            f" | {float(f['redis_all_usec']) / messages:.1f}",  # type: ignore[arg-type]
            number(float(f["redis_total_net_input_bytes"]) / messages),  # type: ignore[arg-type]
            number(float(f["redis_total_net_output_bytes"]) / messages),  # type: ignore[arg-type]
        )
        per_commit = ""
        if f.get("stored") and f.get("commits"):
            per_commit = number(float(f["stored"]) / float(f["commits"]), "{:.1f}")  # type: ignore[arg-type]
        name = r.scenario if rounds == 1 else f"{r.scenario} ({r.round})"
        lines.append(
            f"| {name} | {r.setup.name} | {rate:.0f} | {ratio(r, 'alone', 'rate', rate, base_rate['alone'])} "
            f"| {ratio(r, 'gateway', 'rate', rate, base_rate['gateway'])} | {number(efficiency)} "
            f"| {ratio(r, 'alone', 'per gateway CPU-s', efficiency, alone_efficiency)} "
            f"| {number(f.get('p50_ms'), '{:.1f}')} | {number(f.get('p99_ms'), '{:.1f}')} | {gateways} "
            f"| {number(f.get('load_cpu_percent'))} | {number(f.get('database_cpu_percent'))} "
            f"| {number(f.get('redis_cpu_percent'))} | {redis_per[0]} | {redis_per[1]} / {redis_per[2]} "
            f"| {per_commit} |"
        )
    lines.append("")
    for (scenario, setup, what), values in ratios.items():
        ordered = sorted(values)
        spread = f" (from {ordered[0]:.2f} to {ordered[-1]:.2f})" if len(ordered) > 1 else ""
        target = " (issue 23's target: at least 0.80x)" if setup == "gateway" and what == "rate against alone" else ""
        lines.append(
            f"{scenario}: {setup}, {what}: median {statistics.median(ordered):.2f}x over {len(ordered)} round(s)"
            f"{spread}{target}"
        )
    published = [r for r in runs if r.figures.get("published") is not None]
    for r in published:
        f = r.figures
        lines.append(
            f"{r.setup.name} (round {r.round}): {f['bus_sent']} events sent ({f['bus_dropped']} dropped) in "
            f"{f['published']} Redis messages for {f['stored']} MeterValues stored (plus a connect and a disconnect "
            "per station and scenario)"
        )
    lines.append(
        "Redis columns: INFO stats deltas over the measured window divided by the round trips in it; the alone "
        "rows (no Redis) show what other users of the same Redis did meanwhile. Rows per commit: stored rows "
        "against the scratch database's commits over the whole run (start-up and heartbeats included)."
    )
    return "\n".join(lines)


def bytes_per_row(database_url: str) -> str:
    """What a stored MeterValues takes on disk: its meter_readings row and its message_receipts row (the repeat
    key), tables and indexes together, as measured in the scratch database at the end of the run."""

    async def read() -> str:
        engine = create_async_engine(database_url)
        parts = []
        try:
            async with engine.connect() as connection:
                for table in ("meter_readings", "message_receipts"):
                    size, rows = (
                        await connection.execute(
                            text(f"select pg_total_relation_size('{table}'), (select count(*) from {table})")
                        )
                    ).one()
                    if rows:
                        parts.append(f"{table} {size / rows:.0f} bytes per row ({rows} rows)")
        finally:
            await engine.dispose()
        return "on disk, tables and indexes: " + ", ".join(parts)

    return asyncio.run(read())


def codec_cost() -> str:
    """What one MeterValues event costs to cross: its encoded size, and the time to encode it (the publishing
    gateway) and to decode it (every other node, gateways included, for every event any gateway publishes)."""
    import datetime as dt

    from evscada.bus import codec
    from evscada.core.charging.meter_values import recorded
    from evscada.core.model import EvseRef, MeterSample, StationId

    now = dt.datetime.now(dt.UTC)
    samples = [  # what bench/load.py's MeterValues carries
        MeterSample(now, 1234.0, "Energy.Active.Import.Register", "Wh"),
        MeterSample(now, 7400.0, "Power.Active.Import", "W"),
        MeterSample(now, 32.1, "Current.Import", "A", phase="L1"),
        MeterSample(now, 230.4, "Voltage", "V", phase="L1-N"),
        MeterSample(now, 55.0, "SoC", "Percent", location="EV"),
    ]
    event = recorded(StationId("BENCH-00001"), EvseRef(1, 1), None, samples)
    data = codec.encode(event)
    count = 20_000
    began = time.perf_counter()
    for _ in range(count):
        codec.encode(event)
    encode = (time.perf_counter() - began) / count
    began = time.perf_counter()
    for _ in range(count):
        codec.decode(data)
    decode = (time.perf_counter() - began) / count
    return (
        f"MeterValuesRecorded event: {len(data)} bytes encoded; encode {encode * 1e6:.0f} us, "
        f"decode {decode * 1e6:.0f} us (this process, not pinned)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["metervalues", "heartbeat", "both"], default="both")
    parser.add_argument("--stations", type=int, default=1000, help="concurrent stations, one call in flight each")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=1, help="every setup this many times, alternating")
    parser.add_argument("--haproxy", action="store_true", help="also two gateways behind deploy/haproxy.cfg")
    parser.add_argument("--postgres", metavar="URL", default=DEFAULT_POSTGRES, help="PostgreSQL server (scratch db)")
    parser.add_argument("--redis", metavar="URL", default=DEFAULT_REDIS, help="Redis of the cluster runs")
    parser.add_argument("--load-worker", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_fd_limit()
    if args.load_worker:
        result = asyncio.run(load_worker(json.loads(args.load_worker)))
        print(json.dumps(result), flush=True)
        return
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("bench/cluster.py pins two gateway processes to CPUs 0 and 1: it needs at least 2 cores")
    scenarios = ["metervalues", "heartbeat"] if args.scenario == "both" else [args.scenario]
    setups = [ALONE, ONE_GATEWAY, TWO_GATEWAYS] + ([TWO_BEHIND_HAPROXY] if args.haproxy else [])
    runs: list[Run] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="evscada-cluster-bench-") as tmp, contextlib.ExitStack() as stack:
        context = Context(stack.enter_context(scratch_postgres(args.postgres, args.stations)), Path(tmp))
        for round_ in range(1, args.rounds + 1):
            for setup in setups:
                runs.extend(measure(setup, round_, scenarios, args, context))
        stored = bytes_per_row(context.database_url) if "metervalues" in scenarios else ""
    runs.sort(key=lambda run: (run.scenario != "metervalues", run.round))
    print()
    print(
        f"machine: {os.cpu_count()} cores, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} at the end, "
        f"Python {sys.version.split()[0]}; {args.stations} stations, {args.seconds:.0f} s measured per run; "
        f"whole benchmark {time.monotonic() - began:.0f} s"
    )
    print(report(runs))
    print(codec_cost())
    if stored:
        print(stored)


if __name__ == "__main__":
    main()
