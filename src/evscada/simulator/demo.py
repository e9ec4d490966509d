"""`evscada demo`: the CSMS on its own SQLite file plus a simulated fleet of 1.6 and 2.0.1 stations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from sqlalchemy import func, select

from evscada.app import Application
from evscada.core.errors import StationExists
from evscada.core.model import StationId, Token
from evscada.settings import Settings
from evscada.simulator.fleet import run_fleet
from evscada.simulator.station import StationSpec, Timing
from evscada.storage import tables

log = logging.getLogger(__name__)

DEMO_DATABASE = Path("var/demo.db")


def demo_fleet(stations: int) -> list[StationSpec]:
    """A bus depot, a public site and a garage; every third station speaks 2.0.1."""
    bus_tokens = tuple(f"BUS-{n:03d}" for n in range(1, 21))
    car_tokens = tuple(f"04A1{n:06X}" for n in range(1, 31))
    sites = [
        ("DEPOT", "ABB", "HVC150", 150_000.0, 1, bus_tokens),
        ("PUBLIC", "Alpitronic", "HYC300", 150_000.0, 2, car_tokens),
        ("GARAGE", "Wallbox", "Commander 2", 22_000.0, 1, car_tokens),
    ]
    specs = []
    for n in range(stations):
        site, vendor, model, power, connectors, tokens = sites[n % len(sites)]
        specs.append(
            StationSpec(
                station_id=f"{site}-{n // len(sites) + 1:02d}",
                version="2.0.1" if n % 3 == 1 else "1.6",
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


async def run_demo(settings: Settings, *, stations: int, reset: bool) -> None:
    database_file = _sqlite_file(settings.database_url)
    if reset and database_file is not None:
        await asyncio.to_thread(_remove_database, database_file)
    specs = demo_fleet(stations)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Application(settings) as app:
        await _seed(app, specs)
        base_url = f"ws://127.0.0.1:{app.gateway.ports['ws']}/ocpp"
        print(
            f"evscada demo: {len(specs)} simulated stations connect to {base_url}/<id>\n"
            f"database: {settings.database_url}\nCtrl-C stops it; run again to continue, --reset to start afresh."
        )
        fleet = asyncio.create_task(run_fleet(base_url, specs, Timing()))
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 10)
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
