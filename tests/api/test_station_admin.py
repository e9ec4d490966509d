"""Admins register, secure, accept and remove stations through the API; stations meet the rules at connection."""

from __future__ import annotations

import httpx
import pytest
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms, eventually, station16

PASSWORD = "a-sixteen-plus-secret"
BOOT = call.BootNotification(charge_point_model="M", charge_point_vendor="V")


async def test_a_station_created_with_a_password_connects_with_it_only(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    created = await api.post(
        "/stations", json={"id": "CP-NEW", "security_profile": 1, "password": PASSWORD}, headers=admin
    )
    assert created.status_code == 201 and created.json()["security_profile"] == 1
    async with station16(csms, "CP-NEW", password=PASSWORD) as cp:
        assert (await cp.call(BOOT)).status == "Accepted"
    changed = await api.patch("/stations/CP-NEW", json={"password": "another-long-secret"}, headers=admin)
    assert changed.status_code == 200
    with pytest.raises(InvalidStatus):  # the old password no longer opens a session
        async with station16(csms, "CP-NEW", password=PASSWORD):
            pass
    async with station16(csms, "CP-NEW", password="another-long-secret") as cp:
        assert (await cp.call(BOOT)).status == "Accepted"


async def test_station_management_refuses_what_cannot_work(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    assert (await api.post("/stations", json={"id": "CP-1"}, headers=admin)).status_code == 201
    assert (await api.post("/stations", json={"id": "CP-1"}, headers=admin)).status_code == 409
    no_password = await api.post("/stations", json={"id": "CP-2", "security_profile": 1}, headers=admin)
    assert no_password.status_code == 422 and "password" in no_password.json()["detail"]
    short = await api.post("/stations", json={"id": "CP-3", "security_profile": 1, "password": "short"}, headers=admin)
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]
    assert (await api.patch("/stations/NOPE", json={"registration": "Accepted"}, headers=admin)).status_code == 404
    operator = await key_for(csms, Role.OPERATOR)
    assert (await api.post("/stations", json={"id": "CP-4"}, headers=operator)).status_code == 403


async def test_a_pending_station_accepted_through_the_api_is_told_at_its_next_boot(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    admin = await key_for(csms, Role.ADMIN)
    await csms.add_station("CP-P", pending=True)
    async with station16(csms, "CP-P") as cp:
        assert (await cp.call(BOOT)).status == "Pending"
        accepted = await api.post("/stations/CP-P/accept", headers=admin)
        assert accepted.json()["registration"] == "Accepted"
        assert (await cp.call(BOOT)).status == "Accepted"


async def test_a_station_is_removed_only_when_disconnected(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    await csms.add_station("CP-D")
    async with station16(csms, "CP-D") as cp:
        await cp.call(BOOT)
        refused = await api.delete("/stations/CP-D", headers=admin)
        assert refused.status_code == 409 and "connected" in refused.json()["detail"]

    async def offline() -> bool:  # the disconnect is recorded right after the socket closes
        return not (await csms.station("CP-D"))["online"]

    assert await eventually(offline)
    assert (await api.delete("/stations/CP-D", headers=admin)).status_code == 204
    assert (await api.get("/stations/CP-D", headers=admin)).status_code == 404
