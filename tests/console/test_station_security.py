"""The station security form holds a password to the rule the API holds it to (core.stations.passwords)."""

from __future__ import annotations

from urllib.parse import unquote

from evscada.core.access.users import Role
from tests.console.conftest import add_users, logged_in
from tests.support import Csms


async def test_the_security_form_refuses_a_password_ocpp_does_not_allow(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    await add_users(csms)
    await csms.add_station("CP-1")
    async with logged_in(csms, Role.ADMIN) as (client, token):
        form = {"id": "CP-1", "security_profile": "1", "csrf": token}
        short = await client.post("/access/station-security", data={**form, "password": "too-short"})
        assert short.status_code == 303 and "failed=1" in short.headers["location"]
        assert "a station password has 16 to 40 characters (OCPP)" in unquote(short.headers["location"])
        assert (await csms.rows("stations", id="CP-1"))[0]["security_profile"] == 0
        fine = await client.post("/access/station-security", data={**form, "password": "sixteen-chars-ok"})
        assert fine.status_code == 303 and "failed" not in fine.headers["location"]
    assert (await csms.rows("stations", id="CP-1"))[0]["security_profile"] == 1
