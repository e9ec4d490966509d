"""The audit log: every change and every command, with who did it; admins read it with filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.e2e.test_commands import answering_station
from tests.support import Csms

STATION_PASSWORD = "station-password-0001"
USER_PASSWORD = "user-password-0002"


async def _actions(api: httpx.AsyncClient, headers: dict[str, str], **params: object) -> list[str]:
    response = await api.get("/audit", params={"limit": 1000, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in reversed(response.json())]  # oldest first


async def test_every_kind_of_change_is_audited_with_its_actor(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    # station
    await api.post("/stations", json={"id": "CP-1", "security_profile": 1, "password": STATION_PASSWORD}, headers=admin)
    await api.patch("/stations/CP-1", json={"registration": "Pending"}, headers=admin)
    await api.patch("/stations/CP-1", json={"password": STATION_PASSWORD + "x"}, headers=admin)
    await api.post("/stations/CP-1/accept", headers=admin)
    site = (await api.post("/sites", json={"name": "Depot"}, headers=admin)).json()
    await api.patch(f"/sites/{site['id']}", json={"address": "Yard 1"}, headers=admin)
    await api.patch("/stations/CP-1", json={"site_id": site["id"], "name": "Bay 1"}, headers=admin)
    # vehicle and token
    vehicle = (await api.post("/vehicles", json={"name": "Bus 1"}, headers=admin)).json()
    await api.patch(f"/vehicles/{vehicle['id']}", json={"fleet": "City"}, headers=admin)
    await api.put("/tokens/CARD", json={}, headers=admin)
    await api.put("/tokens/CARD", json={"group_id": "G"}, headers=admin)
    await api.post(f"/vehicles/{vehicle['id']}/tokens", json={"value": "CARD"}, headers=admin)
    await api.post("/tokens/CARD/block", headers=admin)
    await api.post("/tokens/CARD/unblock", headers=admin)
    await api.delete(f"/vehicles/{vehicle['id']}/tokens/CARD", headers=admin)
    await api.delete("/tokens/CARD", headers=admin)
    await api.delete(f"/vehicles/{vehicle['id']}", headers=admin)
    await api.delete(f"/sites/{site['id']}", headers=admin)
    await api.delete("/stations/CP-1", headers=admin)
    # users and keys
    await api.post("/users", json={"username": "eve", "password": USER_PASSWORD}, headers=admin)
    await api.patch("/users/eve", json={"role": "operator"}, headers=admin)
    await api.patch("/users/eve", json={"disabled": True}, headers=admin)
    await api.patch("/users/eve", json={"disabled": False}, headers=admin)
    await api.put("/users/eve/password", json={"password": USER_PASSWORD + "x"}, headers=admin)
    key = (await api.post("/users/eve/keys", json={"name": "laptop"}, headers=admin)).json()
    await api.post(f"/users/eve/keys/{key['id']}/revoke", headers=admin)

    assert await _actions(api, admin, actor="admin-user") == [
        "station.create",
        "station.update",
        "station.update",
        "station.accept",
        "site.create",
        "site.update",
        "station.place",
        "vehicle.create",
        "vehicle.update",
        "token.create",
        "token.update",
        "token.vehicle_link",
        "token.block",
        "token.unblock",
        "token.vehicle_unlink",
        "token.delete",
        "vehicle.delete",
        "site.delete",
        "station.delete",
        "user.create",
        "user.role",
        "user.disable",
        "user.enable",
        "user.password",
        "api_key.create",
        "api_key.revoke",
    ]
    everything = (await api.get("/audit", params={"limit": 1000}, headers=admin)).json()
    text = json.dumps(everything)
    for secret in (STATION_PASSWORD, USER_PASSWORD, key["key"]):
        assert secret not in text  # passwords and keys never reach the audit log
    by_action = {e["action"]: e for e in everything if e["actor"] == "admin-user"}
    assert by_action["user.role"]["details"] == {"from": "viewer", "to": "operator"}
    assert by_action["token.block"]["target_type"] == "token" and by_action["token.block"]["target_id"] == "CARD"
    assert by_action["station.place"]["details"]["name"] == {"from": None, "to": "Bay 1"}
    assert by_action["api_key.create"]["details"]["prefix"] == key["prefix"]


async def test_a_command_is_audited_with_its_outcome_and_no_secret(csms: Csms, api: httpx.AsyncClient) -> None:
    operator, admin = await key_for(csms, Role.OPERATOR), await key_for(csms, Role.ADMIN)
    async with answering_station(csms, "CP-C", "1.6"):
        sent = await api.post(
            "/stations/CP-C/commands/change_configuration",
            json={"name": "AuthorizationKey", "value": "0123456789abcdef", "reason": "rotate"},
            headers=operator,
        )
        assert sent.status_code == 200, sent.text
        assert (await api.post("/stations/CP-C/commands/clear_cache", json={}, headers=operator)).status_code == 200
    assert (await api.post("/stations/CP-NONE/commands/reset", json={}, headers=operator)).status_code == 404
    entries = (await api.get("/audit", params={"action": "command"}, headers=admin)).json()
    assert [(e["action"], e["actor"], e["target_id"]) for e in entries] == [
        ("command.clear_cache", "operator-user", "CP-C"),
        ("command.change_configuration", "operator-user", "CP-C"),
    ]
    change = entries[1]["details"]
    assert (change["outcome"], change["status"], change["reason"]) == ("answered", "RebootRequired", "rotate")
    assert change["arguments"]["setting"]["name"] == "AuthorizationKey"
    assert change["arguments"]["value"] == "***"
    assert "0123456789abcdef" not in json.dumps(entries)


async def test_the_audit_log_is_filtered_paged_and_for_admins_only(csms: Csms, api: httpx.AsyncClient) -> None:
    admin, operator = await key_for(csms, Role.ADMIN), await key_for(csms, Role.OPERATOR)
    for value in ("A", "B", "C"):
        await api.put(f"/tokens/{value}", json={}, headers=operator)
    await api.post("/tokens/B/block", headers=operator)
    await csms.add_station("CP-SYS")  # through the core, no person: actor "system"

    assert await _actions(api, admin, action="token") == ["token.create"] * 3 + ["token.block"]
    assert await _actions(api, admin, action="token.block") == ["token.block"]
    assert await _actions(api, admin, action="token.bl") == []  # a prefix ends at a dot
    assert await _actions(api, admin, target_type="token", target_id="B") == ["token.create", "token.block"]
    assert await _actions(api, admin, actor="system") == ["user.create", "api_key.create"] * 2 + ["station.create"]
    page = (await api.get("/audit", params={"actor": "operator-user", "limit": 2, "offset": 1}, headers=admin)).json()
    assert [(e["action"], e["target_id"]) for e in page] == [("token.create", "C"), ("token.create", "B")]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await _actions(api, admin, since=future) == []
    assert len(await _actions(api, admin, until=future)) == 9
    assert (await api.get("/audit", headers=operator)).status_code == 403
    bad = await api.get("/audit", params={"since": "yesterday", "limit": 0}, headers=admin)
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("query", "since"), ("query", "limit")}
