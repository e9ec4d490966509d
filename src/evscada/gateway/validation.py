"""Payload validation against the official OCPP JSON schemas shipped with the `ocpp` package.

The schemas are compiled once per action with fastjsonschema: ~5 us for a MeterValues payload instead of
~170 us through jsonschema, which keeps full validation affordable on the gateway's hot path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema
from fastjsonschema.draft04 import CodeGeneratorDraft04
from fastjsonschema.draft06 import CodeGeneratorDraft06
from fastjsonschema.ref_resolver import RefResolver

Validator = Callable[[Any], Any]


class SchemaViolation(Exception):
    """A payload broke its schema; `rule` is the JSON-schema keyword that failed (type, required, enum ...)."""

    def __init__(self, rule: str, description: str) -> None:
        super().__init__(description)
        self.rule = rule
        self.description = description


class SchemaSet:
    """The request and response schemas of one OCPP version."""

    def __init__(self, package: str, *, request_suffix: str, response_suffix: str) -> None:
        self._package = package
        self._request_suffix = request_suffix
        self._response_suffix = response_suffix
        # action -> compiled validator, filled on first use (the hot path is one dict lookup); only names that have
        # a schema are ever cached, so a station inventing actions cannot grow the server's memory.
        self._requests: dict[str, Validator] = {}
        self._responses: dict[str, Validator] = {}
        self._names = frozenset(
            entry.name.removesuffix(".json")
            for entry in resources.files(package).iterdir()
            if entry.name.endswith(".json")
        )

    def has_action(self, action: str) -> bool:
        return self._validator(self._requests, action, self._request_suffix) is not None

    def check_request(self, action: str, payload: dict[str, Any]) -> None:
        _check(self._validator(self._requests, action, self._request_suffix), action, payload)

    def check_response(self, action: str, payload: dict[str, Any]) -> None:
        _check(self._validator(self._responses, action, self._response_suffix), action, payload)

    def _validator(self, cache: dict[str, Validator], action: str, suffix: str) -> Validator | None:
        try:
            return cache[action]
        except KeyError:
            name = f"{action}{suffix}"
            if name not in self._names:
                return None
            validator = cache[action] = _load(self._package, name)
            return validator


def _check(validator: Validator | None, action: str, payload: dict[str, Any]) -> None:
    if validator is None:
        raise SchemaViolation("unknown", f"no OCPP schema for {action}")
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise SchemaViolation(exc.rule or "unknown", exc.message) from None


def _load(package: str, name: str) -> Validator:
    text = resources.files(package).joinpath(f"{name}.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    schema.pop("$id", None)  # urn ids make fastjsonschema try to resolve them remotely
    return _compile(schema)


class _SetMembershipEnums:
    """fastjsonschema checks an enum as a chain of `x == 'A' or x == 'B' ...`; OCPP enums of strings (22
    measurands, 40 units) become one set lookup. Same rule, same error: only the generated test differs."""

    _definition: dict[str, Any]

    def generate_enum(self) -> None:
        enum = self._definition["enum"]
        if not (isinstance(enum, list) and enum and all(isinstance(value, str) for value in enum)):
            super().generate_enum()  # type: ignore[misc]
            return
        members = "{" + ", ".join(repr(value) for value in enum) + "}"  # CPython folds it into a frozenset
        with self.l("if not (isinstance({variable}, str) and {variable} in {}):", members):  # type: ignore[attr-defined]
            self.exc("{name} must be one of {}", self.e(enum), rule="enum")  # type: ignore[attr-defined]


# OCPP's integer is 32 bits (2.0.1 part 2, "Primitive datatypes"; 1.6 ids are kept in the same columns).
INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1


class _Int32Integers:
    """JSON schema's integer is unbounded, and draft-06 counts 1.0 and 1e308 as integers: a station could store a
    float or a number past 2^63 where every reader expects an id. Here an integer is an integer literal within
    OCPP's 32 bits, in every message of every version; anything else breaks its type (TypeConstraintViolation)."""

    _definition: dict[str, Any]

    def generate_type(self) -> None:
        if self._definition["type"] != "integer":
            super().generate_type()  # type: ignore[misc]
            return
        test = f"type({{variable}}) is not int or not {INTEGER_MIN} <= {{variable}} <= {INTEGER_MAX}"
        with self.l(f"if {test}:"):  # type: ignore[attr-defined]
            self.exc(f"{{name}} must be an integer from {INTEGER_MIN} to {INTEGER_MAX}", rule="type")  # type: ignore[attr-defined]


class _Draft04(_Int32Integers, _SetMembershipEnums, CodeGeneratorDraft04):
    pass


class _Draft06(_Int32Integers, _SetMembershipEnums, CodeGeneratorDraft06):
    pass


def _compile(schema: dict[str, Any]) -> Validator:
    """fastjsonschema.compile, with the generator above (OCPP 1.6 schemas are draft-04, 2.0.1 and 2.1 draft-06)."""
    generator_class = _Draft04 if "draft-04" in schema.get("$schema", "") else _Draft06
    resolver = RefResolver.from_schema(schema, handlers={}, store={})
    generator = generator_class(schema, resolver=resolver, formats={}, use_default=False)
    global_state = generator.global_state
    exec(generator.func_code, global_state)  # how fastjsonschema.compile itself loads the generated code
    validator: Validator = global_state[resolver.get_scope_name()]
    return validator


OCPP16 = SchemaSet("ocpp.v16.schemas", request_suffix="", response_suffix="Response")
OCPP201 = SchemaSet("ocpp.v201.schemas", request_suffix="Request", response_suffix="Response")
OCPP21 = SchemaSet("ocpp.v21.schemas", request_suffix="Request", response_suffix="Response")
