"""Shared fixtures: a real CSMS on ephemeral ports over SQLite, and over PostgreSQL when configured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from evscada.app import Application
from evscada.settings import Settings
from evscada.storage.db import Database
from tests.support import Csms

# fixtures `smtp` and `receiver` (a real SMTP server and HTTP receiver); a hung test fails with its tasks' state
pytest_plugins = ["tests.outside_parties", "tests.watchdog"]

POSTGRES_URL = os.environ.get("EVSCADA_TEST_POSTGRES_URL")
REQUIRE_SERVICES = bool(os.environ.get("EVSCADA_TEST_REQUIRE_SERVICES"))

# Every CSMS starts two httpx clients and most tests another: with a CA bundle file each client parses ~150
# certificates (a tenth of a second apiece). A hashed CA directory is read lazily, only for a TLS peer, and no test
# reaches a public TLS server; tests of TLS bring their own contexts.
if os.path.isdir("/etc/ssl/certs"):
    os.environ.pop("SSL_CERT_FILE", None)
    os.environ["SSL_CERT_DIR"] = "/etc/ssl/certs"


def _postgres_admin(url: str) -> tuple[str, dict[str, object]]:
    parsed = make_url(url)
    return parsed.database or "postgres", {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
    }


async def _create_postgres_database(admin_url: str, name: str) -> None:
    import asyncpg

    database, options = _postgres_admin(admin_url)
    connection = await asyncpg.connect(database=database, **options)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_postgres_database(admin_url: str, name: str) -> None:
    import asyncpg

    database, options = _postgres_admin(admin_url)
    connection = await asyncpg.connect(database=database, **options)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """One PostgreSQL database for the whole run, migrated once, dropped at the end."""
    with _scratch_postgres_database() as url:

        async def migrate() -> None:
            database = Database(url)
            await database.migrate()
            await database.close()

        asyncio.run(migrate())
        yield url


@contextlib.contextmanager
def _scratch_postgres_database() -> Iterator[str]:
    """An empty database of its own on the test PostgreSQL server, dropped afterwards (or a skip with the reason)."""
    if not POSTGRES_URL:
        if REQUIRE_SERVICES:
            pytest.fail("EVSCADA_TEST_POSTGRES_URL is not set but CI requires the PostgreSQL tests")
        pytest.skip(
            "PostgreSQL tests need EVSCADA_TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1/postgres)"
        )
    name = f"evscada_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_create_postgres_database(POSTGRES_URL, name))
    except OSError as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_drop_postgres_database(POSTGRES_URL, name))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'evscada.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any schema yet, for migration tests: a SQLite file, or a scratch PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'evscada.db'}"
        return
    with _scratch_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'evscada.db'}"


def test_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "ocpp_host": "127.0.0.1",
        "ocpp_port": 0,
        "ocpp_tls_port": 0,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "websocket_ping_interval": None,
        "heartbeat_interval": 60,
        "call_timeout": 5.0,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


async def start_csms(settings: Settings) -> AsyncIterator[Csms]:
    url = make_url(settings.database_url)
    fresh = url.get_backend_name() == "sqlite" and url.database and not os.path.exists(url.database)  # noqa: ASYNC240
    if fresh:
        # A copy of a database migrated once per run: the same schema as migrating this file, without
        # re-running every migration for every test (migrate() below then finds it at the head).
        shutil.copyfile(await _migrated_sqlite_template(), str(url.database))
    app = Application(settings)
    await app.database.migrate()
    if app.database.engine.dialect.name == "postgresql":
        await _empty_postgres(settings.database_url)
    async with app:
        yield Csms(app)


_sqlite_template: Path | None = None


async def _migrated_sqlite_template() -> Path:
    global _sqlite_template  # noqa: PLW0603  # one per test process (each xdist worker has its own)
    if _sqlite_template is None:
        import atexit
        import tempfile

        folder = tempfile.mkdtemp(prefix="evscada-template-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / "evscada.db"
        database = Database(f"sqlite+aiosqlite:///{path}")
        await database.migrate()
        await database.close()  # the last connection's close checkpoints the WAL into the file
        assert not path.with_name(path.name + "-wal").exists(), "the template's WAL was not checkpointed"
        _sqlite_template = path
    return _sqlite_template


async def _truncate(database: Database) -> None:
    await _empty_postgres(database.url)


async def _empty_postgres(url: str) -> None:
    """Empty every table and restart its ids, as TRUNCATE ... RESTART IDENTITY would: DELETE on these small tables
    takes a few milliseconds where TRUNCATE of all of them took a quarter of a second per test."""
    import asyncpg

    from evscada.storage.tables import metadata

    script = "".join(f'DELETE FROM "{table.name}";' for table in reversed(metadata.sorted_tables))
    script += (
        "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)"
        " FROM pg_sequences WHERE last_value IS NOT NULL;"
    )
    database, options = _postgres_admin(url)
    connection = await asyncpg.connect(database=database, **options)
    try:
        await connection.execute(script)  # one implicit transaction for the whole script
    finally:
        await connection.close()


@pytest.fixture
async def csms(database_url: str) -> AsyncIterator[Csms]:
    """A running CSMS (OCPP gateway on an ephemeral port) on SQLite and on PostgreSQL."""
    async for running in start_csms(test_settings(database_url)):
        yield running


@pytest.fixture
async def csms_sqlite(sqlite_url: str) -> AsyncIterator[Csms]:
    """The same on SQLite only, for protocol-level tests where storage does not vary."""
    async for running in start_csms(test_settings(sqlite_url)):
        yield running

