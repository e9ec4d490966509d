"""`evscada demo`: the CSMS on its own SQLite file plus a simulated fleet of 1.6 and 2.0.1 stations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from sqlalchemy import func, select

from evscada.app import Application
from evscada.core.access import Role, UserExists
from evscada.core.errors import StationExists
from evscada.core.model import StationId, Token
from evscada.settings import Settings
from evscada.simulator.fleet import run_fleet
from evscada.simulator.station import StationSpec, Timing
from evscada.storage import tables

log = logging.getLogger(__name__)

DEMO_DATABASE = Path("var/demo.db")


_SITES = [  # prefix, vendor, model, power (W), connectors, token prefix
    ("DEPOT", "ABB", "HVC150", 150_000.0, 1, "BUS-"),
    ("PUBLIC", "Alpitronic", "HYC300", 150_000.0, 2, "04A1"),
    ("GARAGE", "Wallbox", "Commander 2", 22_000.0, 1, "04B7"),
]
VEHICLES_PER_STATION = 3


def demo_fleet(stations: int) -> list[StationSpec]:
    """A bus depot, a public site and a garage, each with 1.6 and 2.0.1 stations. Every station has its own
    vehicles (tokens), as buses and garage cars do, so no token is at two chargers at once."""
    specs = []
    for n in range(stations):
        site, vendor, model, power, connectors, prefix = _SITES[n % len(_SITES)]
        number = n // len(_SITES) + 1
        first = (number - 1) * VEHICLES_PER_STATION + 1
        tokens = tuple(
            f"BUS-{k:03d}" if prefix == "BUS-" else f"{prefix}{k:06X}"
            for k in range(first, first + VEHICLES_PER_STATION)
        )
        specs.append(
            StationSpec(
                station_id=f"{site}-{number:02d}",
                version="2.0.1" if number % 3 == 2 else "1.6",  # every third station of each site
                vendor=vendor,
                model=model,
                firmware="4.2.1",
                serial=f"SN{n:06d}",
                connectors=connectors,
                max_power_w=power,
                tokens=tokens,
            )
        )
    return specs


async def run_demo(
    settings: Settings,
    *,
    stations: int,
    reset: bool,
    timing: Timing | None = None,
    stop: asyncio.Event | None = None,
    report_every: float = 10.0,
) -> None:
    """Run until `stop` is set, or until SIGINT/SIGTERM when no event is given (the command line)."""
    database_file = _sqlite_file(settings.database_url)
    if reset and database_file is not None:
        await asyncio.to_thread(_remove_database, database_file)
    specs = demo_fleet(stations)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    async with Application(settings) as app:
        await _seed(app, specs)
        key = await _demo_key(app)
        base_url = f"ws://127.0.0.1:{app.gateway.ports['ws']}/ocpp"
        api = f"http://127.0.0.1:{app.http.port}" if app.http else None
        print(
            f"evscada demo: {len(specs)} simulated stations (1.6 and 2.0.1) connect to {base_url}/<id>\n"
            f"database: {settings.database_url} (demo data only)\n"
            + (
                f"REST API: {api}/api/v1  docs: {api}/api/docs\n"
                f"demo login (operator API key): {key}\n"
                f"  e.g. curl -H 'Authorization: Bearer {key}' {api}/api/v1/stations\n"
                if api
                else ""
            )
            + "Ctrl-C stops it; run again to continue, --reset to start afresh."
        )
        fleet = asyncio.create_task(run_fleet(base_url, specs, timing or Timing()))
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), report_every)
                print(await _summary(app))
        finally:
            fleet.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fleet


async def _seed(app: Application, specs: list[StationSpec]) -> None:
    for spec in specs:
        with contextlib.suppress(StationExists):
            await app.core.stations.register(station_id=StationId(spec.station_id))
    for token in sorted({t for spec in specs for t in spec.tokens}):
        await app.core.authorization.save_token(
            token=Token(value=token, type="ISO14443", group_id="DEMO-FLEET" if token.startswith("BUS") else None)
        )


async def _demo_key(app: Application) -> str:
    """The demo's operator login: a new API key each run (only hashes are stored, so an old one is not shown)."""
    with contextlib.suppress(UserExists):
        await app.core.access.add_user(username="demo", role=Role.OPERATOR)
    return await app.core.access.create_api_key(username="demo", name="demo")


async def _summary(app: Application) -> str:
    async with app.database.transaction() as c:
        online = (await c.execute(select(func.count()).where(tables.stations.c.online))).scalar_one()
        running = (await c.execute(select(func.count()).where(tables.transactions.c.state == "running"))).scalar_one()
        ended = (await c.execute(select(func.count()).where(tables.transactions.c.state == "ended"))).scalar_one()
        samples = (await c.execute(select(func.count()).select_from(tables.meter_samples))).scalar_one()
    return f"stations online {online}, charging {running}, sessions completed {ended}, meter samples {samples}"


def _remove_database(database_file: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database_file}{suffix}").unlink(missing_ok=True)
    print(f"demo database {database_file} removed (--reset)")


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None
