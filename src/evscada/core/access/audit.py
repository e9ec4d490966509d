"""The audit log: who changed what and which commands were sent, written in the same transaction as the change."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from evscada.core.clock import SystemClock
from evscada.core.ports import Clock, Store

SYSTEM = "system"  # changes nobody asked for directly (auto-registration, the demo)
CLI = "cli"  # changes made with the `evscada` command line

# Names whose values never reach the audit log (station passwords, 1.6 AuthorizationKey, 2.0.1 BasicAuthPassword).
_SECRET = re.compile(r"password|secret|authorizationkey|key_hash|api_key", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str  # a username, "cli" or "system"
    action: str  # "<target type>.<verb>": token.block, station.update, command.reset ...
    target_type: str  # station | token | vehicle | site | user | api_key
    target_id: str
    details: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # a prefix: "token" matches token.block, token.delete ...
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0
    text: str | None = None  # contained (any case) in the actor, action or target id: a search box's words


class AuditRepository(Protocol):
    async def add(self, *, entry: AuditEntry) -> None: ...

    async def add_many(self, *, entries: Sequence[AuditEntry]) -> None:
        """Insert them all at once (a batch of commands)."""
        ...

    async def list(self, *, where: AuditFilter) -> list[AuditEntry]:
        """Newest first."""
        ...


class AuditUnit(Protocol):
    """What an audit entry needs of the unit of work it commits with."""

    audit: AuditRepository


def scrub(value: Any) -> Any:
    """The details without secrets: a secret-named field, or the value of a secret-named setting, is masked."""
    if isinstance(value, dict):
        named_secret = isinstance(value.get("name"), str) and _SECRET.search(value["name"]) is not None
        clean: dict[str, Any] = {}
        for key, item in value.items():
            if _SECRET.search(str(key)) and isinstance(item, str):
                clean[key] = "***"
            elif key == "setting" and isinstance(item, dict) and _SECRET.search(str(item.get("name", ""))):
                clean[key] = scrub(item)
                named_secret = True
            else:
                clean[key] = scrub(item)
        if named_secret and "value" in clean:
            clean["value"] = "***"
        return clean
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


class Auditor:
    """Services call it inside their unit of work, so a change and its audit entry commit together or not at all."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()

    async def record(
        self,
        uow: AuditUnit,
        *,
        actor: str,
        action: str,
        target_type: str,
        target_id: object,
        details: dict[str, Any] | None = None,
    ) -> None:
        entry = self.entry(actor=actor, action=action, target_type=target_type, target_id=target_id, details=details)
        await uow.audit.add(entry=entry)

    def entry(
        self, *, actor: str, action: str, target_type: str, target_id: object, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        """The entry `record` writes, for `record_many`: stamped now, its secrets masked."""
        return AuditEntry(
            at=self._clock.now(),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            details=scrub(details or {}),
        )

    async def record_many(self, uow: AuditUnit, entries: Sequence[AuditEntry]) -> None:
        """Write entries made by `entry` in one statement (a batch of commands)."""
        await uow.audit.add_many(entries=entries)


class AuditService:
    def __init__(self, *, store: Store[AuditUnit]) -> None:
        self._store = store

    async def entries(self, *, where: AuditFilter) -> list[AuditEntry]:
        async with self._store.unit() as uow:
            return await uow.audit.list(where=where)
