"""Load generator: N lean OCPP-J 1.6 stations against a server; prints one JSON result line on stdout.

Markers on stderr ("measure-start", "measure-end", "connected") let the caller sample the server at those moments.
Answers are counted by kind (CALLRESULT to the call sent, CALLERROR, anything else); any CALLERROR or unexpected
frame makes the run fail (exit status 1, after the JSON line), so a server that refuses is never measured as fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import time

from lean_ws import LeanSocket, RoundTripProtocol, frame

TIMESTAMP = "2026-11-25T08:00:00.000Z"  # StatusNotification's time
# The energy register is the station's message number: every message's content differs, not only its id.
_SAMPLES = ",".join(
    '{"value":"%s","measurand":"%s","unit":"%s"%s}' % (value, measurand, unit, extra)  # noqa: UP031
    for value, measurand, unit, extra in [
        ("%d", "Energy.Active.Import.Register", "Wh", ""),
        ("7400.0", "Power.Active.Import", "W", ""),
        ("32.1", "Current.Import", "A", ',"phase":"L1"'),
        ("230.4", "Voltage", "V", ',"phase":"L1-N"'),
        ("55.0", "SoC", "Percent", ',"location":"EV"'),
    ]
)
# Every run's frames differ (unique ids carry it): the CSMS recognises a repeated frame and does not store it
# again, so a second run with the same ids would measure repeats, not writes.
RUN = os.urandom(3).hex()

TEMPLATES = {
    "heartbeat": '[2,"%s","Heartbeat",{}]',
    # Stamped with the current second, as a station stamps its meter values (the CSMS's repeat key begins with it).
    "metervalues": '[2,"%s","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"%s","sampledValue":['
    + _SAMPLES
    + "]}]}]",
    "boot": '[2,"%s","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"B1"}]',
    "status": '[2,"%s","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available",'
    '"timestamp":"' + TIMESTAMP + '"}]',
}


def call_text(scenario: str, unique_id: str, number: int = 0) -> str:
    if scenario == "metervalues":
        return TEMPLATES[scenario] % (unique_id, now(), number)
    return TEMPLATES[scenario] % unique_id


_clock: list[object] = [0, ""]


def now() -> str:
    """The current second in OCPP's format, formatted once a second."""
    second = int(time.time())
    if second != _clock[0]:
        _clock[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))]
    return str(_clock[1])


def mark(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def connect_all(args: argparse.Namespace, count: int) -> list[LeanSocket]:
    gate = asyncio.Semaphore(args.connect_concurrency)

    async def one(n: int) -> LeanSocket:
        async with gate:
            return await LeanSocket.open(args.host, args.port, f"/ocpp/BENCH-{n:05d}", "ocpp1.6")

    return await asyncio.gather(*(one(n) for n in range(1, count + 1)))


async def round_trips(args: argparse.Namespace) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    measuring = False

    def record(latency: float) -> None:
        if measuring:
            latencies.append(latency)

    fixed_answer_id = args.answer_id.encode() if args.answer_id else None

    def station(index: int) -> RoundTripProtocol:
        def make_call(n: int) -> tuple[bytes, bytes]:
            unique_id = f"{RUN}-{index}-{n}"
            return frame(call_text(args.scenario, unique_id, n)), fixed_answer_id or unique_id.encode()

        return RoundTripProtocol(f"{args.host}:{args.port}", f"/ocpp/BENCH-{index:05d}", "ocpp1.6", make_call, record)

    gate = asyncio.Semaphore(args.connect_concurrency)

    async def connect(index: int) -> RoundTripProtocol:
        async with gate:
            _, protocol = await loop.create_connection(lambda: station(index), args.host, args.port)
            await protocol.ready
            return protocol

    stations = await asyncio.gather(*(connect(n) for n in range(1, args.stations + 1)))
    mark(f"connected {len(stations)}")  # the caller samples the server's memory with every station connected
    await asyncio.sleep(1.5)
    for protocol in stations:
        protocol.send_next()
    await asyncio.sleep(args.warmup)
    cpu_before, wall_before = cpu_seconds(), loop.time()
    mark("measure-start")
    measuring = True
    await asyncio.sleep(args.seconds)
    measuring = False
    mark("measure-end")
    wall = loop.time() - wall_before
    cpu = cpu_seconds() - cpu_before
    # Every call sent gets its answer before the sockets close, so the counts can be held against what the
    # server stored: a call cut off in flight may have been stored without being answered.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(protocol.drain() for protocol in stations)), args.drain_seconds)
    for protocol in stations:
        protocol.close()
    latencies.sort()
    count = len(latencies)
    example = next((p.example for p in stations if p.example), None)
    return {
        "round_trips": count,
        "seconds": wall,
        "rate": count / wall,
        "p50_ms": latencies[count // 2] * 1000 if count else None,
        "p99_ms": latencies[int(count * 0.99)] * 1000 if count else None,
        "load_cpu_percent": 100 * cpu / wall,
        "sent": sum(p.sent for p in stations),
        "callresults": sum(p.results for p in stations),
        "callerrors": sum(p.errors for p in stations),
        "unexpected": sum(p.unexpected for p in stations),
        "unanswered": sum(p.in_flight for p in stations),
        "example": example[:200].decode(errors="replace") if example else None,
    }


async def idle(args: argparse.Namespace) -> dict[str, object]:
    sockets = await connect_all(args, args.stations)
    mark(f"connected {len(sockets)}")
    await asyncio.sleep(args.seconds)
    for ws in sockets:
        ws.close()
    return {"connected": len(sockets)}


async def storm(args: argparse.Namespace) -> dict[str, object]:
    """All stations connect at once, boot and report status; how long until every one is answered."""
    loop = asyncio.get_running_loop()
    started, cpu_before = loop.time(), cpu_seconds()
    failures: list[str] = []
    refusals: list[str] = []  # CALLERRORs, counted apart from failures to connect or answer in time
    sockets: list[LeanSocket] = []

    async def station(n: int) -> None:
        try:
            ws = await asyncio.wait_for(
                LeanSocket.open(args.host, args.port, f"/ocpp/BENCH-{n:05d}", "ocpp1.6"), args.seconds
            )
            sockets.append(ws)
            for name in ("boot", "status"):
                ws.send(frame(call_text(name, f"{n}-{name}")))
                answer = await asyncio.wait_for(ws.recv(), args.seconds)
                if answer.startswith(b"[4,"):
                    refusals.append(f"{n}: {answer[:200].decode(errors='replace')}")
                elif not answer.startswith(b"[3,"):
                    failures.append(f"{n}: {answer[:80]!r}")
        except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
            failures.append(f"{n}: {type(exc).__name__} {exc}")

    mark("measure-start")
    await asyncio.gather(*(station(n) for n in range(1, args.stations + 1)))
    mark("measure-end")
    elapsed = loop.time() - started
    cpu = cpu_seconds() - cpu_before
    for ws in sockets:
        ws.close()
    return {
        "stations": args.stations,
        "all_answered_s": elapsed,
        "failed": len(failures),
        "examples": failures[:5],
        "callerrors": len(refusals),
        "example": refusals[0] if refusals else None,
        "load_cpu_percent": 100 * cpu / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", choices=["heartbeat", "metervalues", "idle", "storm"], required=True)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument("--drain-seconds", type=float, default=10.0, help="wait this long for the last answers")
    parser.add_argument(
        "--answer-id", help="the server answers every call with this unique id (the echo baseline): check the kind only"
    )
    args = parser.parse_args()
    runner = {"idle": idle, "storm": storm}.get(args.scenario, round_trips)
    result = asyncio.run(runner(args))
    print(json.dumps(result), flush=True)
    if result.get("callerrors") or result.get("unexpected"):
        sys.exit(
            f"load failed: {result.get('callerrors')} CALLERROR(s), {result.get('unexpected', 0)} unexpected frame(s);"
            f" first: {result.get('example')}"
        )


if __name__ == "__main__":
    main()
