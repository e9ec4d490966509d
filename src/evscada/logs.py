"""Logging that stays readable when one fault repeats: a full disk failed every write of 200 stations, and the log
wrote 18,000 tracebacks a minute onto that disk."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

REPEAT_INTERVAL = 60.0  # seconds: an identical error is written once per interval, with how often it came


class RepeatedErrors(logging.Filter):
    """Lets the first of identical errors through with its traceback, then one line per interval with a count.

    Identical: the same logger, exception type and first line of the exception's message, whatever the log message
    says around it (a station id, a batch size), so 200 stations failing alike make one line, not 200.
    """

    MAX_KINDS = 1000  # distinct errors remembered; a flood of different ones must not grow memory without end

    def __init__(self, *, interval: float = REPEAT_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._seen: dict[tuple[str, str, str], tuple[float, int]] = {}  # kind -> (last written, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        verdict: bool | None = getattr(record, "repeat_verdict", None)
        if verdict is None:  # one decision per record, however many handlers share this filter
            verdict = record.repeat_verdict = self._decide(record)
        return verdict

    def _decide(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or record.levelno < logging.WARNING:
            return True
        first_line = str(error).partition("\n")[0][:200]
        kind = (record.name, type(error).__qualname__, first_line)
        now = self._clock()
        written = self._seen.get(kind)
        if written is not None and now - written[0] < self._interval:
            self._seen[kind] = (written[0], written[1] + 1)
            return False
        if written is not None and written[1]:
            # A repeat: one line, no traceback (the first one had it).
            held, seconds = written[1], now - written[0]
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {first_line} ({held} more in {seconds:.0f} s)"
            record.args = ()
            record.exc_info, record.exc_text = None, None
        if len(self._seen) >= self.MAX_KINDS and kind not in self._seen:
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self._interval}
            if len(self._seen) >= self.MAX_KINDS:
                self._seen.clear()
        self._seen[kind] = (now, 0)
        return True


def collapse_repeated_errors(interval: float = REPEAT_INTERVAL) -> RepeatedErrors:
    """Put one RepeatedErrors filter on every handler of the root logger (what `logging.basicConfig` made)."""
    repeated = RepeatedErrors(interval=interval)
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeated)
    return repeated
