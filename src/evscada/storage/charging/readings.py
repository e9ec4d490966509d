"""Sampled values packed into meter_readings rows: one row per message and time, its values as a JSON array."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime

import orjson

from evscada.core.model import MeterSample
from evscada.storage.tables import SAMPLE_ID_SPAN


def readings(samples: Sequence[MeterSample]) -> Iterator[tuple[datetime, str]]:
    """(time, packed values) per reading: the samples grouped by their time, in the order the station sent them,
    each identical value once (a station may send one twice in a message), at most SAMPLE_ID_SPAN values to a
    reading (the view numbers a reading's values below it)."""
    by_time: dict[datetime, dict[tuple[object, ...], None]] = {}
    for s in samples:
        by_time.setdefault(s.timestamp, {})[packed(s)] = None
    for at, unique in by_time.items():
        values = list(unique)
        for start in range(0, len(values), SAMPLE_ID_SPAN):
            yield at, orjson.dumps(values[start : start + SAMPLE_ID_SPAN]).decode()


def packed(s: MeterSample) -> tuple[object, ...]:
    """A value as a reading holds it: [measurand, phase, location, context, unit, value, raw]."""
    value, raw = s.value, s.raw
    if value is not None and not math.isfinite(value):
        # JSON has no NaN or infinity: the value is no number to readers anyway (historian.finite), and the
        # text keeps what the station meant.
        value, raw = None, raw or str(value)
    return (s.measurand, s.phase, s.location, s.context, s.unit, value, raw)
