"""Token management through the API, and its effect where it matters: a station's Authorize."""

from __future__ import annotations

import httpx
from ocpp.v16 import call

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms, station16


async def test_an_operator_creates_blocks_unblocks_and_deletes_a_card(csms: Csms, api: httpx.AsyncClient) -> None:
    operator = await key_for(csms, Role.OPERATOR)
    await csms.add_station("CP-T")
    created = await api.put(
        "/tokens/04AABBCC",
        headers=operator,
        json={"type": "ISO14443", "expires_at": "2030-01-01T00:00:00Z", "group_id": "FLEET-1"},
    )
    assert created.status_code == 200 and created.json()["status"] == "Accepted"
    async with station16(csms, "CP-T") as cp:
        assert (await cp.call(call.Authorize(id_tag="04AABBCC"))).id_tag_info == {
            "status": "Accepted",
            "expiry_date": "2030-01-01T00:00:00.000Z",
            "parent_id_tag": "FLEET-1",
        }
        assert (await api.post("/tokens/04AABBCC/block", headers=operator)).json()["status"] == "Blocked"
        assert (await cp.call(call.Authorize(id_tag="04AABBCC"))).id_tag_info["status"] == "Blocked"
        assert (await api.post("/tokens/04AABBCC/unblock", headers=operator)).json()["status"] == "Accepted"
        assert (await cp.call(call.Authorize(id_tag="04AABBCC"))).id_tag_info["status"] == "Accepted"
        assert (await api.delete("/tokens/04AABBCC", headers=operator)).status_code == 204
        assert (await cp.call(call.Authorize(id_tag="04AABBCC"))).id_tag_info["status"] == "Invalid"
    assert (await api.get("/tokens/04AABBCC", headers=operator)).status_code == 404
    assert (await api.delete("/tokens/04AABBCC", headers=operator)).status_code == 404


async def test_a_viewer_reads_tokens_but_may_not_change_them(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    await csms.add_token("CARD-1")
    listed = (await api.get("/tokens", headers=viewer)).json()
    assert [t["value"] for t in listed] == ["CARD-1"]
    assert (await api.put("/tokens/CARD-2", json={}, headers=viewer)).status_code == 403
    assert (await api.post("/tokens/CARD-1/block", headers=viewer)).status_code == 403
    assert (await api.get("/tokens/CARD-1", headers=viewer)).json()["status"] == "Accepted"


async def test_bad_token_fields_are_named(csms: Csms, api: httpx.AsyncClient) -> None:
    operator = await key_for(csms, Role.OPERATOR)
    bad = await api.put("/tokens/CARD-1", json={"status": "Maybe", "expires_at": "soon"}, headers=operator)
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "status"), ("body", "expires_at")}
    too_long = await api.put("/tokens/" + "X" * 37, json={}, headers=operator)
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["path", "value"]
