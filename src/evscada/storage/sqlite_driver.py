"""aiosqlite with one trip to the database thread per statement.

SQLAlchemy's aiosqlite adapter makes four trips to aiosqlite's thread for a SELECT (open a cursor, execute,
fetch, close) and three for an INSERT or UPDATE. Each trip wakes the other thread and waits for the event loop to
be woken back: about 40 µs on one core and over 100 µs across two, where SQLite itself needs about 10 µs for the
statement. The cursor here opens, executes, fetches every row and closes in one trip, and hands SQLAlchemy the
rows it already holds (docs/performance.md, "connection storm").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

_ITER_CHUNK_SIZE = 64


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> tuple[sqlite3.Cursor, list[Any]]:
    """In the database thread: the whole life of one cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description is not None else []
    finally:
        cursor.close()  # description, rowcount and lastrowid stay readable
    return cursor, rows


class OneTripCursor(aiosqlite.Cursor):
    """A cursor whose statement runs and is read in one trip; fetching afterwards needs no trip."""

    def __init__(self, connection: OneTripConnection) -> None:
        self.iter_chunk_size = _ITER_CHUNK_SIZE
        self._conn = connection
        self._cursor: sqlite3.Cursor | None = None  # type: ignore[assignment]
        self._rows: list[Any] = []

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneTripCursor:
        self._cursor, self._rows = await self._conn.run_statement(sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneTripCursor:
        self._cursor, self._rows = await self._conn.run_statement(sql, parameters, many=True)
        return self

    async def executescript(self, sql_script: str) -> OneTripCursor:
        await self._conn.run_script(sql_script)
        self._cursor, self._rows = None, []
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = size if size is not None else (self._cursor.arraysize if self._cursor is not None else 1)
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []  # the sqlite3 cursor was closed in its trip

    @property
    def rowcount(self) -> int:
        return -1 if self._cursor is None else self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return None if self._cursor is None else self._cursor.lastrowid

    @property
    def description(self) -> Any:
        return None if self._cursor is None else self._cursor.description

    @property
    def arraysize(self) -> int:
        return 1 if self._cursor is None else self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        if self._cursor is not None:
            self._cursor.arraysize = value


class _Opened:
    """What `cursor()` returns: awaitable or usable as `async with`, as aiosqlite's own, without a trip."""

    def __init__(self, cursor: OneTripCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        yield from ()
        return self._cursor

    async def __aenter__(self) -> OneTripCursor:
        return self._cursor

    async def __aexit__(self, *_: object) -> None:
        await self._cursor.close()


class OneTripConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, _ITER_CHUNK_SIZE)
        thread = getattr(self, "_thread", None)
        if thread is not None:  # a forgotten engine must not keep the process alive
            thread.daemon = True

    def cursor(self) -> _Opened:  # type: ignore[override]
        return _Opened(OneTripCursor(self))

    async def run_statement(self, sql: str, parameters: Any, *, many: bool = False) -> tuple[sqlite3.Cursor, list[Any]]:
        return await self._execute(_run, self._conn, sql, parameters, many)

    async def run_script(self, sql_script: str) -> None:
        await self._execute(self._conn.executescript, sql_script)

    # A transaction that only read has nothing to end: SQLite opens one at the first write. Reading the flag
    # from this thread is safe: every statement of the transaction has come back before it ends.

    @property
    def in_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def connect(database: str) -> OneTripConnection:
    """For `create_async_engine(..., async_creator=...)`: the same connection aiosqlite would open."""
    return OneTripConnection(partial(sqlite3.connect, database, check_same_thread=True))
