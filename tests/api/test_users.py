"""Users and API keys through the API (admins only): disabled users and revoked keys are refused."""

from __future__ import annotations

import httpx

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_an_admin_manages_users_and_their_keys(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    created = await api.post(
        "/users", json={"username": "ops.anna", "role": "viewer", "password": "correct horse"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert created.json() | {"id": 0} == {"id": 0, "username": "ops.anna", "role": "viewer", "disabled": False}
    (row,) = await csms.rows("users", username="ops.anna")
    assert row["password_hash"].startswith("$argon2id$") and "horse" not in row["password_hash"]

    made = await api.post("/users/ops.anna/keys", json={"name": "laptop"}, headers=admin)
    assert made.status_code == 201
    key = made.json()["key"]
    assert key.startswith("evs_") and made.json()["prefix"] == key[:12]
    anna = _bearer(key)
    assert (await api.get("/stations", headers=anna)).status_code == 200
    assert (await api.put("/tokens/CARD", json={}, headers=anna)).status_code == 403  # a viewer

    promoted = await api.patch("/users/ops.anna", json={"role": "operator"}, headers=admin)
    assert promoted.json()["role"] == "operator"
    assert (await api.put("/tokens/CARD", json={}, headers=anna)).status_code == 200

    listed = (await api.get("/users/ops.anna/keys", headers=admin)).json()
    assert [(k["name"], k["prefix"], k["revoked"]) for k in listed] == [("laptop", key[:12], False)]
    assert "key" not in listed[0]
    assert sorted(u["username"] for u in (await api.get("/users", headers=admin)).json()) == ["admin-user", "ops.anna"]

    reset = await api.put("/users/ops.anna/password", json={"password": "battery staple"}, headers=admin)
    assert reset.status_code == 204
    (after,) = await csms.rows("users", username="ops.anna")
    assert after["password_hash"] != row["password_hash"] and after["password_hash"].startswith("$argon2id$")


async def test_disabled_users_and_revoked_keys_get_401(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    await api.post("/users", json={"username": "billing"}, headers=admin)
    first = (await api.post("/users/billing/keys", json={"name": "one"}, headers=admin)).json()
    second = (await api.post("/users/billing/keys", json={"name": "two"}, headers=admin)).json()
    assert (await api.get("/transactions", headers=_bearer(first["key"]))).status_code == 200

    disabled = await api.patch("/users/billing", json={"disabled": True}, headers=admin)
    assert disabled.json()["disabled"] is True
    for key in (first["key"], second["key"]):
        assert (await api.get("/transactions", headers=_bearer(key))).status_code == 401
    await api.patch("/users/billing", json={"disabled": False}, headers=admin)
    assert (await api.get("/transactions", headers=_bearer(first["key"]))).status_code == 200

    revoked = await api.post(f"/users/billing/keys/{first['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True and revoked.json()["revoked_at"]
    assert (await api.get("/transactions", headers=_bearer(first["key"]))).status_code == 401
    assert (await api.get("/transactions", headers=_bearer(second["key"]))).status_code == 200  # only that key
    listed = (await api.get("/users/billing/keys", headers=admin)).json()
    assert [(k["name"], k["revoked"]) for k in listed] == [("one", True), ("two", False)]
    assert (await api.post(f"/users/admin-user/keys/{second['id']}/revoke", headers=admin)).status_code == 404


async def test_user_management_is_for_admins_and_refuses_bad_input(csms: Csms, api: httpx.AsyncClient) -> None:
    admin, operator = await key_for(csms, Role.ADMIN), await key_for(csms, Role.OPERATOR)
    assert (await api.get("/users", headers=operator)).status_code == 403
    assert (await api.post("/users", json={"username": "x"}, headers=operator)).status_code == 403
    assert (await api.patch("/users/operator-user", json={"role": "admin"}, headers=operator)).status_code == 403
    assert (await api.post("/users/operator-user/keys", json={"name": "n"}, headers=operator)).status_code == 403
    assert (await api.get("/users")).status_code == 401

    assert (await api.post("/users", json={"username": "operator-user"}, headers=admin)).status_code == 409
    bad = await api.post("/users", json={"username": "no spaces", "role": "boss", "password": "short"}, headers=admin)
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {
        ("body", "username"),
        ("body", "role"),
        ("body", "password"),
    }
    assert (await api.patch("/users/nobody", json={"role": "admin"}, headers=admin)).status_code == 404
    assert (await api.get("/users/nobody/keys", headers=admin)).status_code == 404
    assert (await api.put("/users/nobody/password", json={"password": "long enough"}, headers=admin)).status_code == 404
    assert (await api.post("/users/operator-user/keys/999/revoke", headers=admin)).status_code == 404
    # Nobody could manage users any more: the last enabled admin keeps the role.
    last = await api.patch("/users/admin-user", json={"disabled": True}, headers=admin)
    assert last.status_code == 409 and "last" in last.json()["detail"]
    assert (await api.patch("/users/admin-user", json={"role": "viewer"}, headers=admin)).status_code == 409
    await api.patch("/users/operator-user", json={"role": "admin"}, headers=admin)
    assert (await api.patch("/users/admin-user", json={"role": "viewer"}, headers=admin)).status_code == 200
    assert (await api.get("/users", headers=admin)).status_code == 403  # a viewer now
