"""Who may open an OCPP session: paths, sub-protocols, unknown stations and security profiles 0-3."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from evscada.security.certificates import make_dev_certificate
from tests.conftest import start_csms, test_settings
from tests.support import Csms, basic_auth, open_socket, station16

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


async def test_an_unknown_station_is_refused_with_404(csms_sqlite: Csms) -> None:
    assert await _refused(csms_sqlite.url("NOBODY")) == 404


@pytest.fixture
async def csms_registering(sqlite_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(sqlite_url, register_unknown_stations=True)):
        yield running


async def test_an_unknown_station_is_registered_pending_and_may_not_charge(csms_registering: Csms) -> None:
    csms = csms_registering
    async with station16(csms, "NEW-1") as cp:
        assert (await cp.call(BOOT)).status == "Pending"
        assert await cp.call(call.Heartbeat()) is not None  # a Pending station still keeps its connection alive
        with pytest.raises(SecurityError, match="not Accepted"):
            await cp.call(call.Authorize(id_tag="X"), suppress=False)
        with pytest.raises(SecurityError, match="not Accepted"):
            await cp.call(
                call.StartTransaction(connector_id=1, id_tag="X", meter_start=0, timestamp="2026-11-25T08:00:00Z"),
                suppress=False,
            )
    station = await csms.station("NEW-1")
    assert station["registration"] == "Pending" and station["vendor"] == "V"
    assert await csms.rows("transactions") == []


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


async def test_offering_no_supported_subprotocol_completes_the_handshake_then_closes(csms_sqlite: Csms) -> None:
    await csms_sqlite.add_station("CP-1")
    async with connect(csms_sqlite.url("CP-1"), subprotocols=["ocpp1.5"], ping_interval=None) as ws:  # type: ignore[list-item]
        assert ws.subprotocol is None  # no Sec-WebSocket-Protocol in the answer
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)
        assert ws.close_code == 1002


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


async def test_profile_1_requires_the_right_password(csms_sqlite: Csms, caplog: pytest.LogCaptureFixture) -> None:
    csms = csms_sqlite
    caplog.set_level(logging.DEBUG)
    await csms.add_station("CP-B", profile=1, password="correct-horse-battery")
    assert await _refused(csms.url("CP-B")) == 401  # no credentials
    assert await _refused(csms.url("CP-B"), headers=basic_auth("CP-B", "wrong-password-123")) == 401
    assert await _refused(csms.url("CP-B"), headers=basic_auth("OTHER", "correct-horse-battery")) == 401
    assert await _refused(csms.url("CP-B"), headers={"Authorization": "Basic !!!notbase64"}) == 401
    async with station16(csms, "CP-B", password="correct-horse-battery") as cp:
        assert (await cp.call(BOOT)).status == "Accepted"
    events = await csms.rows("station_messages", station_id="CP-B", kind="csms_security_event")
    assert len(events) == 4 and {e["payload"]["type"] for e in events} >= {"AuthenticationFailed"}
    assert "wrong-password-123" not in caplog.text and "correct-horse-battery" not in caplog.text


async def test_profile_0_station_connects_without_credentials(csms_sqlite: Csms) -> None:
    await csms_sqlite.add_station("CP-0")
    async with station16(csms_sqlite, "CP-0") as cp:
        assert (await cp.call(BOOT)).status == "Accepted"


@pytest.fixture
def dev_cert(tmp_path: Path) -> tuple[Path, Path]:
    made = make_dev_certificate(tmp_path / "tls", ["localhost", "127.0.0.1"])
    return made.cert_file, made.key_file


@pytest.fixture
async def csms_tls(sqlite_url: str, dev_cert: tuple[Path, Path]) -> AsyncIterator[Csms]:
    cert, key = dev_cert
    async for running in start_csms(test_settings(sqlite_url, tls_cert_file=cert, tls_key_file=key)):
        yield running


async def test_profile_2_needs_tls_and_password(csms_tls: Csms, dev_cert: tuple[Path, Path]) -> None:
    csms = csms_tls
    trust = ssl.create_default_context(cafile=str(dev_cert[0]))
    await csms.add_station("CP-TLS", profile=2, password="a-long-station-secret")
    # the right password on plain ws:// is refused
    assert await _refused(csms.url("CP-TLS"), headers=basic_auth("CP-TLS", "a-long-station-secret")) == 401
    assert (
        await _refused(csms.url("CP-TLS", tls=True), headers=basic_auth("CP-TLS", "nope-nope-nope"), ssl_context=trust)
        == 401
    )
    async with station16(csms, "CP-TLS", password="a-long-station-secret", tls=True, ssl_context=trust) as cp:
        assert (await cp.call(BOOT)).status == "Accepted"
    events = await csms.rows("station_messages", station_id="CP-TLS", kind="csms_security_event")
    assert any("TLS" in e["summary"] for e in events)


async def test_a_client_that_does_not_trust_the_certificate_cannot_connect(csms_tls: Csms) -> None:
    await csms_tls.add_station("CP-TLS", profile=2, password="a-long-station-secret")
    with pytest.raises(ssl.SSLCertVerificationError):
        async with open_socket(csms_tls.url("CP-TLS", tls=True), "ocpp1.6", ssl_context=ssl.create_default_context()):
            pass
