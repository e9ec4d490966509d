"""Every event and command crosses between processes as JSON and comes back equal; anything else is refused."""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from evscada.bus import codec
from evscada.core import events
from evscada.core.control import commands
from evscada.core.control.commands import Command, CommandReply
from evscada.core.events import Event

AT = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))


def _subclasses(root: type) -> list[type]:
    """Every public dataclass below root. dataclass(slots=True) replaces a class and the replaced one may linger
    among the subclasses for a while: only the class its module names counts."""
    found: list[type] = []
    pending: list[type] = [root]
    while pending:
        subclasses: list[type] = pending.pop().__subclasses__()
        for sub in subclasses:
            pending.append(sub)
            in_use = getattr(sys.modules[sub.__module__], sub.__name__, None) is sub
            if in_use and dataclasses.is_dataclass(sub) and not sub.__name__.startswith("_") and sub not in found:
                found.append(sub)
    return found


SCALARS: dict[Any, Any] = {
    Any: {"firmware": "1.2.3", "slots": [1, 2]},
    dict: {"vendor": "ACME", "values": [1, 2.5, None, True], "nested": {"a": "b"}},
    str: "CP-7",
    bool: True,
    int: 42,
    float: 11.5,
    datetime: AT,
    date: date(2026, 12, 1),
    timedelta: timedelta(minutes=90),
    Decimal: Decimal("0.31"),
    Command: commands.ClearCache(),
}


def sample(declared: Any) -> Any:
    """A realistic, non-default value of a declared type: optional fields get a value, so nested objects cross too."""
    if isinstance(declared, typing.NewType):
        return sample(declared.__supertype__)
    origin, args = typing.get_origin(declared), typing.get_args(declared)
    if origin is typing.Union or origin is types.UnionType:
        return sample(next(a for a in args if a is not type(None)))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (sample(args[0]), sample(args[0]))
        return tuple(sample(a) for a in args)
    if origin in (list, set, frozenset):
        return origin([sample(args[0])])
    if origin is not None:  # dict[str, Any], Literal[...]
        return SCALARS[dict] if origin is dict else args[-1]
    if declared in SCALARS:
        return SCALARS[declared]
    if isinstance(declared, type) and issubclass(declared, enum.Enum):
        return list(declared)[-1]
    if isinstance(declared, type) and dataclasses.is_dataclass(declared):
        hints = typing.get_type_hints(declared)
        return declared(**{f.name: sample(hints[f.name]) for f in dataclasses.fields(declared) if f.init})
    raise AssertionError(f"the test cannot build a {declared!r}: teach sample() about it")


EVENT_CLASSES = _subclasses(Event)
COMMAND_CLASSES = _subclasses(Command)


def test_the_round_trips_below_cover_every_event_and_command() -> None:
    assert len(EVENT_CLASSES) >= 12 and events.AlarmChanged in EVENT_CLASSES
    assert len(COMMAND_CLASSES) >= 30 and commands.SetChargingProfile in COMMAND_CLASSES
    assert set(EVENT_CLASSES + COMMAND_CLASSES) <= set(codec.registered().values())


@pytest.mark.parametrize("cls", EVENT_CLASSES + COMMAND_CLASSES, ids=lambda c: c.__name__)
def test_every_event_and_command_comes_back_equal(cls: type) -> None:
    original = sample(cls)

    decoded = codec.decode(codec.encode(original))

    assert decoded == original and type(decoded) is cls


def test_nested_objects_keep_their_types_after_the_trip() -> None:
    profile = sample(commands.SetChargingProfile)
    decoded = codec.decode(codec.encode(profile))
    assert isinstance(decoded, commands.SetChargingProfile)
    assert isinstance(decoded.profile.schedule.periods, tuple)
    assert isinstance(decoded.profile.purpose, enum.Enum)
    alarm_event = codec.decode(codec.encode(sample(events.AlarmChanged)))
    assert isinstance(alarm_event, events.AlarmChanged) and type(alarm_event.alarm.state).__name__ == "AlarmState"


def test_a_command_reply_with_any_json_and_odd_values_comes_back_equal() -> None:
    reply = CommandReply(
        status="Accepted",
        data={"configurationKey": [{"key": "HeartbeatInterval", "value": "300"}], "unknownKey": [], "n": None},
    )
    assert codec.decode(codec.encode(reply)) == reply
    odd = {
        "when": datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        "day": date(2026, 1, 2),
        "span": timedelta(days=1, seconds=5, microseconds=7),
        "price": Decimal("0.3100"),
        "blob": b"\x00\xffsigned",
        "pair": (1, "a"),
        "names": frozenset({"x", "y"}),
        "$weird": {1: "int key"},
        "kind": commands.ResetKind.HARD,
    }
    back = codec.decode(codec.encode(odd))
    assert back == odd
    assert isinstance(back, dict)
    assert back["when"].tzinfo == ZoneInfo("Europe/Berlin") and back["when"].utcoffset() == timedelta(hours=1)
    assert type(back["pair"]) is tuple and type(back["kind"]) is commands.ResetKind
    assert str(back["price"]) == "0.3100"


def test_a_utc_time_keeps_its_zone() -> None:
    event = events.StationConnected(
        station_id=events.StationId("CP-1"), at=datetime(2026, 1, 1, tzinfo=UTC), ocpp_version="2.0.1"
    )
    back = codec.decode(codec.encode(event))
    assert isinstance(back, events.StationConnected) and back.at.utcoffset() == timedelta(0)


def test_an_unknown_tag_is_refused_naming_it() -> None:
    data = orjson.dumps({"$type": "RebootTheWorld", "station_id": "CP-1"})
    with pytest.raises(ValueError, match="unknown type tag 'RebootTheWorld'"):
        codec.decode(data)


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"\x80\x04not json", "invalid JSON"),
        (b'{"$type": "StationConnected", "station_id": "CP-1"', "invalid JSON"),
        (
            b'{"$type": "StationConnected", "station_id": "CP-1", "at": 42, "ocpp_version": "1.6"}',
            "StationConnected.at: expected datetime",
        ),
        (b'{"$type": "StationConnected", "station_id": "CP-1", "ocpp_version": "1.6"}', "missing"),
        (
            b'{"$type": "StationConnected", "station_id": "CP-1", "at": {"$dt": "2026-01-01T00:00:00+00:00"}, '
            b'"ocpp_version": "1.6", "os.system": "rm"}',
            "unknown field",
        ),
        (b'{"$dt": "yesterday"}', "malformed \\$dt"),
        (b'{"$enum": "ResetKind", "v": "explode"}', "malformed \\$enum"),
        (b'{"$pickle": "gASV"}', "unknown marker"),
        (b'{"$type": ["list"]}', "must be a string"),
    ],
)
def test_malformed_bytes_are_refused_with_a_value_error_that_says_why(data: bytes, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        codec.decode(data)


def test_an_unregistered_class_is_refused_until_registered() -> None:
    @dataclass(frozen=True, slots=True)
    class Extra:
        n: int
        at: datetime

    with pytest.raises(ValueError, match="not registered"):
        codec.encode(Extra(1, AT))
    codec.register(Extra)
    assert codec.decode(codec.encode(Extra(1, AT))) == Extra(1, AT)


def test_an_object_that_is_not_data_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        codec.encode({"callback": print})
