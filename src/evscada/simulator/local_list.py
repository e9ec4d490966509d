"""The local authorization list a station keeps for when the CSMS is out of reach."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class LocalList:
    def __init__(self) -> None:
        self.version = 0
        self.entries: dict[str, Any] = {}  # token -> its id tag info as the CSMS sent it

    def update(self, *, version: int, full: bool, entries: Mapping[str, Any | None]) -> str:
        """Accepted, or VersionMismatch for a differential update that is not newer; no info removes a token."""
        if not full and version <= self.version:
            return "VersionMismatch"
        if full:
            self.entries = {}
        for token, info in entries.items():
            if info is None:
                self.entries.pop(token, None)
            else:
                self.entries[token] = info
        self.version = version
        return "Accepted"
