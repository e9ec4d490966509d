"""Handshake details beyond the security profiles (test_security_profiles.py): ids, Pending stations, versions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import start_csms, test_settings
from tests.support import Csms, open_socket, station16

BOOT = call.BootNotification(charge_point_model="M", charge_point_vendor="V")


async def _refused(url: str, subprotocol: str = "ocpp1.6", **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(url, subprotocol, **kwargs):  # type: ignore[arg-type]
            pass
    return refused.value.response.status_code


@pytest.mark.parametrize("base", ["/ocpp", "", "/a/b/c"])
async def test_any_base_path_ending_with_the_station_id_is_accepted(csms_sqlite: Csms, base: str) -> None:
    await csms_sqlite.add_station("CP 1/x")  # ids are URL-decoded
    async with station16(csms_sqlite, "CP%201%2Fx", base=base) as cp:
        assert (await cp.call(BOOT)).status == "Accepted"


@pytest.fixture
async def csms_registering(sqlite_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(sqlite_url, register_unknown_stations=True)):
        yield running


async def test_an_accepted_pending_station_is_told_at_its_next_boot(csms_registering: Csms) -> None:
    csms = csms_registering
    async with station16(csms, "NEW-2") as cp:
        assert (await cp.call(BOOT)).status == "Pending"
        from evscada.core.model import RegistrationStatus, StationId

        await csms.app.core.stations.set_registration(
            station_id=StationId("NEW-2"), registration=RegistrationStatus.ACCEPTED
        )
        assert (await cp.call(BOOT)).status == "Accepted"
        await cp.call(call.Authorize(id_tag="X"), suppress=False)  # allowed now (answered Invalid)


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["ocpp2.0.1", "ocpp1.6"], "ocpp2.0.1"),
        (["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
        (["ocpp1.2", "ocpp1.6"], "ocpp1.6"),
    ],
)
async def test_the_stations_most_preferred_supported_version_is_chosen(
    csms_sqlite: Csms, offered: list[str], chosen: str
) -> None:
    await csms_sqlite.add_station("CP-1")
    async with connect(csms_sqlite.url("CP-1"), subprotocols=offered, ping_interval=None) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == chosen
