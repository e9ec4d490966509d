"""Back-off after repeated failures (log-ins, passwords): pure, in memory, time from an injected clock."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

from evscada.core.ports import Clock

# Keys are chosen by whoever fails (user names, addresses): their number is bounded, the least recently failed go first.
MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class BackOffRule:
    """After `failures` failures within `window`, refuse for `first`, doubling with each further failure up to
    `longest`; the count starts over once `window` passes without a failure."""

    failures: int
    window: timedelta
    first: timedelta
    longest: timedelta

    def wait(self, level: int) -> timedelta:
        return min(self.first * 2 ** min(level - 1, 40), self.longest)


@dataclass(slots=True)
class _Record:
    failures: deque[datetime]
    level: int = 0  # back-offs in this burst
    until: datetime | None = None


class BackOff:
    """Failures by key; a key in back-off is refused without trying (no password hash spent on it)."""

    def __init__(self, rule: BackOffRule, *, clock: Clock, max_keys: int = MAX_KEYS) -> None:
        self.rule = rule
        self._clock = clock
        self._max_keys = max_keys
        self._records: dict[Hashable, _Record] = {}  # in order of the last failure, oldest first

    def __len__(self) -> int:
        """Keys held: bounded, whatever the failing side sends."""
        return len(self._records)

    def wait(self, key: Hashable) -> float:
        """Seconds until the key may try again; 0 now."""
        record = self._records.get(key)
        if record is None or record.until is None:
            return 0.0
        return max((record.until - self._clock.now()).total_seconds(), 0.0)

    def failures(self, key: Hashable) -> int:
        """Failures of the key within the window; 0: it has not failed lately."""
        record = self._records.get(key)
        if record is None:
            return 0
        since = self._clock.now() - self.rule.window
        return sum(1 for at in record.failures if at > since)

    def failed(self, key: Hashable) -> bool:
        """Count a failure; True when it starts a burst (the key's first back-off since it was last quiet)."""
        now = self._clock.now()
        record = self._records.pop(key, None) or _Record(deque(maxlen=self.rule.failures))
        self._forget_quiet(now)
        self._records[key] = record  # at the end: the most recently failed
        while record.failures and record.failures[0] <= now - self.rule.window:
            record.failures.popleft()
        if not record.failures:
            record.level = 0
        record.failures.append(now)
        if len(record.failures) < self.rule.failures:
            return False
        record.level += 1
        record.until = now + self.rule.wait(record.level)
        return record.level == 1

    def succeeded(self, key: Hashable) -> None:
        self._records.pop(key, None)

    def _forget_quiet(self, now: datetime) -> None:
        """Drop a few keys quiet for a window (their count would start over anyway), and the oldest beyond the bound."""
        for _ in range(2):
            oldest = next(iter(self._records.items()), None)
            if oldest is None or not self._quiet(oldest[1], now):
                break
            del self._records[oldest[0]]
        while len(self._records) >= self._max_keys:
            del self._records[next(iter(self._records))]

    def _quiet(self, record: _Record, now: datetime) -> bool:
        last = record.failures[-1] if record.failures else None
        waiting = record.until is not None and record.until > now
        return not waiting and (last is None or last <= now - self.rule.window)
