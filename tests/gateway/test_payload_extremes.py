"""Every message a station may send, at its fullest (every optional field, every string at its maximum length) and
at its sparsest (required fields only), is answered on each database without a fault: no column is narrower than
the schema it stores, no mapping trips over a field it rarely sees or counts on one that may be absent."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evscada.gateway.ocpp16.handlers import ADAPTER as ADAPTER16
from evscada.gateway.ocpp201.handlers import ADAPTER as ADAPTER201
from evscada.gateway.ocpp201.handlers import ADAPTER_21
from tests.conftest import start_csms, test_settings
from tests.schema_payloads import fullest_payload, sparsest_payload
from tests.support import BOOT, Csms, exchange, open_socket

# version: (schema package, request suffix, handlers, items per array at the fullest: 2.1's nest deeper)
VERSIONS = {
    "ocpp1.6": ("ocpp.v16.schemas", "", ADAPTER16.handlers, 3),
    "ocpp2.0.1": ("ocpp.v201.schemas", "Request", ADAPTER201.handlers, 3),
    "ocpp2.1": ("ocpp.v21.schemas", "Request", ADAPTER_21.handlers, 1),
}


def _cases(version: str, fullest: bool) -> list[tuple[str, dict[str, Any]]]:
    package, suffix, handlers, items = VERSIONS[version]
    if fullest:
        return [(action, fullest_payload(package, f"{action}{suffix}", items)) for action in sorted(handlers)]
    return [(action, sparsest_payload(package, f"{action}{suffix}")) for action in sorted(handlers)]


ALL_VERSIONS = ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]  # 2.1 is off by default


@pytest.fixture
async def csms_with_21(database_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(database_url, ocpp_versions=ALL_VERSIONS)):
        yield running


@pytest.fixture
async def sqlite_csms_with_21(sqlite_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(sqlite_url, ocpp_versions=ALL_VERSIONS)):
        yield running


async def _faults(csms: Csms, version: str, cases: list[tuple[str, dict[str, Any]]], caplog: Any) -> list[str]:
    """Each message on a fresh connection of one station; what was not answered, or logged an error, with why."""
    await csms.add_station("CP-EDGE")
    faults = []
    for action, payload in cases:
        first = len(caplog.records)
        async with open_socket(csms.url("CP-EDGE"), version) as ws:
            if action != "BootNotification":
                assert (await exchange(ws, [2, "boot", "BootNotification", BOOT[version]]))[0] == 3
            answer = await exchange(ws, [2, "edge", action, payload])
            alive = await exchange(ws, [2, "alive", "Heartbeat", {}])
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
