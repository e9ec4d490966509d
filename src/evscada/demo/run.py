"""`evscada demo`: the CSMS on its own SQLite file plus a simulated fleet of 1.6 and 2.0.1 stations."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from evscada.app import Application
from evscada.core.services import Core
from evscada.demo.marker import announced
from evscada.demo.seed import DEMO_PASSWORD, DEMO_USER, demo_key, seed
from evscada.demo.world import demo_plan, demo_stations
from evscada.settings import Settings
from evscada.simulator.control import ControlServer, start_control
from evscada.simulator.faults import PlannedFault
from evscada.simulator.fleet import Fleet
from evscada.simulator.model import Timing

DEMO_DATABASE = Path("var/demo.db")


END_GRACE_SECONDS = 5.0  # at Ctrl-C, how long the stations may take to send their stops


async def run_demo(
    settings: Settings,
    *,
    stations: int,
    reset: bool,
    timing: Timing | None = None,
    stop: asyncio.Event | None = None,
    report_every: float = 10.0,
    plan: Sequence[PlannedFault] | None = None,
    control_port: int | None = None,
    marker: Path | None = None,
) -> None:
    """Run until `stop` is set, or until SIGINT/SIGTERM when no event is given (the command line).

    plan: the faults to inject (None: the built-in plan, a few faults in the first minutes).
    marker: where to tell the command line which database this demo uses while it runs (see demo.marker)."""
    database_file = _sqlite_file(settings.database_url)
    if reset and database_file is not None:
        await asyncio.to_thread(_remove_database, database_file)
    world = demo_stations(stations)
    specs = [station.spec for station in world]
    if plan is None:
        plan = demo_plan([spec.station_id for spec in specs])
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    running: asyncio.Task[None] | None = None
    control: ControlServer | None = None
    try:
        async with Application(settings) as app:
            await seed(app.core, world)
            key = await demo_key(app.core)
            base_url = f"ws://127.0.0.1:{app.gateway.ports['ws']}/ocpp"
            fleet = Fleet(base_url, specs, timing or Timing())
            control = await start_control(fleet, control_port) if control_port is not None else None
            # The marker before the banner: whoever reads the banner may at once run `evscada user key` here.
            with announced(settings.database_url, marker) if marker is not None else contextlib.nullcontext():
                print(_banner(app, settings, len(specs), base_url, key, control=control), flush=True)
                running = asyncio.create_task(fleet.run(plan=plan))
                try:
                    while not stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), report_every)
                        print(await _summary(app.core))
                finally:
                    # The drivers end their sessions before the world stops, so no transaction is left running.
                    # "Remote", as an operator stopping charging before a shutdown: a driver's "Local" stop of a
                    # session that has delivered nothing yet is an abnormal end, an alarm (issue 19).
                    wait = f"at most {END_GRACE_SECONDS:.0f} s"
                    print(f"stopping: ending the simulated sessions ({wait}) ...", flush=True)
                    ended = await fleet.end_sessions("Remote", grace=END_GRACE_SECONDS)
                    print(
                        f"stopped: {ended} sessions ended; run again to continue, --reset to start afresh.", flush=True
                    )
        # The CSMS stopped first, closing the stations' connections itself: a clean stop, no station offline (the
        # world stopping first would leave every station away since then, an offline alarm at the next start).
    finally:
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        if control is not None:
            await control.stop()


def _banner(
    app: Application, settings: Settings, stations: int, base_url: str, key: str, *, control: ControlServer | None
) -> str:
    """What a newcomer needs; every http:// address in it answers a GET (tests/demo/test_demo_cli.py checks)."""
    lines = [
        f"evscada demo: {stations} simulated stations (1.6 and 2.0.1) at 3 demo sites connect to {base_url}/<id>",
        f"database: {settings.database_url} (demo data only; evscada commands run in this directory use it meanwhile)",
    ]
    if app.http is not None:
        host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
        web = f"http://{host}:{app.http.port}"
        lines += [
            f"console: {web}/",
            f"demo login: user {DEMO_USER}, password {DEMO_PASSWORD} (admin)",
            f"REST API under /api/v1, reference: {web}/api/docs",
            f"demo login (admin API key): {key}",
            f"  e.g. curl -H 'Authorization: Bearer {key}' {web}/api/v1/stations",
        ]
    if control is not None:
        lines.append(control.banner())
    lines.append(
        "A few faults happen in the first minutes. Ctrl-C stops it; run again to continue, --reset to start afresh."
    )
    return "\n".join(lines)


async def _summary(core: Core) -> str:
    totals = await core.queries.totals()
    return (
        f"stations online {totals.stations_online}, charging {totals.transactions_running}, "
        f"sessions completed {totals.transactions_ended}, meter samples {totals.meter_samples}"
    )


def _remove_database(database_file: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database_file}{suffix}").unlink(missing_ok=True)
    print(f"demo database {database_file} removed (--reset)")


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None
