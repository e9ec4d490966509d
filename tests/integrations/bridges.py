"""Shared by the bridge tests: a Mosquitto of the test's own (credentials required), a CSMS with a bridge on, and a
simulated DC station charging over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evscada.core.model import SiteId, StationId
from evscada.simulator.fleet import run_station
from evscada.simulator.model import Timing, dc_station
from evscada.simulator.station import cancel_quietly
from evscada.simulator.vehicles import EvSpec
from tests.conftest import REQUIRE_SERVICES
from tests.support import Csms, eventually

# Nothing starts by itself; a remote-started session runs for minutes, reporting every 0.2 s.
TIMING = Timing(meter_interval=0.2, tick=0.2, idle_seconds=(1e6, 1e6), session_seconds=(600, 600), reboot_seconds=0.0)
BROKER_USER, BROKER_PASSWORD = "scada", "s3cret-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A Mosquitto process that allows only BROKER_USER; it can be stopped, frozen and started again."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        passwords = folder / "passwords"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), BROKER_USER, BROKER_PASSWORD], check=True)
        passwords.chmod(0o600)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            # `user`: stay who runs the tests (as root, mosquitto would switch to a user that cannot read the file)
            f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous false\n"
            f"password_file {passwords}\npersistence false\n"
        )

    async def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: ASYNC220  # started once per test, it returns at once
            ["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}")

    async def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        if REQUIRE_SERVICES:
            pytest.fail("the MQTT bridge tests need mosquitto and mosquitto_passwd (apt install mosquitto)")
        pytest.skip("mosquitto is not installed: the MQTT bridge tests need a real broker")
    running = Broker(tmp_path)
    await running.start()
    try:
        yield running
    finally:
        if running.process is not None:
            running.thaw()
        await running.kill()


async def on_site(csms: Csms, station_id: str, site: str) -> SiteId:
    created = await csms.app.core.sites.create(name=site)
    await csms.add_station(station_id)
    await csms.app.core.sites.place_station(
        station_id=StationId(station_id), name=None, site_id=created.id, latitude=None, longitude=None
    )
    return created.id


@contextlib.asynccontextmanager
async def charging_station(csms: Csms, station_id: str, version: str = "1.6") -> AsyncIterator[str]:
    """A simulated 50 kW DC station (its car reports SoC), online and Available until the block ends."""
    await csms.add_token("CARD-1")
    car = EvSpec(name="van", battery_wh=80e3, arrival_soc=(30.0, 30.0), dc_max_w=50e3)
    spec = dc_station(station_id, version, kw=50, tokens=("CARD-1",), vehicles={"CARD-1": car})
    task = asyncio.create_task(run_station(csms.url(station_id).rsplit("/", 1)[0], spec, TIMING))
    try:

        async def available() -> bool:
            rows = await csms.rows("connectors", station_id=station_id, evse_id=1)
            return bool(rows) and rows[0]["status"] == "Available"

        assert await eventually(available, timeout=15), f"{station_id} never became Available"
        yield station_id
    finally:
        await cancel_quietly(task)
