"""Local lists over the API: full and differential updates reach real stations; only accepted ones are recorded."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.api.recording_stations import recording_station
from tests.support import Csms

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


def sent_tokens(version: str, payload: dict[str, Any]) -> dict[str, str | None]:
    """token -> the status the station was given (None: removed)."""
    items = payload.get("local_authorization_list") or []
    if version == "1.6":
        return {i["id_tag"]: (i.get("id_tag_info") or {}).get("status") for i in items}
    return {i["id_token"]["id_token"]: (i.get("id_token_info") or {}).get("status") for i in items}


def sent_version(version: str, payload: dict[str, Any]) -> int:
    return int(payload["list_version"] if version == "1.6" else payload["version_number"])


@VERSIONS
async def test_a_differential_update_sends_only_what_changed(csms: Csms, api: httpx.AsyncClient, version: str) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    await csms.add_token("A")
    await csms.add_token("B")
    await csms.add_token("C", status="Blocked")
    url = "/stations/CP-LL/commands/send_local_list"
    async with recording_station(csms, "CP-LL", version) as station:
        full = await api.post(url, json={"update": "full", "reason": "initial"}, headers=headers)
        assert full.status_code == 200, full.text
        assert (full.json()["status"], full.json()["local_list"]["version"]) == ("Accepted", 1)
        assert sent_tokens(version, station.last("SendLocalList")) == {"A": "Accepted", "B": "Accepted", "C": "Blocked"}
        assert station.last("SendLocalList")["update_type"] == "Full"

        await csms.add_token("A", status="Blocked")  # changed
        await csms.add_token("D")  # added
        assert (await api.delete("/tokens/B", headers=await key_for(csms, Role.ADMIN))).status_code == 204
        diff = await api.post(url, json={"update": "differential"}, headers=headers)
        assert diff.status_code == 200, diff.text
        payload = station.last("SendLocalList")
        assert payload["update_type"] == "Differential" and sent_version(version, payload) == 2
        assert sent_tokens(version, payload) == {"A": "Blocked", "D": "Accepted", "B": None}
        assert (diff.json()["updated"], diff.json()["removed"]) == (2, 1)

        again = await api.post(url, json={"update": "differential"}, headers=headers)
        assert sent_tokens(version, station.last("SendLocalList")) == {}  # nothing changed since
        assert again.json()["local_list"]["version"] == 3

        asked = await api.post("/stations/CP-LL/commands/get_local_list_version", json={}, headers=headers)
        assert asked.status_code == 200 and asked.json()["data"]["version"] == 3

    state = (await api.get("/stations/CP-LL/local-list", headers=headers)).json()
    assert (state["version"], state["update"], state["entries"], state["reported_version"]) == (3, "differential", 3, 3)
    entries = (await api.get("/stations/CP-LL/local-list/entries", headers=headers)).json()
    assert {e["value"]: e["status"] for e in entries} == {"A": "Blocked", "C": "Blocked", "D": "Accepted"}
    log = (await api.get("/commands", params={"station_id": "CP-LL"}, headers=headers)).json()
    assert [e["command"] for e in log].count("send_local_list") == 3
    first = next(e for e in log if e["reason"] == "initial")
    assert first["arguments"]["update"] == "full" and first["arguments"]["updated"] == 3


@VERSIONS
async def test_a_refused_update_is_reported_and_not_recorded_as_sent(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    await csms.add_token("A")
    url = "/stations/CP-LL/commands/send_local_list"
    async with recording_station(csms, "CP-LL", version) as station:
        assert (await api.post(url, json={"update": "full"}, headers=headers)).status_code == 200
        await csms.add_token("B")
        station.answers["SendLocalList"] = "VersionMismatch"
        refused = await api.post(url, json={"update": "differential"}, headers=headers)
        assert refused.status_code == 200
        body = refused.json()
        assert body["status"] == "VersionMismatch" and "full update" in body["note"]
        assert (body["local_list"]["version"], body["local_list"]["entries"]) == (1, 1)

        station.answers["SendLocalList"] = "Accepted"
        retried = await api.post(url, json={"update": "differential"}, headers=headers)
        # A version number is never used twice, and the changes are still those since version 1.
        assert sent_version(version, station.last("SendLocalList")) == 3
        assert sent_tokens(version, station.last("SendLocalList")) == {"B": "Accepted"}
        assert retried.json()["local_list"]["version"] == 3


async def test_a_full_update_can_be_limited_to_a_group_and_later_updates_keep_it(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    await csms.add_token("FLEET-1", group_id="FLEET")
    await csms.add_token("PUBLIC-1")
    url = "/stations/CP-LL/commands/send_local_list"
    async with recording_station(csms, "CP-LL", "2.0.1") as station:
        await api.post(url, json={"update": "full", "group": "FLEET"}, headers=headers)
        assert sent_tokens("2.0.1", station.last("SendLocalList")) == {"FLEET-1": "Accepted"}
        info = station.last("SendLocalList")["local_authorization_list"][0]["id_token_info"]
        assert info["group_id_token"] == {"id_token": "FLEET", "type": "Central"}
        await csms.add_token("FLEET-2", group_id="FLEET")
        await csms.add_token("PUBLIC-2")
        await api.post(url, json={"update": "differential"}, headers=headers)
        assert sent_tokens("2.0.1", station.last("SendLocalList")) == {"FLEET-2": "Accepted"}
        bad = await api.post(url, json={"update": "differential", "group": "X"}, headers=headers)
        assert bad.status_code == 422 and "group" in bad.json()["detail"]


async def test_local_list_errors_are_clear(csms: Csms, api: httpx.AsyncClient) -> None:
    operator = await key_for(csms, Role.OPERATOR)
    viewer = await key_for(csms, Role.VIEWER)
    url = "/stations/CP-LL/commands/send_local_list"
    assert (
        await api.post("/stations/NOPE/commands/send_local_list", json={"update": "full"}, headers=operator)
    ).status_code == 404
    await csms.add_station("CP-LL")
    assert (await api.post(url, json={"update": "sideways"}, headers=operator)).status_code == 422
    assert (await api.post(url, json={"update": "full"}, headers=viewer)).status_code == 403
    offline = await api.post(url, json={"update": "full"}, headers=operator)
    assert offline.status_code == 409 and offline.json()["detail"]["outcome"] == "offline"
    state = (await api.get("/stations/CP-LL/local-list", headers=viewer)).json()
    assert (state["version"], state["entries"], state["sent_at"]) == (0, 0, None)
    assert (await api.get("/stations/NOPE/local-list", headers=viewer)).status_code == 404
