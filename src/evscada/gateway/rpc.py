"""OCPP-J framing: the RPC layer both versions share ([2, id, action, payload], [3, ...], [4, ...])."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from evscada.core.errors import InvalidArgument

CALL, CALLRESULT, CALLERROR = 2, 3, 4
UNKNOWN_ID = "-1"  # answer id when the frame's own id cannot be read (OCPP 2.0.1 part 4, 4.2.3)
MAX_UNIQUE_ID_LENGTH = 36
# How JSON writes U+0000: a frame without it holds no NUL, so only such frames are searched for one.
_NUL_ESCAPE = "\\u0000"


class FrameProblem(enum.Enum):
    """Why a frame could not be read; each version names the CALLERROR code for it (see Dialect)."""

    NOT_JSON = "not_json"
    NOT_AN_ARRAY = "not_an_array"
    BAD_UNIQUE_ID = "bad_unique_id"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    BAD_STRUCTURE = "bad_structure"
    NUL_CHARACTER = "nul_character"  # a payload string or key holds U+0000
    NUMBER_TOO_LARGE = "number_too_large"  # a number beyond a double (1e400): valid JSON, no value of OCPP's


class FrameError(Exception):
    def __init__(self, problem: FrameProblem, description: str, unique_id: str = UNKNOWN_ID) -> None:
        super().__init__(description)
        self.problem = problem
        self.description = description
        self.unique_id = unique_id


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]
    unstorable: str | None = None  # what makes the answer unfit to keep (a NUL, a number too large), if anything


@dataclass(frozen=True, slots=True)
class CallError:
    unique_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


Message = Call | CallResult | CallError


def parse(raw: str | bytes) -> Message:
    """Read one frame, text or binary; raises FrameError naming what is wrong."""
    try:
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # not replaced: a replacement character would change a value silently
        raise FrameError(FrameProblem.NOT_JSON, f"frame is not UTF-8: {exc}") from None
    frame, exact = _load(text)
    if not isinstance(frame, list) or not frame:
        raise FrameError(FrameProblem.NOT_AN_ARRAY, "frame is not a JSON array [MessageTypeId, UniqueId, ...]")
    type_id = frame[0]
    unique_id = frame[1] if len(frame) > 1 else None
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError(FrameProblem.BAD_UNIQUE_ID, "UniqueId must be a string of 1 to 36 characters")
    if type_id == CALL:
        if len(frame) != 4 or not isinstance(frame[2], str) or not isinstance(frame[3], dict):
            raise FrameError(FrameProblem.BAD_STRUCTURE, "a CALL is [2, UniqueId, Action, {payload}]", unique_id)
        unstorable = _unstorable(frame[3], text, exact)
        if unstorable is not None:
            raise FrameError(*unstorable, unique_id)
        return Call(unique_id, frame[2], frame[3])
    if type_id == CALLRESULT:
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError(FrameProblem.BAD_STRUCTURE, "a CALLRESULT is [3, UniqueId, {payload}]", unique_id)
        unstorable = _unstorable(frame[2], text, exact)
        return CallResult(unique_id, frame[2], None if unstorable is None else unstorable[1])
    if type_id == CALLERROR:
        if len(frame) < 4 or not isinstance(frame[2], str):
            raise FrameError(
                FrameProblem.BAD_STRUCTURE, "a CALLERROR is [4, UniqueId, code, description, {}]", unique_id
            )
        details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
        # Free text, kept with the command's outcome: a NUL is shown, not stored (no text column holds it).
        code, description = (str(part).replace("\x00", "\ufffd") for part in frame[2:4])
        return CallError(unique_id, code, description, details)
    raise FrameError(FrameProblem.UNKNOWN_MESSAGE_TYPE, f"unknown MessageTypeId {type_id!r}", unique_id)


def _load(text: str) -> tuple[Any, bool]:
    """The frame, and False when it holds numbers beyond a double, read as infinities so the frame can be answered
    by its own id: JSON allows 1e400, orjson refuses it. Anything else orjson refuses is no JSON."""
    try:
        return orjson.loads(text), True
    except orjson.JSONDecodeError as exc:
        refusal = FrameError(FrameProblem.NOT_JSON, f"frame is not valid JSON: {exc}")
    try:  # the error path only: the json module is ten times slower
        frame = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise refusal from None
    if _path_of(frame, _infinite) is None:
        raise refusal  # e.g. a lone surrogate (\ud800), which the json module lets through
    return frame, False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is no JSON")


def _unstorable(payload: dict[str, Any], text: str, exact: bool) -> tuple[FrameProblem, str] | None:
    """Why a payload cannot be kept as sent: a NUL character (PostgreSQL text refuses it, and dropping it would
    change the value: "REL\\u0000TOKEN" is not "RELTOKEN"), or a number no double holds. None: it can."""
    if not exact and (where := _path_of(payload, _infinite)) is not None:
        return FrameProblem.NUMBER_TOO_LARGE, f"{where} is a number beyond any decimal OCPP carries"
    if _NUL_ESCAPE in text and (where := _path_of(payload, _has_nul)) is not None:
        where = where.replace("\x00", _NUL_ESCAPE)  # a key may hold it too
        return FrameProblem.NUL_CHARACTER, f"{where} contains a NUL character (\\u0000), which cannot be stored as sent"
    return None


def _has_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


def _infinite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _path_of(value: Any, hit: Callable[[Any], bool], path: str = "") -> str | None:
    """Where in a payload the first value (or key) is that `hit` finds, e.g. "meterValue[0].sampledValue[1].value"."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if hit(key):
                return where
            found = _path_of(item, hit, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _path_of(item, hit, f"{path}[{index}]")
            if found is not None:
                return found
    elif hit(value):
        return path or "payload"
    return None


def _dumps(frame: list[Any]) -> str:
    """Compact UTF-8 JSON; orjson is a tenth of the json module's cost, and writes NaN as null, not as NaN."""
    return orjson.dumps(frame).decode()


def call_frame(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return _dumps([CALL, unique_id, action, payload])


def call_result_frame(unique_id: str, payload: dict[str, Any]) -> str:
    return _dumps([CALLRESULT, unique_id, payload])


def call_error_frame(unique_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> str:
    return _dumps([CALLERROR, unique_id, code, description[:255], details or {}])


def format_datetime(value: datetime) -> str:
    """UTC with a Z suffix and milliseconds, the form stations parse most reliably."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" -> "Z"


# Station times outside these years come from a broken clock. They are refused rather than stored, because the
# schemas' date-time admits years 1 and 9999, where the conversion to UTC and every later date sum overflow.
EARLIEST_STATION_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_STATION_TIME = datetime(3000, 1, 1, tzinfo=UTC)


def parse_datetime(value: str) -> datetime:
    """RFC 3339 from a station (schema-checked already); a missing offset is read as UTC."""
    parsed = datetime.fromisoformat(value)
    try:
        at = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is in the year 10000 in UTC
        at = None
    if at is None or not EARLIEST_STATION_TIME <= at < LATEST_STATION_TIME:
        raise InvalidArgument(
            f"time {value} is outside the years {EARLIEST_STATION_TIME.year}-{LATEST_STATION_TIME.year - 1}: "
            "the station's clock is wrong; set it (or let it synchronise) and send again"
        )
    return at
