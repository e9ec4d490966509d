"""Reservations: an EVSE held for a token until a time; stored, sent, cancelled, used or expired.

Expiry is applied on read: every read of reservations first marks the due ones expired in the same database
transaction. No timer has to be owned, an API-only process sees the same state as the gateway, and what is
stored always matches what was shown. Stations expire their own copy (2.0.1 says so in ReservationStatusUpdate).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from evscada.core.charging.repositories import TokenRepository
from evscada.core.control.commands import (
    CancelReservation,
    CommandOutcome,
    CommandOutcomeKind,
    CommandService,
    ReserveNow,
)
from evscada.core.errors import DomainError, InvalidArgument, ReservationNotActive, UnknownReservation, UnknownStation
from evscada.core.model import AuthorizationStatus, IdToken, StationId, StationMessage, TransactionPk
from evscada.core.ports import Clock, Store
from evscada.core.stations.repositories import StationMessageRepository, StationRepository

log = logging.getLogger(__name__)


class ReservationStatus(enum.StrEnum):
    PENDING = "pending"  # sent, no answer yet
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the station's answers: Rejected, Faulted, Occupied, Unavailable
    FAULTED = "faulted"
    OCCUPIED = "occupied"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"  # no answer: offline, timeout, CALLERROR, or the version cannot express it
    CANCELLED = "cancelled"  # by an operator (CancelReservation accepted)
    REMOVED = "removed"  # by the station (2.0.1 ReservationStatusUpdate Removed)
    EXPIRED = "expired"
    USED = "used"  # a transaction started with it


ACTIVE = frozenset({ReservationStatus.PENDING, ReservationStatus.ACCEPTED})

_ANSWERS = {
    "Accepted": ReservationStatus.ACCEPTED,
    "Rejected": ReservationStatus.REJECTED,
    "Faulted": ReservationStatus.FAULTED,
    "Occupied": ReservationStatus.OCCUPIED,
    "Unavailable": ReservationStatus.UNAVAILABLE,
}


@dataclass(slots=True)
class Reservation:
    id: int  # also the reservationId the station knows it by
    station_id: StationId
    evse_id: int | None  # 1.6: the connector; None: any
    connector_type: str | None
    id_token: str
    token_type: str
    group_id: str | None
    expires_at: datetime
    status: ReservationStatus
    created_by: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    command_id: int | None = None
    cancel_command_id: int | None = None
    transaction_pk: TransactionPk | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True, slots=True)
class ReservationFilter:
    station_id: StationId | None = None
    statuses: frozenset[ReservationStatus] = frozenset()  # empty: any
    limit: int = 100
    offset: int = 0


class ReservationRepository(Protocol):
    async def add(self, *, reservation: Reservation) -> Reservation:
        """Insert; assigns the id."""
        ...

    async def get(self, *, reservation_id: int) -> Reservation | None: ...

    async def save(self, *, reservation: Reservation) -> None: ...

    async def list(self, *, where: ReservationFilter) -> list[Reservation]: ...

    async def expire_due(self, *, now: datetime) -> int:
        """Mark active reservations whose time is up as expired; how many."""
        ...

    async def mark_used(
        self, *, station_id: StationId, reservation_id: int, transaction_pk: TransactionPk, at: datetime
    ) -> bool: ...

    async def station_ended(
        self, *, station_id: StationId, reservation_id: int, status: ReservationStatus, at: datetime
    ) -> bool:
        """The station says an active reservation ended (expired or removed)."""
        ...


@dataclass(frozen=True, slots=True)
class ReservationSent:
    reservation: Reservation
    outcome: CommandOutcome


class ReservationUnit(Protocol):
    reservations: ReservationRepository
    stations: StationRepository
    tokens: TokenRepository  # a reservation holds for an accepted token
    messages: StationMessageRepository  # 2.0.1 ReservationStatusUpdate is kept as a message


class ReservationService:
    def __init__(self, *, store: Store[ReservationUnit], clock: Clock, commands: CommandService) -> None:
        self._store = store
        self._clock = clock
        self._commands = commands

    async def reserve(
        self,
        *,
        station_id: StationId,
        id_token: str,
        expires_at: datetime,
        evse_id: int | None = None,
        connector_type: str | None = None,
        group_id: str | None = None,
        actor: str,
        reason: str | None = None,
    ) -> ReservationSent:
        """Store the reservation, send ReserveNow with its id, and keep the station's answer as its status."""
        now = self._clock.now()
        if expires_at <= now:
            raise InvalidArgument(f"expires_at: {expires_at.isoformat()} is not in the future")
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise UnknownStation(f"station {station_id} is not registered")
            token = await uow.tokens.get(value=id_token)
            if token is None:
                raise InvalidArgument(f"id_token: no token {id_token!r} in the token table; add it first")
            if token.status != AuthorizationStatus.ACCEPTED:
                raise InvalidArgument(f"id_token: token {id_token!r} is {token.status}, it cannot reserve")
            reservation = await uow.reservations.add(
                reservation=Reservation(
                    id=0,
                    station_id=station_id,
                    evse_id=evse_id,
                    connector_type=connector_type,
                    id_token=token.value,
                    token_type=token.type,
                    group_id=group_id if group_id is not None else token.group_id,
                    expires_at=expires_at,
                    status=ReservationStatus.PENDING,
                    created_by=actor,
                    reason=reason,
                    created_at=now,
                    updated_at=now,
                )
            )
        command = ReserveNow(
            reservation_id=reservation.id,
            id_token=IdToken(reservation.id_token, reservation.token_type),
            expires_at=expires_at,
            evse_id=evse_id,
            connector_type=connector_type,
            group_id=reservation.group_id,
        )
        try:
            outcome = await self._commands.send(station_id=station_id, command=command, actor=actor, reason=reason)
        except DomainError:  # the version cannot express it (CommandNotSupported): logged, nothing held
            await self._settle(reservation, ReservationStatus.FAILED, None)
            raise
        status = ReservationStatus.FAILED
        if outcome.outcome == CommandOutcomeKind.ANSWERED:
            status = _ANSWERS.get(outcome.status or "", ReservationStatus.REJECTED)
        await self._settle(reservation, status, outcome.command_id)
        return ReservationSent(reservation=reservation, outcome=outcome)

    async def _settle(self, reservation: Reservation, status: ReservationStatus, command_id: int | None) -> None:
        async with self._store.unit() as uow:
            stored = await uow.reservations.get(reservation_id=reservation.id)
            # A fast station may have started with it (used) before its answer was settled here.
            if stored is not None and stored.status == ReservationStatus.PENDING:
                reservation.status = status
            elif stored is not None:
                reservation.status = stored.status
            reservation.command_id = command_id
            reservation.updated_at = self._clock.now()
            await uow.reservations.save(reservation=reservation)

    async def cancel(self, *, reservation_id: int, actor: str, reason: str | None = None) -> ReservationSent:
        """Send CancelReservation; only an accepted cancellation ends the reservation here."""
        reservation = await self.get(reservation_id=reservation_id)
        if not reservation.active:
            raise ReservationNotActive(f"reservation {reservation_id} is {reservation.status}; nothing to cancel")
        outcome = await self._commands.send(
            station_id=reservation.station_id,
            command=CancelReservation(reservation_id=reservation.id),
            actor=actor,
            reason=reason,
        )
        async with self._store.unit() as uow:
            stored = await uow.reservations.get(reservation_id=reservation_id)
            assert stored is not None
            stored.cancel_command_id = outcome.command_id
            if outcome.outcome == CommandOutcomeKind.ANSWERED and outcome.status == "Accepted" and stored.active:
                stored.status = ReservationStatus.CANCELLED
            stored.updated_at = self._clock.now()
            await uow.reservations.save(reservation=stored)
        return ReservationSent(reservation=stored, outcome=outcome)

    async def get(self, *, reservation_id: int) -> Reservation:
        async with self._store.unit() as uow:
            await uow.reservations.expire_due(now=self._clock.now())
            reservation = await uow.reservations.get(reservation_id=reservation_id)
        if reservation is None:
            raise UnknownReservation(f"no reservation {reservation_id}")
        return reservation

    async def list(self, *, where: ReservationFilter) -> list[Reservation]:
        async with self._store.unit() as uow:
            await uow.reservations.expire_due(now=self._clock.now())
            return await uow.reservations.list(where=where)

    async def station_update(
        self, *, station_id: StationId, reservation_id: int, update: str, message: StationMessage
    ) -> None:
        """2.0.1 ReservationStatusUpdate: kept as a message, and the reservation ends (Expired or Removed)."""
        status = ReservationStatus.EXPIRED if update == "Expired" else ReservationStatus.REMOVED
        now = self._clock.now()
        async with self._store.unit() as uow:
            await uow.messages.add(station_id=station_id, message=message, received_at=now)
            if not await uow.reservations.station_ended(
                station_id=station_id, reservation_id=reservation_id, status=status, at=now
            ):
                log.info("%s: reservation %d %s, not active here", station_id, reservation_id, update)
