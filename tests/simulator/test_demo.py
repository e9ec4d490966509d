"""The demo, started as a user would, shows the whole system working within seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from evscada.simulator.demo import run_demo
from evscada.simulator.model import Timing
from evscada.storage import tables
from tests.conftest import test_settings

FAST = Timing(meter_interval=0.2, idle_seconds=(0.1, 0.5), session_seconds=(1.0, 1.5), time_scale=600.0)


async def test_the_demo_brings_both_versions_online_and_charging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = test_settings(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(settings, stations=6, reset=True, timing=FAST, stop=stop, report_every=0.5))
    try:
        figures = await asyncio.wait_for(_until_charging(tmp_path / "demo.db"), 30)
    finally:
        stop.set()
        await asyncio.wait_for(demo, 15)
    versions, ended, samples = figures
    assert versions == {"1.6", "2.0.1"}
    assert ended >= 1 and samples > 0
    out = capsys.readouterr().out
    assert "demo login (operator API key): evs_" in out and "/api/docs" in out


async def _until_charging(path: Path) -> tuple[set[str], int, int]:
    """Poll the demo's own database (a second connection, as any reader would) until sessions have ended."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        while True:
            await asyncio.sleep(0.5)
            try:
                async with engine.connect() as c:
                    versions = set(
                        (
                            await c.execute(select(tables.stations.c.ocpp_version).where(tables.stations.c.online))
                        ).scalars()
                    )
                    ended = (
                        await c.execute(select(func.count()).where(tables.transactions.c.state == "ended"))
                    ).scalar_one()
                    samples = (await c.execute(select(func.count()).select_from(tables.meter_samples))).scalar_one()
            except OperationalError:  # the demo may still be creating its schema
                continue
            if versions == {"1.6", "2.0.1"} and ended >= 2 and samples > 10:
                return versions, ended, samples
    finally:
        await engine.dispose()
