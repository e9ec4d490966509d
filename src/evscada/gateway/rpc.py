"""OCPP-J framing: the RPC layer both versions share ([2, id, action, payload], [3, ...], [4, ...])."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from evscada.core.errors import InvalidArgument

CALL, CALLRESULT, CALLERROR = 2, 3, 4
UNKNOWN_ID = "-1"  # answer id when the frame's own id cannot be read (OCPP 2.0.1 part 4, 4.2.3)
MAX_UNIQUE_ID_LENGTH = 36


class FrameProblem(enum.Enum):
    """Why a frame could not be read; each version names the CALLERROR code for it (see Dialect)."""

    NOT_JSON = "not_json"
    NOT_AN_ARRAY = "not_an_array"
    BAD_UNIQUE_ID = "bad_unique_id"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    BAD_STRUCTURE = "bad_structure"


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


@dataclass(frozen=True, slots=True)
class CallError:
    unique_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


Message = Call | CallResult | CallError


def parse(text: str) -> Message:
    """Read one frame (a binary frame is decoded by the session first); raises FrameError naming what is wrong."""
    if "\\u0000" in text:
        # NUL is never meaningful in OCPP strings, and PostgreSQL text columns refuse it: drop it at the edge.
        text = text.replace("\\u0000", "")
    try:
        frame = orjson.loads(text)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FrameError(FrameProblem.NOT_JSON, f"frame is not valid JSON: {exc}") from None
    if not isinstance(frame, list) or not frame:
        raise FrameError(FrameProblem.NOT_AN_ARRAY, "frame is not a JSON array [MessageTypeId, UniqueId, ...]")
    type_id = frame[0]
    unique_id = frame[1] if len(frame) > 1 else None
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError(FrameProblem.BAD_UNIQUE_ID, "UniqueId must be a string of 1 to 36 characters")
    if type_id == CALL:
        if len(frame) != 4 or not isinstance(frame[2], str) or not isinstance(frame[3], dict):
            raise FrameError(FrameProblem.BAD_STRUCTURE, "a CALL is [2, UniqueId, Action, {payload}]", unique_id)
        return Call(unique_id, frame[2], frame[3])
    if type_id == CALLRESULT:
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError(FrameProblem.BAD_STRUCTURE, "a CALLRESULT is [3, UniqueId, {payload}]", unique_id)
        return CallResult(unique_id, frame[2])
    if type_id == CALLERROR:
        if len(frame) < 4 or not isinstance(frame[2], str):
            raise FrameError(
                FrameProblem.BAD_STRUCTURE, "a CALLERROR is [4, UniqueId, code, description, {}]", unique_id
            )
        details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
        return CallError(unique_id, frame[2], str(frame[3]), details)
    raise FrameError(FrameProblem.UNKNOWN_MESSAGE_TYPE, f"unknown MessageTypeId {type_id!r}", unique_id)


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
