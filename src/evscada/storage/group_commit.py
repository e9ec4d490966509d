"""Group commit: what many stations send at once goes to the database in one transaction.

Each caller waits for the commit that holds its write, so a station is answered only once its data is stored.
While one commit runs, the next batch gathers (no timers: under load batches grow, when quiet each is one).
A writer whose batches cannot conflict may run several commits at once on a database with a connection pool
(PostgreSQL), so the server's own work overlaps the database's; SQLite has one writer and runs one at a time.
A batch the database refuses is written again one write at a time, so only the write it refuses fails; when the
database itself is unavailable, every caller in the batch fails. Nothing is lost silently: each failed station gets
a CALLERROR and sends again.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.storage.db import Database, database_fault

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class Refused:
    """A result saying this one write was refused (its caller gets the error), the rest of the batch stands."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class GroupWriter(ABC, Generic[Item, Result]):
    """A queue of writes flushed in batches of at most `max_batch`, one transaction each."""

    what = "writes"  # for the log: "writing 12 <what> failed"

    def __init__(self, database: Database, *, max_batch: int, concurrency: int = 1) -> None:
        self._database = database
        self._max_batch = max_batch
        self._concurrency = max(1, concurrency)  # commits in flight at once; 1 keeps batches in order
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushers: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> bool:
        """Writes are waiting or being written."""
        return bool(self._queue) or self._running() > 0

    async def submit(self, item: Item) -> Result:
        """Queue the write and wait until the transaction that holds it has committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._running() < self._concurrency:
            flusher = asyncio.create_task(self._flush(), name=f"group-commit-{self.what}")
            self._flushers.add(flusher)
            flusher.add_done_callback(self._flushers.discard)
        return await future

    def _running(self) -> int:
        # A finished flusher leaves the set only when its done-callback runs, a loop iteration later.
        return sum(1 for flusher in self._flushers if not flusher.done())

    async def close(self) -> None:
        """Let the last batches reach the database."""
        while self._flushers:
            await asyncio.shield(asyncio.gather(*self._flushers, return_exceptions=True))

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            async with self.session() as connection:
                results = await self.write(connection, [item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and not database_fault(exc):
                # One write the database refuses (a value out of a column's range, say) must not fail the
                # stations whose writes shared its batch, again at every resend: each is written alone.
                log.warning(
                    "writing %d %s failed (%s: %.300s); writing them one at a time",
                    len(batch),
                    self.what,
                    type(exc).__name__,
                    str(exc).partition("\n")[0],  # the statement and its parameters follow: thousands of them
                )
                for one in batch:
                    await self._commit([one])
                return
            log.exception("writing %d %s failed", len(batch), self.what)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._database.faults.wrote()  # PostgreSQL cannot tell a transaction that wrote from one that read
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller gave up (cancelled); the data is stored anyway
                continue
            if isinstance(result, Refused):
                future.set_exception(result.error)
            else:
                future.set_result(result)

    def session(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """Where one batch is written: a transaction; a writer that writes a batch in one statement may say so."""
        return self._database.transaction()

    @abstractmethod
    async def write(self, connection: AsyncConnection, items: Sequence[Item]) -> Sequence[Result | Refused]:
        """Write the batch on the session's connection (see session); one result per item, in order."""
