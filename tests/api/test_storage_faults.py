"""A database that stops taking writes (a full disk): health says so, the log stays short, stations are slowed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue
from sqlalchemy.engine import make_url
from websockets.exceptions import ConnectionClosed, InvalidStatus

from evscada.logs import RepeatedErrors, collapse_repeated_errors
from tests.conftest import start_csms, test_settings
from tests.support import Csms, open_socket, station16

FAILED_WRITES = 30


Change = tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]  # (fail, heal)


@dataclass
class Storage:
    """A running CSMS and a way to make its database refuse writes (and take them again)."""

    csms: Csms
    fail: Callable[[], Awaitable[None]]
    heal: Callable[[], Awaitable[None]]


@contextlib.contextmanager
def _small_disk(where: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs, mounted for the test (needs root); skipped where mounting is not allowed."""
    where.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)]
    mounted = subprocess.run(command, check=False, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"a full disk is simulated on a tmpfs, which could not be mounted: {mounted.stderr.decode()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database's URL: SQLite on a small disk of its own, or a PostgreSQL database."""
    if request.param == "postgresql":
        yield request.getfixturevalue("postgres_database_url")
        return
    with _small_disk(tmp_path / "disk") as disk:
        yield f"sqlite+aiosqlite:///{disk / 'evscada.db'}"


def _fill_the_disk(database: Path) -> Change:
    filler = database.parent / "filler"

    async def fill() -> None:
        # Unbuffered: a write the full disk refuses leaves nothing behind for close() to fail on.
        with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)

    async def free() -> None:
        filler.unlink()

    return fill, free


def _turn_read_only(url: str) -> Change:
    """PostgreSQL on a full disk answers reads and refuses writes; so does a read-only database."""
    parsed = make_url(url)
    name = parsed.database

    async def admin(sql: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(  # from another database: this one may be read-only
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database="postgres",
        )
        try:
            await connection.execute(sql)
            # The CSMS's pooled connections keep their settings: end them, the pool opens new ones.
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        finally:
            await connection.close()

    async def read_only() -> None:
        await admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')

    async def writable() -> None:
        await admin(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')

    return read_only, writable


@pytest.fixture
async def storage(database_place: str) -> AsyncIterator[Storage]:
    url = make_url(database_place)
    fail, heal = (
        _turn_read_only(database_place)
        if url.get_backend_name() == "postgresql"
        else _fill_the_disk(Path(url.database or ""))
    )
    try:
        async for csms in start_csms(test_settings(database_place)):
            yield Storage(csms, fail, heal)
    finally:
        with contextlib.suppress(OSError):
            await heal()  # the database outlives the test (PostgreSQL's is shared by the run)


@contextlib.contextmanager
def repeated_errors_collapsed() -> Iterator[None]:
    """The filter `evscada serve` puts on its log handlers, on the handlers of this test's phase."""
    repeated = collapse_repeated_errors()
    try:
        yield
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(repeated)


async def _stored(cp: ChargePoint16, n: int) -> bool:
    """Whether a MeterValues was acknowledged (stored) rather than answered with a CALLERROR."""
    sample = SampledValue(value=str(1000 + n), measurand="Energy.Active.Import.Register", unit="Wh")
    at = f"2026-12-06T10:{n:02d}:00Z"
    try:
        await cp.call(
            call.MeterValues(connector_id=1, meter_value=[MeterValue(timestamp=at, sampled_value=[sample])]),
            suppress=False,
        )
    except OCPPError:
        return False
    return True


async def test_a_database_refusing_writes_is_reported_logged_once_and_slows_stations_down(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    csms = storage.csms
    assert csms.app.http is not None
    health_url = f"http://127.0.0.1:{csms.app.http.port}/api/v1/health"
    for station in ("CP-UP", "CP-LATE"):
        await csms.add_station(station)
    with repeated_errors_collapsed():
        async with httpx.AsyncClient(timeout=10) as client, station16(csms, "CP-UP") as cp:
            await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            assert (await client.get(health_url)).status_code == 200

            await storage.fail()
            # The first station to meet the fault is already past its handshake: closed with "try again later".
            async with open_socket(csms.url("CP-LATE"), "ocpp1.6") as first:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(first.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            answers = [await _stored(cp, n) for n in range(FAILED_WRITES)]
            assert not any(answers)  # each answered with a CALLERROR: nothing acknowledged is lost

            health = await client.get(health_url)
            assert health.status_code == 503, health.text
            assert health.json()["status"] == "degraded" and health.json()["database"].startswith("writes fail: ")

            # A station reconnecting now is refused at the handshake, and told when to come back.
            with pytest.raises(InvalidStatus) as refusal:
                async with open_socket(csms.url("CP-LATE"), "ocpp1.6"):
                    pass
            assert refusal.value.response.status_code == 503
            assert 30 <= int(refusal.value.response.headers["Retry-After"]) <= 90
            assert csms.app.gateway.refusals["storage_failing"] == 1

            # One line per logger and kind of fault, not one per failed write.
            faults = Counter(
                (r.name, str(r.exc_info[1]).partition("\n")[0])
                for r in caplog.records
                if r.exc_info and r.levelno >= logging.WARNING
            )
            assert faults and max(faults.values()) == 1, faults

            await storage.heal()
            # The first tries may meet connections the repair ended (PostgreSQL), then writes are stored again.
            assert any([await _stored(cp, FAILED_WRITES + n) for n in range(3)])
            assert (await client.get(health_url)).json()["status"] == "ok"
            async with station16(csms, "CP-LATE") as late:
                assert (await late.call(call.Heartbeat())).current_time


def test_repeated_errors_are_written_once_per_interval_with_a_count() -> None:
    now = [0.0]
    repeated = RepeatedErrors(interval=60, clock=lambda: now[0])
    written: list[logging.LogRecord] = []

    def log(message: str, error: Exception, logger: str = "evscada.gateway.session") -> None:
        record = logging.LogRecord(logger, logging.ERROR, __file__, 1, message, (), (type(error), error, None))
        if repeated.filter(record):
            written.append(record)

    full = OSError(28, "No space left on device")
    for second in range(0, 130):  # 200 stations failing alike: one error a second for two minutes
        now[0] = float(second)
        log(f"CP-{second}: MeterValues failed", full)
    log("CP-X: MeterValues failed", ValueError("another fault"))  # another kind is written at once
    log("writing 12 samples failed", full, logger="evscada.storage.group_commit")  # and so is another logger
    messages = [r.getMessage() for r in written]
    assert messages[0] == "CP-0: MeterValues failed" and written[0].exc_info is not None  # the first in full
    assert messages[1:3] == [
        "CP-60: MeterValues failed: OSError: [Errno 28] No space left on device (59 more in 60 s)",
        "CP-120: MeterValues failed: OSError: [Errno 28] No space left on device (59 more in 60 s)",
    ]
    assert written[1].exc_info is None  # the repeats without the traceback
    assert messages[3:] == ["CP-X: MeterValues failed", "writing 12 samples failed"]
    # A record passed to several handlers sharing the filter is decided once.
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "again", (), (OSError, full, None))
    assert repeated.filter(record) is repeated.filter(record) is True
