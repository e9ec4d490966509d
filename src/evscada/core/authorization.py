"""Deciding whether an idTag / idToken may charge."""

from __future__ import annotations

from evscada.core.model import AuthorizationResult, AuthorizationStatus, IdToken, StationId, Token
from evscada.core.ports import Clock, Store, UnitOfWork
from evscada.core.queries import NotFound


class AuthorizationService:
    def __init__(self, *, store: Store, clock: Clock, allow_concurrent_transactions: bool) -> None:
        self._store = store
        self._clock = clock
        self._allow_concurrent = allow_concurrent_transactions

    async def authorize(self, *, station_id: StationId, id_token: IdToken) -> AuthorizationResult:
        async with self._store.unit() as uow:
            return await self.check(uow, id_token=id_token, starting=False)

    async def check(self, uow: UnitOfWork, *, id_token: IdToken, starting: bool) -> AuthorizationResult:
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
        return AuthorizationResult(status=status, expires_at=token.expires_at, group_id=token.group_id)

    def _status_of(self, token: Token) -> AuthorizationStatus:
        if token.status == AuthorizationStatus.ACCEPTED and token.expires_at and token.expires_at <= self._clock.now():
            return AuthorizationStatus.EXPIRED
        return token.status

    async def save_token(self, *, token: Token) -> None:
        async with self._store.unit() as uow:
            await uow.tokens.upsert(token=token)

    async def tokens(self, *, limit: int = 100, offset: int = 0) -> list[Token]:
        async with self._store.unit() as uow:
            return await uow.tokens.list(limit=limit, offset=offset)

    async def token(self, *, value: str) -> Token:
        async with self._store.unit() as uow:
            token = await uow.tokens.get(value=value)
        if token is None:
            raise NotFound(f"no token {value}")
        return token

    async def delete_token(self, *, value: str) -> None:
        """Forget a token; transactions keep the value they were charged to."""
        async with self._store.unit() as uow:
            if not await uow.tokens.delete(value=value):
                raise NotFound(f"no token {value}")
