"""Every message a station may send, with every optional field present and every string at its maximum length,
is answered on each database without a fault: no column is narrower than the schema it stores, no mapping trips
over a field it rarely sees."""

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
        return "é" * schema.get("maxLength", LONGEST_FREE_TEXT)  # non-ASCII: lengths are characters, not bytes
    if kind == "integer":
        return min(schema.get("maximum", 2**31 - 1), 2**31 - 1)
    if kind == "number":
        return min(schema.get("maximum", 1e12), 1e12)
    if kind == "boolean":
        return True
    raise AssertionError(f"no fullest value for {schema}")


def _payload(package: str, name: str, items: int = 3) -> dict[str, Any]:
    schema = json.loads(resources.files(package).joinpath(f"{name}.json").read_text(encoding="utf-8"))
    payload: dict[str, Any] = _fullest(schema, schema, items)
    return payload


CASES = (
    [("ocpp1.6", action, _payload("ocpp.v16.schemas", action)) for action in sorted(ADAPTER16.handlers)]
    + [("ocpp2.0.1", a, _payload("ocpp.v201.schemas", f"{a}Request")) for a in sorted(ADAPTER201.handlers)]
    + [("ocpp2.1", a, _payload("ocpp.v21.schemas", f"{a}Request", items=1)) for a in sorted(ADAPTER_21.handlers)]
)


@pytest.fixture
async def csms_with_21(database_url: str) -> AsyncIterator[Csms]:
    """The CSMS with OCPP 2.1 offered too (off by default)."""
    settings = test_settings(database_url, ocpp_versions=["ocpp2.1", "ocpp2.0.1", "ocpp1.6"])
    async for running in start_csms(settings):
        yield running


async def _exchange(ws: ClientConnection, frame: list[Any]) -> list[Any]:
    await ws.send(json.dumps(frame))
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return answer


@pytest.mark.parametrize(("version", "action", "payload"), CASES, ids=[f"{v}-{a}" for v, a, _ in CASES])
async def test_the_fullest_message_is_answered_without_a_fault(
    csms_with_21: Csms, version: str, action: str, payload: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    csms = csms_with_21
    await csms.add_station("CP-FULL")
    boot = (
        {"chargePointVendor": "V", "chargePointModel": "M"}
        if version == "ocpp1.6"
        else {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
    )
    async with open_socket(csms.url("CP-FULL"), version) as ws:
        if action != "BootNotification":
            assert (await _exchange(ws, [2, "boot", "BootNotification", boot]))[0] == 3
        answer = await _exchange(ws, [2, "full", action, payload])
        alive = await _exchange(ws, [2, "alive", "Heartbeat", {}])
    assert answer[:2] == [3, "full"], answer
    assert alive[0] == 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
