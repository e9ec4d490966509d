"""OCPP payloads built from the official JSON schemas at their extremes, for tests that send every message.

fullest_payload: every optional field, every string at its maximum length (non-ASCII), several array items.
sparsest_payload: required fields only, shortest strings and enum values, fewest items.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

TIME = "2026-12-05T10:00:00.123+01:00"
LONGEST_FREE_TEXT = 3000  # for strings without a maxLength (DataTransfer data, for one)


def _fullest(schema: dict[str, Any], root: dict[str, Any], items: int, name: str = "") -> Any:
    """The largest value the schema admits: all properties, longest strings and enum values, several items."""
    if name == "multiplier":
        return 3  # an exponent of 10; one no number survives is refused (tests/gateway/test_edge_values.py)
    if "$ref" in schema:
        return _fullest(root["definitions"][schema["$ref"].rsplit("/", 1)[-1]], root, items)
    if "enum" in schema:
        return max(schema["enum"], key=len)
    kind = schema.get("type")
    if kind == "object":
        return {key: _fullest(sub, root, items, key) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(min(schema.get("maxItems", items), items), schema.get("minItems", 0))
        return [_fullest(schema["items"], root, items) for _ in range(count)]
    if kind in ("string", None):  # 1.6 DataTransfer's data has no type at all
        if schema.get("format") == "date-time":
            return TIME
        if schema.get("format") == "uri":
            return "https://example.com/" + "é" * (schema.get("maxLength", LONGEST_FREE_TEXT) - 20)
        return "é" * schema.get("maxLength", LONGEST_FREE_TEXT)  # non-ASCII: lengths are characters, not bytes
    if kind == "integer":
        return int(min(schema.get("maximum", 2**31 - 1), 2**31 - 1))  # some schemas write bounds as 100.0
    if kind == "number":
        return min(schema.get("maximum", 1e12), 1e12)
    if kind == "boolean":
        return True
    raise AssertionError(f"no fullest value for {schema}")


def _sparsest(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """The least the schema requires: required properties only, shortest strings and enum values, fewest items."""
    if "$ref" in schema:
        return _sparsest(root["definitions"][schema["$ref"].rsplit("/", 1)[-1]], root)
    if "enum" in schema:
        return min(schema["enum"], key=len)
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {key: _sparsest(sub, root) for key, sub in schema.get("properties", {}).items() if key in required}
    if kind == "array":
        return [_sparsest(schema["items"], root) for _ in range(schema.get("minItems", 0))]
    if kind in ("string", None):
        if schema.get("format") == "uri":
            return "ftp://x"
        return "2026-12-05T10:00:00Z" if schema.get("format") == "date-time" else "x" * schema.get("minLength", 0)
    if kind in ("integer", "number"):
        least = max(schema.get("minimum", 0), 0)
        return int(least) if kind == "integer" else least  # some schemas write bounds as 0.0
    if kind == "boolean":
        return False
    raise AssertionError(f"no sparsest value for {schema}")


def _schema(package: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files(package).joinpath(f"{name}.json").read_text(encoding="utf-8"))
    return schema


def fullest_payload(package: str, name: str, items: int = 3) -> dict[str, Any]:
    schema = _schema(package, name)
    payload: dict[str, Any] = _fullest(schema, schema, items)
    return payload


def sparsest_payload(package: str, name: str) -> dict[str, Any]:
    schema = _schema(package, name)
    payload: dict[str, Any] = _sparsest(schema, schema)
    return payload
