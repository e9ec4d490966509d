"""Engine, connection gate and schema migrations."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, InvalidatePoolError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import await_

from evscada.storage import sqlite_driver

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK_KEY = 0x65767363  # "evsc": PostgreSQL advisory lock held while one process migrates


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time: one connection, queued in asyncio (see Database.connect),
        # never "database is locked". The connection makes one trip to its thread per statement
        # (storage/sqlite_driver.py); engine.begin() always ends its transaction, so handing the connection
        # back needs no extra ROLLBACK trip.
        engine = create_async_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=3600,
            pool_reset_on_return=None,
            async_creator=partial(_open_sqlite, database or ":memory:"),
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=3600)
    # What pool_pre_ping does, in one round trip instead of its three on asyncpg (BEGIN, the ping, ROLLBACK): as
    # many as the whole meter-value commit they preceded (docs/performance.md).
    event.listen(engine.sync_engine, "checkin", _note_used)
    event.listen(engine.sync_engine, "checkout", _ping_when_reused)
    return engine


_USED = "evscada_used"


def _note_used(_dbapi_connection: Any, record: Any) -> None:
    record.info[_USED] = True


def _ping_when_reused(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A pooled connection may have died since its last use (a PostgreSQL restart, an administrator's
    pg_terminate_backend): make sure before handing it out, so no write fails for it. One just opened is not pinged."""
    if not record.info.get(_USED):
        return
    try:
        await_(record.driver_connection.fetchrow(";"))  # asyncpg outside a transaction: one trip
    except Exception as exc:
        # Most likely the server restarted, so the other pooled connections are gone too: replace them all
        # (SQLAlchemy retries this checkout on a new connection).
        raise InvalidatePoolError(f"pooled connection failed its ping: {exc}") from exc


async def _open_sqlite(database: str) -> Any:
    return await sqlite_driver.connect(database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; WAL keeps it consistent
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Checkpoint every 10,000 pages (~40 MiB of WAL) rather than 1,000: one group commit of meter values dirties
    # about 1,000 index pages, so the default copied the WAL back into the database after nearly every commit.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


# PostgreSQL SQLSTATE classes of a failing server rather than of a bad value: connection (08), insufficient
# resources such as a full disk (53), operator intervention (57), system error such as I/O (58).
_FAULT_CLASSES = frozenset({"08", "53", "57", "58"})
_FAULT_STATES = frozenset({"25006", "42501"})  # a read-only transaction; permission denied (rights taken away)


def database_fault(exc: BaseException) -> bool:
    """The database failed, not the data: any other write would fail the same way (a full disk, a lost server)."""
    if isinstance(exc, OperationalError | InterfaceError | TimeoutError | OSError):
        return True  # SQLite's "database or disk is full" and "readonly database" are OperationalErrors
    if getattr(exc, "connection_invalidated", False):
        return True
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(state, str) and (state[:2] in _FAULT_CLASSES or state in _FAULT_STATES)


FAULT_MEMORY = 30.0  # seconds a database fault keeps counting when nothing is written after it


class StorageFaults:
    """The database faults of recent transactions; health and the gateway's handshake answer from it.

    On a full disk the reads still work and only the writes fail, so a probe that reads says nothing. A fault counts
    until a transaction that wrote commits, or until none has failed for FAULT_MEMORY seconds: then stations are
    let in to try again, and their writes tell anew.
    """

    def __init__(self, *, memory: float = FAULT_MEMORY, clock: Callable[[], float] = time.monotonic) -> None:
        self._memory = memory
        self._clock = clock
        self._reason: str | None = None
        self._count = 0  # faults since the last write that committed
        self._since = datetime.now(UTC)
        self._last = 0.0

    def failed(self, exc: BaseException) -> None:
        if self._count == 0:
            self._since = datetime.now(UTC)
        self._count += 1
        self._last = self._clock()
        first_line = str(exc).partition("\n")[0][:300]
        self._reason = f"{type(exc).__name__}: {first_line}"

    def wrote(self) -> None:
        self._count, self._reason = 0, None

    def current(self) -> str | None:
        """Why the database fails now, with how often and since when; None when it works."""
        if self._reason is None or self._clock() - self._last > self._memory:
            return None
        return f"{self._reason} ({self._count} failed since {self._since:%Y-%m-%d %H:%M:%S} UTC)"


class Database:
    """The engine plus a FIFO gate sized to the pool, so bursts queue instead of failing."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self._sqlite = is_sqlite(url)
        # Transactions that can run at once: SQLite has one writer, PostgreSQL one per pooled connection.
        self.concurrent_transactions = 1 if self._sqlite else pool_size
        self._gate = asyncio.Semaphore(self.concurrent_transactions)
        # SQLite: the one connection stays checked out for the process's life; checking it out and in
        # for every transaction cost a third of an empty transaction.
        self._kept: AsyncConnection | None = None
        self._driver: object = None  # the kept connection's aiosqlite connection
        # The same pool, its connections without BEGIN and COMMIT: for writes that are one statement (see statement).
        self._autocommit = None if self._sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.faults = StorageFaults()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._gate:
            try:
                if not self._sqlite:
                    async with self.engine.begin() as connection:
                        yield connection
                    return
                connection = await self._sqlite_connection()
                async with connection.begin():
                    yield connection
                    driver = self._driver  # SQLite begins its transaction at the first write: this one wrote
                    wrote = isinstance(driver, sqlite_driver.OneTripConnection) and driver.in_transaction
                if wrote:
                    self.faults.wrote()
            except Exception as exc:
                if database_fault(exc):
                    self.faults.failed(exc)
                raise

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a write made of one statement, which is atomic by itself: on PostgreSQL it commits
        when the statement ends, saving the BEGIN and COMMIT round trips (so a second statement would commit on its
        own: use transaction() for more than one); on SQLite it is a transaction."""
        if self._autocommit is None:
            async with self.transaction() as connection:
                yield connection
            return
        async with self._gate:
            try:
                async with self._autocommit.connect() as connection:
                    yield connection
            except Exception as exc:
                if database_fault(exc):
                    self.faults.failed(exc)
                raise

    async def _sqlite_connection(self) -> AsyncConnection:
        """The kept connection, reopened if it broke, and never inside a transaction someone else began."""
        kept = self._kept
        if kept is None or kept.closed or kept.invalidated:
            kept = self._kept = await self.engine.connect()
            self._driver = (await kept.get_raw_connection()).driver_connection
        driver = self._driver
        if kept.in_transaction() or (isinstance(driver, sqlite_driver.OneTripConnection) and driver.in_transaction):
            # A request cancelled while ending its transaction can leave it open; nothing of it may reach the
            # next commit.
            log.warning("rolling back a transaction that an interrupted request left open")
            await kept.rollback()
            if isinstance(driver, sqlite_driver.OneTripConnection) and driver.in_transaction:
                await driver.rollback()
        return kept

    async def migrate(self) -> None:
        """Bring the schema up to the newest Alembic revision."""
        async with self.transaction() as connection:
            if connection.dialect.name == "postgresql":
                # Several processes of a cluster start at once: one migrates, the others wait and find it done.
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await connection.run_sync(_upgrade, self.url)

    async def close(self) -> None:
        async with self._gate:
            kept, self._kept = self._kept, None
            if kept is not None:
                await kept.close()
        await self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(sync_connection: Any, url: str) -> None:
    from alembic import command

    config = alembic_config(url)
    config.attributes["connection"] = sync_connection
    command.upgrade(config, "head")
