"""Every message a station may send, at its fullest (every optional field, every string at its maximum length) and
at its sparsest (required fields only), is answered on each database without a fault: no column is narrower than
the schema it stores, no mapping trips over a field it rarely sees or counts on one that may be absent."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from evscada.gateway.ocpp16.handlers import ADAPTER as ADAPTER16
from evscada.gateway.ocpp201.handlers import ADAPTER as ADAPTER201
from evscada.gateway.ocpp201.handlers import ADAPTER_21
from tests.conftest import start_csms, test_settings
from tests.support import Csms, open_socket

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
        return min(schema.get("maximum", 2**31 - 1), 2**31 - 1)
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
        return max(schema.get("minimum", 0), 0)
    if kind == "boolean":
        return False
    raise AssertionError(f"no sparsest value for {schema}")


def _schema(package: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files(package).joinpath(f"{name}.json").read_text(encoding="utf-8"))
    return schema


def _payload(package: str, name: str, items: int = 3) -> dict[str, Any]:
    schema = _schema(package, name)
    payload: dict[str, Any] = _fullest(schema, schema, items)
    return payload


def _sparse_payload(package: str, name: str) -> dict[str, Any]:
    schema = _schema(package, name)
    payload: dict[str, Any] = _sparsest(schema, schema)
    return payload


# version: (schema package, request suffix, handlers, items per array at the fullest: 2.1's nest deeper)
VERSIONS = {
    "ocpp1.6": ("ocpp.v16.schemas", "", ADAPTER16.handlers, 3),
    "ocpp2.0.1": ("ocpp.v201.schemas", "Request", ADAPTER201.handlers, 3),
    "ocpp2.1": ("ocpp.v21.schemas", "Request", ADAPTER_21.handlers, 1),
}


def _cases(version: str, fullest: bool) -> list[tuple[str, dict[str, Any]]]:
    package, suffix, handlers, items = VERSIONS[version]
    if fullest:
        return [(action, _payload(package, f"{action}{suffix}", items)) for action in sorted(handlers)]
    return [(action, _sparse_payload(package, f"{action}{suffix}")) for action in sorted(handlers)]


ALL_VERSIONS = ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]  # 2.1 is off by default


@pytest.fixture
async def csms_with_21(database_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(database_url, ocpp_versions=ALL_VERSIONS)):
        yield running


@pytest.fixture
async def sqlite_csms_with_21(sqlite_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(sqlite_url, ocpp_versions=ALL_VERSIONS)):
        yield running


async def _exchange(ws: ClientConnection, frame: list[Any]) -> list[Any]:
    await ws.send(json.dumps(frame))
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return answer


async def _faults(csms: Csms, version: str, cases: list[tuple[str, dict[str, Any]]], caplog: Any) -> list[str]:
    """Each message on a fresh connection of one station; what was not answered, or logged an error, with why."""
    await csms.add_station("CP-EDGE")
    boot = (
        {"chargePointVendor": "V", "chargePointModel": "M"}
        if version == "ocpp1.6"
        else {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
    )
    faults = []
    for action, payload in cases:
        first = len(caplog.records)
        async with open_socket(csms.url("CP-EDGE"), version) as ws:
            if action != "BootNotification":
                assert (await _exchange(ws, [2, "boot", "BootNotification", boot]))[0] == 3
            answer = await _exchange(ws, [2, "edge", action, payload])
            alive = await _exchange(ws, [2, "alive", "Heartbeat", {}])
        errors = [r.getMessage() for r in caplog.records[first:] if r.levelno >= logging.ERROR]
        if answer[:2] != [3, "edge"] or alive[0] != 3 or errors:
            faults.append(f"{action}: answered {answer}, then {alive[:2]}; errors logged: {errors}")
    return faults


@pytest.mark.parametrize("version", list(VERSIONS))
async def test_the_fullest_messages_are_answered_without_a_fault(
    csms_with_21: Csms, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await _faults(csms_with_21, version, _cases(version, fullest=True), caplog) == []


@pytest.mark.parametrize("version", list(VERSIONS))
async def test_the_sparsest_messages_are_answered_without_a_fault(
    sqlite_csms_with_21: Csms, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the required fields: no mapping may count on an optional one (the same code on either database)."""
    assert await _faults(sqlite_csms_with_21, version, _cases(version, fullest=False), caplog) == []
