"""Events, commands and their model objects as JSON between processes (ADR 12).

Never pickle: whoever can write to Redis must not be able to run code here. Only registered dataclasses and enums
are built on decode, and every dataclass field is checked against its declared type, so a foreign or stale writer
gets a clear `CodecError` instead of an object that breaks a subscriber later.

Wire format: JSON values stay as they are; a dataclass is `{"$type": tag, field: value, ...}`; other values are a
one-key object naming what they are (`$dt`, `$date`, `$td`, `$dec`, `$b64`, `$enum`, `$tuple`, `$set`, `$fset`,
`$map` for a dict whose keys are not plain strings). A tag is the class's qualified name, the same in every process
whatever module the class moves to.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import sys
import threading
import types
import typing
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from evscada.core.control import commands
from evscada.core.events import Event


class CodecError(ValueError):
    """A value that cannot cross between processes, or bytes that are not an encoded value."""


_registry: dict[str, type] = {}  # tag -> dataclass or enum
_tags: dict[type, str] = {}
_hints: dict[type, dict[str, Any]] = {}  # dataclass -> declared field types (resolved)
_lock = threading.Lock()


def tag_of(cls: type) -> str:
    return cls.__qualname__


def register(*classes: type) -> None:
    """Make dataclasses and enums (and what their fields reference) known to `encode` and `decode`."""
    with _lock:
        for cls in classes:
            _register(cls)


def class_of(tag: str) -> type | None:
    """The class registered under a tag, or None (no walk: a hot path's cheap look-up)."""
    return _registry.get(tag)


def registered() -> dict[str, type]:
    """tag -> class of everything known now (after the automatic walk)."""
    _walk()
    return dict(_registry)


def encode(obj: object) -> bytes:
    try:
        return orjson.dumps(_to_tree(obj))
    except orjson.JSONEncodeError as exc:  # e.g. an int beyond 64 bits
        raise CodecError(f"cannot encode {type(obj).__qualname__}: {exc}") from exc


def decode(data: bytes) -> object:
    try:
        tree = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"not an encoded evscada value (invalid JSON: {exc})") from exc
    return _from_tree(tree)


# -- registration -------------------------------------------------------------------------------------------------


def _all_subclasses(root: type) -> list[type]:
    """Every subclass still in use: `dataclass(slots=True)` replaces a class, and the replaced one may linger among
    `__subclasses__()` until collected; a class its module no longer names is skipped."""
    found: list[type] = []
    pending: list[type] = [root]
    while pending:
        subclasses: list[type] = pending.pop().__subclasses__()
        for sub in subclasses:
            if sub in found:
                continue
            pending.append(sub)
            module = sys.modules.get(sub.__module__)
            named = getattr(module, sub.__name__, None) if "." not in sub.__qualname__ else sub
            if named is sub or (named is None and "<locals>" in sub.__qualname__):
                found.append(sub)
    return found


class _Walk:
    subclasses_seen = -1  # how many Event/Command subclasses the last walk registered


def _walk(*, again: bool = False) -> None:
    """Register every public Event and Command subclass imported so far (again when new ones appeared, or when asked
    after a miss)."""
    roots = [*_all_subclasses(Event), *_all_subclasses(commands.Command)]
    if len(roots) == _Walk.subclasses_seen and not again:
        return
    with _lock:
        for cls in [Event, *roots, commands.CommandReply, commands.CommandOutcome, commands.CommandRequest]:
            if not cls.__name__.startswith("_") and dataclasses.is_dataclass(cls):
                _register(cls)
        _Walk.subclasses_seen = len(roots)


def _register(cls: type) -> None:
    if cls in _tags:
        return
    if not (dataclasses.is_dataclass(cls) or (isinstance(cls, type) and issubclass(cls, enum.Enum))):
        raise CodecError(f"{cls!r} is neither a dataclass nor an enum: only those can be registered")
    tag = tag_of(cls)
    other = _registry.get(tag)
    if other is not None and other is not cls:
        raise CodecError(
            f"two classes share the tag {tag!r}: {other.__module__}.{tag} and {cls.__module__}.{tag}; rename one"
        )
    _registry[tag] = cls
    _tags[cls] = tag
    if dataclasses.is_dataclass(cls):
        try:
            hints = typing.get_type_hints(cls)
        except Exception as exc:  # a name only imported under TYPE_CHECKING: the class cannot be checked
            raise CodecError(f"cannot resolve the field types of {cls.__module__}.{tag}: {exc}") from exc
        _hints[cls] = {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}
        for declared in _hints[cls].values():
            for referenced in _referenced_classes(declared):
                _register(referenced)


def _referenced_classes(declared: Any) -> Iterable[type]:
    if isinstance(declared, typing.NewType):
        yield from _referenced_classes(declared.__supertype__)
        return
    for arg in typing.get_args(declared):
        yield from _referenced_classes(arg)
    if isinstance(declared, type) and (
        dataclasses.is_dataclass(declared) or (issubclass(declared, enum.Enum) and declared is not enum.Enum)
    ):
        yield declared


def _known(cls: type) -> str:
    tag = _tags.get(cls)
    if tag is None:
        _walk(again=True)
        tag = _tags.get(cls)
    if tag is None:
        raise CodecError(
            f"{cls.__module__}.{cls.__qualname__} is not registered with evscada.bus.codec: call codec.register() "
            "for it (events and commands are registered on their own)"
        )
    return tag


# -- encoding ------------------------------------------------------------------------------------------------------


def _datetime_tree(value: datetime) -> dict[str, Any]:
    if isinstance(value.tzinfo, ZoneInfo):  # the zone's name, not only today's offset
        return {"$dt": value.isoformat(), "tz": value.tzinfo.key}
    return {"$dt": value.isoformat()}


def _dict_tree(value: dict[Any, Any]) -> dict[str, Any]:
    if all(isinstance(k, str) and not k.startswith("$") for k in value):
        return {k: _to_tree(v) for k, v in value.items()}
    return {"$map": [[_to_tree(k), _to_tree(v)] for k, v in value.items()]}


_ENCODERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], Any]], ...] = (
    (datetime, _datetime_tree),  # before date: a datetime is one
    (date, lambda v: {"$date": v.isoformat()}),
    (timedelta, lambda v: {"$td": [v.days, v.seconds, v.microseconds]}),
    (Decimal, lambda v: {"$dec": str(v)}),
    ((bytes, bytearray, memoryview), lambda v: {"$b64": base64.b64encode(bytes(v)).decode("ascii")}),
    (list, lambda v: [_to_tree(i) for i in v]),
    (tuple, lambda v: {"$tuple": [_to_tree(i) for i in v]}),
    (frozenset, lambda v: {"$fset": [_to_tree(i) for i in v]}),
    (set, lambda v: {"$set": [_to_tree(i) for i in v]}),
    (dict, _dict_tree),
)


_PLAIN = (str, int, float, bool, type(None))  # exactly these types pass as they are (not their subclasses: enums)
_shapes: dict[type, tuple[str, tuple[str, ...]]] = {}  # dataclass -> (tag, init field names): read once per class


def _shape(cls: type) -> tuple[str, tuple[str, ...]]:
    """A dataclass's tag and init fields, kept: every MeterValues publishes an event, so encoding is a hot path."""
    shape = _shapes.get(cls)
    if shape is None:
        shape = _shapes[cls] = (_known(cls), tuple(f.name for f in dataclasses.fields(cls) if f.init))
    return shape


def _to_tree(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, enum.Enum):  # before str/int: StrEnum and IntEnum are both
        return {"$enum": _known(type(value)), "v": _to_tree(value.value)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        tag, names = _shape(type(value))
        tree: dict[str, Any] = {"$type": tag}
        for name in names:
            field_value = getattr(value, name)
            tree[name] = field_value if type(field_value) in _PLAIN else _to_tree(field_value)
        return tree
    for kind, encoder in _ENCODERS:
        if isinstance(value, kind):
            return encoder(value)
    raise CodecError(f"cannot encode a {type(value).__module__}.{type(value).__qualname__}: not a supported type")


# -- decoding ------------------------------------------------------------------------------------------------------


def _from_tree(tree: Any) -> Any:
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    if isinstance(tree, list):
        return [_from_tree(v) for v in tree]
    if not isinstance(tree, dict):  # pragma: no cover - orjson yields nothing else
        raise CodecError(f"unexpected JSON value {tree!r}")
    if "$type" in tree:
        return _dataclass_from(tree)
    if not any(k.startswith("$") for k in tree):
        return {k: _from_tree(v) for k, v in tree.items()}
    marker = next(k for k in tree if k.startswith("$"))
    try:
        return _special_from(marker, tree)
    except CodecError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, InvalidOperation, ZoneInfoNotFoundError) as exc:
        raise CodecError(f"malformed {marker} value {tree!r}: {exc}") from exc


def _special_from(marker: str, tree: dict[str, Any]) -> Any:
    body = tree[marker]
    if marker == "$dt":
        at = datetime.fromisoformat(body)
        if "tz" in tree:
            at = at.astimezone(ZoneInfo(tree["tz"]))
        return at
    if marker == "$date":
        return date.fromisoformat(body)
    if marker == "$td":
        days, seconds, microseconds = body
        return timedelta(days=days, seconds=seconds, microseconds=microseconds)
    if marker == "$dec":
        return Decimal(body)
    if marker == "$b64":
        return base64.b64decode(body, validate=True)
    if marker == "$enum":
        cls = _class_for(body)
        if not issubclass(cls, enum.Enum):
            raise CodecError(f"tag {body!r} names {cls.__qualname__}, which is not an enum")
        return cls(_from_tree(tree["v"]))
    if marker in ("$tuple", "$set", "$fset"):
        if not isinstance(body, list):
            raise CodecError(f"{marker} must hold a list, not {body!r}")
        items = [_from_tree(v) for v in body]
        return tuple(items) if marker == "$tuple" else set(items) if marker == "$set" else frozenset(items)
    if marker == "$map":
        return {_from_tree(k): _from_tree(v) for k, v in body}
    raise CodecError(f"unknown marker {marker!r} in {tree!r}")


def _class_for(tag: Any) -> type:
    if not isinstance(tag, str):
        raise CodecError(f"a type tag must be a string, not {tag!r}")
    cls = _registry.get(tag)
    if cls is None:
        _walk(again=True)
        cls = _registry.get(tag)
    if cls is None:
        raise CodecError(
            f"unknown type tag {tag!r}: this process does not know that class (a newer node? register() it)"
        )
    return cls


def _dataclass_from(tree: dict[str, Any]) -> Any:
    cls = _class_for(tree["$type"])
    hints = _hints.get(cls)
    if hints is None:
        raise CodecError(f"tag {tree['$type']!r} names {cls.__qualname__}, which is not a dataclass")
    unknown = [k for k in tree if k != "$type" and k not in hints]
    if unknown:
        raise CodecError(f"{tree['$type']}: unknown field(s) {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, raw in tree.items():
        if name == "$type":
            continue
        plain = _plain_types(hints[name]) if type(raw) in _PLAIN else None
        if plain is not None and type(raw) in plain:  # the common case, without the generic walk
            kwargs[name] = float(raw) if type(raw) is int and float in plain and int not in plain else raw
        else:
            kwargs[name] = _conform(_from_tree(raw), hints[name], f"{tree['$type']}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field missing
        raise CodecError(f"{tree['$type']}: {exc}") from exc


_plain_of: dict[Any, frozenset[type] | None] = {}


def _plain_types(declared: Any) -> frozenset[type] | None:
    """The JSON value types a field declared of str, int, float, bool, None (or a NewType or union of them) takes
    as they are (an int also for a float); None for any other declaration, which the generic walk checks."""
    try:
        return _plain_of[declared]
    except KeyError:
        pass
    except TypeError:  # an unhashable declaration
        return None
    arms = typing.get_args(declared) if typing.get_origin(declared) in (typing.Union, types.UnionType) else (declared,)
    found: set[type] = set()
    for declared_arm in arms:
        arm = declared_arm
        while isinstance(arm, typing.NewType):
            arm = arm.__supertype__
        if arm is None:
            arm = types.NoneType
        if arm not in _PLAIN:
            found = set()
            break
        found.add(arm)
        if arm is float:
            found.add(int)  # JSON writes 7000.0 as 7000.0, but a writer may send 7000
    result = frozenset(found) or None
    _plain_of[declared] = result
    return result


def _conform(value: Any, declared: Any, where: str) -> Any:
    """The value as the declared type holds it (a list for a tuple field, an int for a float); CodecError if it is
    not of that type."""
    result = _try_conform(value, declared)
    if result is _MISMATCH:
        raise CodecError(f"{where}: expected {_type_name(declared)}, got {type(value).__qualname__} {value!r:.80}")
    return result


_MISMATCH = object()


def _try_conform(value: Any, declared: Any) -> Any:
    if declared is Any or declared is object:
        return value
    if isinstance(declared, typing.NewType):
        return _try_conform(value, declared.__supertype__)
    if declared is None or declared is types.NoneType:
        return value if value is None else _MISMATCH
    origin = typing.get_origin(declared)
    if origin is None:
        return _conform_class(value, declared)
    args = typing.get_args(declared)
    if origin is typing.Union or origin is types.UnionType:
        for arm in args:
            result = _try_conform(value, arm)
            if result is not _MISMATCH:
                return result
        return _MISMATCH
    if origin is typing.Literal:
        return value if value in args else _MISMATCH
    if origin is typing.ClassVar or origin is typing.Annotated:
        return _try_conform(value, args[0])
    if origin in (tuple, list, set, frozenset):
        return _conform_collection(value, origin, args)
    if origin is dict:
        return _conform_dict(value, args)
    # another generic (Sequence[...], Mapping[...]): its container type is enough
    return value if isinstance(origin, type) and isinstance(value, origin) else _MISMATCH


def _conform_collection(value: Any, origin: type, args: tuple[Any, ...]) -> Any:
    if not isinstance(value, list | tuple | set | frozenset):
        return _MISMATCH
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(args) != len(value):
            return _MISMATCH
        items = [_try_conform(v, a) for v, a in zip(value, args, strict=True)]
    else:
        item_type = args[0] if args else Any
        items = [_try_conform(v, item_type) for v in value]
    if any(i is _MISMATCH for i in items):
        return _MISMATCH
    return origin(items)


def _conform_dict(value: Any, args: tuple[Any, ...]) -> Any:
    if not isinstance(value, dict):
        return _MISMATCH
    key_type, value_type = args if args else (Any, Any)
    out = {}
    for k, v in value.items():
        ck, cv = _try_conform(k, key_type), _try_conform(v, value_type)
        if ck is _MISMATCH or cv is _MISMATCH:
            return _MISMATCH
        out[ck] = cv
    return out


def _conform_class(value: Any, declared: Any) -> Any:
    if not isinstance(declared, type):
        return value  # a typing construct this codec does not check (TypeVar ...)
    if declared is float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else _MISMATCH
    if (declared is int and isinstance(value, bool)) or (declared is date and isinstance(value, datetime)):
        return _MISMATCH
    if issubclass(declared, enum.Enum) and not isinstance(value, enum.Enum):
        try:
            return declared(value)  # a writer that sent the plain value
        except ValueError:
            return _MISMATCH
    return value if isinstance(value, declared) else _MISMATCH


def _type_name(declared: Any) -> str:
    return declared.__qualname__ if isinstance(declared, type) else str(declared).replace("typing.", "")
