"""Deciding whether an idTag / idToken may charge."""

from __future__ import annotations

from typing import Protocol

from evscada.core.access.audit import SYSTEM, Auditor, AuditRepository
from evscada.core.access.vehicles import VehicleRepository
from evscada.core.charging.repositories import TokenRepository, TransactionRepository
from evscada.core.errors import InvalidArgument, NotFound, UnknownVehicle
from evscada.core.model import AuthorizationResult, AuthorizationStatus, IdToken, StationId, Token
from evscada.core.ports import Clock, Store


class TokenCheckUnit(Protocol):
    """What checking a token reads, inside the caller's unit of work."""

    tokens: TokenRepository
    transactions: TransactionRepository  # the concurrent-session rule


class AuthorizationUnit(Protocol):
    tokens: TokenRepository
    transactions: TransactionRepository
    vehicles: VehicleRepository  # a token names an existing vehicle
    audit: AuditRepository


class AuthorizationService:
    def __init__(
        self,
        *,
        store: Store[AuthorizationUnit],
        clock: Clock,
        allow_concurrent_transactions: bool,
        audit: Auditor | None = None,
    ) -> None:
        self._audit = audit or Auditor(clock=clock)
        self._store = store
        self._clock = clock
        self._allow_concurrent = allow_concurrent_transactions

    async def authorize(self, *, station_id: StationId, id_token: IdToken) -> AuthorizationResult:
        async with self._store.unit() as uow:
            return await self.check(uow, id_token=id_token, starting=False)

    async def check(self, uow: TokenCheckUnit, *, id_token: IdToken, starting: bool) -> AuthorizationResult:
        """Evaluate a token inside the caller's unit of work; `starting` adds the concurrent-session rule."""
        token = await uow.tokens.get(value=id_token.value)
        if token is None:
            return AuthorizationResult(status=AuthorizationStatus.INVALID)
        status = self._status_of(token)
        if (
            status == AuthorizationStatus.ACCEPTED
            and starting
            and not self._allow_concurrent
            and await uow.transactions.running_with_token(id_token=token.value) > 0
        ):
            status = AuthorizationStatus.CONCURRENT_TX
        return AuthorizationResult(
            status=status, expires_at=token.expires_at, group_id=token.group_id, vehicle_id=token.vehicle_id
        )

    def _status_of(self, token: Token) -> AuthorizationStatus:
        if token.status == AuthorizationStatus.ACCEPTED and token.expires_at and token.expires_at <= self._clock.now():
            return AuthorizationStatus.EXPIRED
        return token.status

    async def save_token(
        self, *, token: Token, actor: str = SYSTEM, keep_vehicle: bool = False, keep_priority: bool = True
    ) -> Token:
        """Create or replace a token; a vehicle it names must exist. `keep_vehicle`, `keep_priority`: the stored
        link or priority stays (forms that do not show them)."""
        if token.priority is not None and not 0 <= token.priority <= 100:
            raise InvalidArgument(f"priority: must be 0 to 100, not {token.priority}", field="priority")
        async with self._store.unit() as uow:
            before = await uow.tokens.get(value=token.value)
            if keep_priority:
                token.priority = before.priority if before is not None else token.priority
            if keep_vehicle:
                token.vehicle_id = before.vehicle_id if before is not None else None
            elif token.vehicle_id is not None and await uow.vehicles.get(vehicle_id=token.vehicle_id) is None:
                raise UnknownVehicle(f"no vehicle {token.vehicle_id}")
            await uow.tokens.upsert(token=token)
            await self._audit.record(
                uow,
                actor=actor,
                action="token.create" if before is None else "token.update",
                target_type="token",
                target_id=token.value,
                details=_token_details(token),
            )
        return token

    async def priorities(self) -> dict[str, int]:
        """The tokens that have a load management priority, by value."""
        async with self._store.unit() as uow:
            return await uow.tokens.priorities()

    async def set_status(self, *, value: str, status: AuthorizationStatus, actor: str = SYSTEM) -> Token:
        """Block or unblock a token; stations answer with the new status from now on."""
        async with self._store.unit() as uow:
            token = await uow.tokens.get(value=value)
            if token is None:
                raise NotFound(f"no token {value}")
            before = token.status
            token.status = status
            await uow.tokens.upsert(token=token)
            action = {AuthorizationStatus.BLOCKED: "token.block", AuthorizationStatus.ACCEPTED: "token.unblock"}
            await self._audit.record(
                uow,
                actor=actor,
                action=action.get(status, "token.update"),
                target_type="token",
                target_id=value,
                details={"from": str(before), "to": str(status)},
            )
        return token

    async def tokens(self, *, limit: int = 100, offset: int = 0, search: str | None = None) -> list[Token]:
        """A page of tokens by value; `search` keeps those whose value or vehicle name contains it."""
        async with self._store.unit() as uow:
            return await uow.tokens.list(limit=limit, offset=offset, search=search)

    async def count_tokens(self, *, search: str | None = None) -> int:
        """How many tokens there are (matching `search`): the total a paged list shows."""
        async with self._store.unit() as uow:
            return await uow.tokens.count(search=search)

    async def token(self, *, value: str) -> Token:
        async with self._store.unit() as uow:
            token = await uow.tokens.get(value=value)
        if token is None:
            raise NotFound(f"no token {value}")
        return token

    async def delete_token(self, *, value: str, actor: str = SYSTEM) -> None:
        """Forget a token; transactions keep the value they were charged to."""
        async with self._store.unit() as uow:
            if not await uow.tokens.delete(value=value):
                raise NotFound(f"no token {value}")
            await self._audit.record(uow, actor=actor, action="token.delete", target_type="token", target_id=value)


def _token_details(token: Token) -> dict[str, object]:
    return {
        "type": token.type,
        "status": str(token.status),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "group_id": token.group_id,
        "vehicle_id": token.vehicle_id,
        "priority": token.priority,
    }
