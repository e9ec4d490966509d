"""Command fields whose values differ by OCPP version: the API takes every version's, each station only its own."""

from __future__ import annotations

import json
import typing
from importlib import resources
from typing import Any

import httpx
import pytest

from evscada.api.routes.commands import MessageTrigger
from evscada.api.schemas import IdTokenType
from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.e2e.test_commands import answering_station
from tests.support import Csms


def _schema(package: str, name: str) -> dict[str, Any]:
    """An official request schema, as the `ocpp` package ships it."""
    schema: dict[str, Any] = json.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))
    return schema


TRIGGERS = {
    "1.6": set(_schema("ocpp.v16.schemas", "TriggerMessage.json")["properties"]["requestedMessage"]["enum"]),
    "2.0.1": set(
        _schema("ocpp.v201.schemas", "TriggerMessageRequest.json")["definitions"]["MessageTriggerEnumType"]["enum"]
    ),
}
# Asked for in the station's own word: 1.6 reports logs as diagnostics, 2.0.1 diagnostics as logs.
SAME = {
    "LogStatusNotification": "DiagnosticsStatusNotification",
    "DiagnosticsStatusNotification": "LogStatusNotification",
}


def test_the_api_takes_the_union_of_every_versions_triggers_and_token_types() -> None:
    assert set(typing.get_args(MessageTrigger)) == TRIGGERS["1.6"] | TRIGGERS["2.0.1"]
    start = _schema("ocpp.v201.schemas", "RequestStartTransactionRequest.json")
    assert set(typing.get_args(IdTokenType)) == set(start["definitions"]["IdTokenEnumType"]["enum"])  # 1.6 has none


@pytest.fixture
async def operator(csms: Csms) -> dict[str, str]:
    return await key_for(csms, Role.OPERATOR)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_each_version_is_asked_for_every_message_it_knows_and_refuses_the_rest(
    csms: Csms, api: httpx.AsyncClient, operator: dict[str, str], version: str
) -> None:
    url = "/stations/CP-T/commands/trigger_message"
    async with answering_station(csms, "CP-T", version) as station:
        for message in sorted(typing.get_args(MessageTrigger)):
            answer = await api.post(url, json={"message": message}, headers=operator)
            if message in TRIGGERS[version] or SAME.get(message) in TRIGGERS[version]:
                assert (answer.status_code, answer.json()["status"]) == (200, "Accepted"), (message, answer.text)
            else:
                assert answer.status_code == 400, (message, answer.text)
                detail = answer.json()["detail"]
                assert f"OCPP {version}" in detail and message in detail and "BootNotification" in detail
    asked = [p["requested_message"] for action, p in station.received if action == "TriggerMessage"]
    assert set(asked) == TRIGGERS[version]  # what was refused never reached the station


async def test_1_6_refuses_what_it_would_have_done_differently(
    csms: Csms, api: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    """A 1.6 Reset has no EVSE (it would reset the whole station); a 1.6 idTag is at most 20 characters."""
    async with answering_station(csms, "CP-16", "1.6") as station:
        reset = await api.post("/stations/CP-16/commands/reset", json={"evse_id": 2}, headers=operator)
        start = await api.post("/stations/CP-16/commands/remote_start", json={"id_token": "X" * 21}, headers=operator)
    assert reset.status_code == 400 and "1.6" in reset.json()["detail"] and "evse_id" in reset.json()["detail"]
    assert start.status_code == 400 and "1.6" in start.json()["detail"] and "id_token" in start.json()["detail"]
    assert station.received == []
    logged = await csms.rows("command_log", station_id="CP-16")
    assert [row["outcome"] for row in logged] == ["not_supported", "not_supported"]


async def test_an_unknown_token_type_is_refused_before_anything_is_sent(
    csms: Csms, api: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    body: dict[str, Any] = {"id_token": "CARD", "token_type": "RFID"}
    async with answering_station(csms, "CP-201", "2.0.1") as station:
        start = await api.post("/stations/CP-201/commands/remote_start", json=body, headers=operator)
        token = await api.put("/tokens/CARD", json={"type": "RFID"}, headers=operator)
    assert start.status_code == 422 and start.json()["detail"][0]["loc"] == ["body", "token_type"]
    assert token.status_code == 422 and token.json()["detail"][0]["loc"] == ["body", "type"]
    assert station.received == []
