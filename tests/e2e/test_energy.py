"""A session's energy is what its monotonic register counted: never below 0, with the meter's own digits and no
floating-point noise, the same in the API, the export and webhooks (issue 17: 17)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from evscada.api.schemas import transaction_json
from evscada.core.access.users import Role
from evscada.core.model import TransactionPk
from tests.conftest import start_csms, test_settings
from tests.support import Csms, open_socket

T0, T1 = "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z"


@pytest.fixture
async def csms(database_url: str) -> AsyncIterator[Csms]:
    """The CSMS, its export showing changes at once."""
    async for running in start_csms(test_settings(database_url, export_settle_seconds=0)):
        yield running


async def _call(ws: ClientConnection, unique_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert answer[:2] == [3, unique_id], answer
    return dict(answer[2])


def _event(kind: str, tx: str, seq_no: int, at: str, value: float, unit: str) -> dict[str, Any]:
    context = "Transaction.Begin" if kind == "Started" else "Transaction.End"
    sampled = {"value": value, "context": context, "unitOfMeasure": {"unit": unit}}
    event: dict[str, Any] = {
        "eventType": kind,
        "timestamp": at,
        "triggerReason": "Authorized" if kind == "Started" else "EVDeparted",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": tx},
        "meterValue": [{"timestamp": at, "sampledValue": [sampled]}],
    }
    if kind == "Started":
        event["evse"] = {"id": 1, "connectorId": 1}
    return event


async def test_energy_has_the_meters_digits_and_is_never_negative_everywhere(csms: Csms) -> None:
    await csms.add_station("CP-KWH")
    async with open_socket(csms.url("CP-KWH"), "ocpp2.0.1") as ws:
        # 1.005 kWh x 1000 is 1004.9999999999999 in binary floating point; the meter said 1005 Wh.
        await _call(ws, "a1", "TransactionEvent", _event("Started", "TX-A", 0, T0, 1.005, "kWh"))
        await _call(ws, "a2", "TransactionEvent", _event("Ended", "TX-A", 1, T1, 3.015, "kWh"))
        # The start in Wh with more digits than the end in kWh: 6 mWh "backwards" is no energy, not -0.006 Wh.
        await _call(ws, "b1", "TransactionEvent", _event("Started", "TX-B", 0, T0, 12345.006, "Wh"))
        await _call(ws, "b2", "TransactionEvent", _event("Ended", "TX-B", 1, T1, 12.345, "kWh"))
    pks = {row["station_transaction_id"]: row["pk"] for row in await csms.rows("transactions", station_id="CP-KWH")}
    expected = {"TX-A": (1005.0, 3015.0, 2010.0), "TX-B": (12345.006, 12345.0, 0.0)}

    await csms.app.core.access.add_user(username="billing", role=Role.VIEWER)
    key = await csms.app.core.access.create_api_key(username="billing", name="billing-system")
    assert csms.app.http is not None
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as api:
        export = await api.get("/transactions/export", params={"updated_since": "2026-01-01T00:00:00Z"})
        exported = {row["station_transaction_id"]: row for row in map(json.loads, export.text.splitlines())}
        for name, pk in pks.items():
            detail = (await api.get(f"/transactions/{pk}")).json()
            tx, _ = await csms.app.core.queries.transaction(pk=TransactionPk(pk))
            for shown in (detail, exported[name], transaction_json(tx)):  # API, export, webhooks
                assert (shown["meter_start_wh"], shown["meter_stop_wh"], shown["energy_wh"]) == expected[name]
