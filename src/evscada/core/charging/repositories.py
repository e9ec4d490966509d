"""What storage keeps of charging, as Protocols: tokens, transactions and the meter samples recorded with them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from evscada.core.model import EvseRef, MeterSample, StationId, Token, Transaction, TransactionPk


class TokenRepository(Protocol):
    async def get(self, *, value: str) -> Token | None: ...

    async def upsert(self, *, token: Token) -> None: ...

    async def list(self, *, limit: int, offset: int, search: str | None = None) -> list[Token]:
        """By value; `search`: only tokens whose value or vehicle name contains it (any case)."""
        ...

    async def count(self, *, search: str | None = None) -> int:
        """How many tokens `list` would page through with this search."""
        ...

    async def delete(self, *, value: str) -> bool: ...

    async def priorities(self) -> dict[str, int]:
        """The tokens that have a load management priority, by value."""
        ...


class TransactionRepository(Protocol):
    async def add(self, *, transaction: Transaction) -> Transaction:
        """Insert; assigns pk, and station_transaction_id = str(pk) when the station gave none (1.6)."""
        ...

    async def find(self, *, station_id: StationId, station_transaction_id: str) -> Transaction | None: ...

    async def find_start(
        self, *, station_id: StationId, evse: EvseRef, started_at: datetime, id_token: str | None
    ) -> Transaction | None: ...

    async def running_with_token(self, *, id_token: str) -> int: ...

    async def save(self, *, transaction: Transaction) -> None:
        """Write the record; storage stamps updated_at inside the write (the export cursor follows it)."""
        ...

    async def release_number(self, *, pk: TransactionPk) -> None:
        """The stored transaction gives up its station transaction id to a new session the station named alike."""
        ...

    async def add_event(
        self,
        *,
        transaction_pk: TransactionPk,
        digest: str,
        seq_no: int | None,
        event_type: str,
        trigger_reason: str | None,
        timestamp: datetime,
        received_at: datetime,
    ) -> bool:
        """Record one event of the transaction by its digest; False when the same event was stored already."""
        ...


class MeterSampleRepository(Protocol):
    async def add(
        self,
        *,
        station_id: StationId,
        evse: EvseRef,
        transaction_pk: TransactionPk | None,
        samples: Sequence[MeterSample],
        skip_stored: bool = False,
    ) -> None:
        """Store the samples, each identical one once; `skip_stored`: also leave out those the transaction's
        readings at the same times hold already."""
        ...


@dataclass(frozen=True, slots=True)
class MeterWrite:
    stored: bool  # False: the same message was stored before (a repeat)
    transaction_pk: TransactionPk | None


class MeterSampleSink(Protocol):
    """Where MeterValues go: writes may be grouped with other stations' into one commit, never skipped."""

    async def append(
        self,
        *,
        station_id: StationId,
        evse: EvseRef,
        station_transaction_id: str | None,
        samples: Sequence[MeterSample],
        message_key: str | None,
        at: datetime,
    ) -> MeterWrite: ...
