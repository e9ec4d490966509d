"""Who may open an OCPP session: security profiles 0-3, unknown station ids, sub-protocols and URL paths."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from evscada.security.certificates import DevCertificate, make_dev_certificate
from tests.conftest import start_csms, test_settings
from tests.support import Csms, basic_auth, open_socket, station16

BOOT16 = call.BootNotification(charge_point_model="M", charge_point_vendor="V")
BOOT_FRAMES = {
    "ocpp1.6": [2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}],
    "ocpp2.0.1": [
        2,
        "boot",
        "BootNotification",
        {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
    ],
}
PASSWORD = "correct-horse-battery-staple"


async def _refusal(
    url: str, *, headers: dict[str, str] | None = None, ssl_context: ssl.SSLContext | None = None
) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(url, "ocpp1.6", headers=headers, ssl_context=ssl_context):
            pass
    return refused.value


async def _boot(ws: ClientConnection, subprotocol: str) -> str:
    await ws.send(json.dumps(BOOT_FRAMES[subprotocol]))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert answer[:2] == [3, "boot"], answer
    return str(answer[2]["status"])


async def _security_events(csms: Csms, station_id: str) -> list[dict[str, Any]]:
    return await csms.rows("station_messages", station_id=station_id, kind="csms_security_event")


# ---- TLS fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture
def server_cert(tmp_path: Path) -> DevCertificate:
    return make_dev_certificate(tmp_path / "server", ["localhost", "127.0.0.1"])


@pytest.fixture
def trust(server_cert: DevCertificate) -> ssl.SSLContext:
    """What a station configured with our certificate as its CA uses."""
    return ssl.create_default_context(cafile=str(server_cert.cert_file))


@pytest.fixture
def client_cert(tmp_path: Path) -> DevCertificate:
    """A station certificate for profile 3: self-signed, common name = station id, trusted as the client CA."""
    return make_dev_certificate(tmp_path / "client", ["CP-3"])


@pytest.fixture
async def csms_tls(sqlite_url: str, server_cert: DevCertificate, client_cert: DevCertificate) -> AsyncIterator[Csms]:
    settings = test_settings(
        sqlite_url,
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        tls_client_ca_file=client_cert.cert_file,
    )
    async for running in start_csms(settings):
        yield running


@pytest.fixture
async def csms_registering(sqlite_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(sqlite_url, register_unknown_stations=True)):
        yield running


# ---- profile 0 and 1 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("subprotocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_profile_0_station_connects_without_credentials(csms_sqlite: Csms, subprotocol: str) -> None:
    await csms_sqlite.add_station("CP-0")
    async with open_socket(csms_sqlite.url("CP-0"), subprotocol) as ws:
        assert await _boot(ws, subprotocol) == "Accepted"
    assert await _security_events(csms_sqlite, "CP-0") == []


async def test_a_profile_1_station_with_its_password_connects_over_plain_ws(csms_sqlite: Csms) -> None:
    await csms_sqlite.add_station("CP-1", profile=1, password=PASSWORD)
    async with station16(csms_sqlite, "CP-1", password=PASSWORD) as cp:
        assert (await cp.call(BOOT16)).status == "Accepted"
    async with station16(csms_sqlite, "CP-1", password=PASSWORD) as cp:  # and again (the verified-password path)
        assert (await cp.call(BOOT16)).status == "Accepted"
    assert (await csms_sqlite.station("CP-1"))["vendor"] == "V"
    assert await _security_events(csms_sqlite, "CP-1") == []


BAD_CREDENTIALS: dict[str, dict[str, str] | None] = {
    "none": None,
    "wrong password": basic_auth("CP-1", "not-the-password"),
    "empty password": basic_auth("CP-1", ""),
    "another station's id as user": basic_auth("CP-OTHER", PASSWORD),
    "not base64": {"Authorization": "Basic !!!not-base64"},
    "no colon": {"Authorization": "Basic " + base64.b64encode(b"CP-1").decode()},
    "bearer scheme": {"Authorization": f"Bearer {PASSWORD}"},
}


@pytest.mark.parametrize("headers", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
async def test_a_profile_1_station_without_the_right_credentials_gets_401_and_a_security_event(
    csms_sqlite: Csms, headers: dict[str, str] | None
) -> None:
    await csms_sqlite.add_station("CP-1", profile=1, password=PASSWORD)
    refused = await _refusal(csms_sqlite.url("CP-1"), headers=headers)
    assert refused.response.status_code == 401
    assert refused.response.headers["WWW-Authenticate"].startswith("Basic")
    (event,) = await _security_events(csms_sqlite, "CP-1")
    assert event["payload"]["type"] in ("AuthenticationFailed", "InvalidAuthorizationHeader")
    assert event["payload"]["detail"]
    assert (await csms_sqlite.station("CP-1"))["online"] is False


async def test_the_password_never_appears_in_the_logs(csms_sqlite: Csms, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the most an operator can turn on, websockets' header dumps included
    logging.getLogger("websockets").setLevel(logging.DEBUG)
    wrong = "a-wrong-guess-1234"
    await csms_sqlite.add_station("CP-1", profile=1, password=PASSWORD)
    await _refusal(csms_sqlite.url("CP-1"), headers=basic_auth("CP-1", wrong))
    async with station16(csms_sqlite, "CP-1", password=PASSWORD) as cp:
        await cp.call(BOOT16)
    # What the CSMS wrote (the test's own client logs its outgoing headers too; that is not ours).
    server_log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client"))
    assert "connection refused" in server_log  # the refusal itself is logged ...
    assert "Authorization" in server_log  # ... and websockets' header dump did run
    for secret in (PASSWORD, wrong):  # ... but neither password, in clear or in its Basic Auth encoding
        assert secret not in server_log
        assert basic_auth("CP-1", secret)["Authorization"].split()[1] not in server_log


# ---- profile 2 and 3 (TLS) ---------------------------------------------------------------------------------------


async def test_a_profile_2_station_is_refused_on_plain_ws_even_with_its_password(csms_tls: Csms) -> None:
    await csms_tls.add_station("CP-2", profile=2, password=PASSWORD)
    refused = await _refusal(csms_tls.url("CP-2"), headers=basic_auth("CP-2", PASSWORD))
    assert refused.response.status_code == 401
    (event,) = await _security_events(csms_tls, "CP-2")
    assert "TLS" in event["summary"]


async def test_a_profile_2_station_connects_over_wss_with_its_password(csms_tls: Csms, trust: ssl.SSLContext) -> None:
    await csms_tls.add_station("CP-2", profile=2, password=PASSWORD)
    async with station16(csms_tls, "CP-2", password=PASSWORD, tls=True, ssl_context=trust) as cp:
        assert (await cp.call(BOOT16)).status == "Accepted"
    assert await _security_events(csms_tls, "CP-2") == []


@pytest.mark.parametrize("headers", [None, basic_auth("CP-2", "wrong-password")], ids=["no password", "wrong one"])
async def test_a_profile_2_station_over_wss_without_its_password_gets_401(
    csms_tls: Csms, trust: ssl.SSLContext, headers: dict[str, str] | None
) -> None:
    await csms_tls.add_station("CP-2", profile=2, password=PASSWORD)
    refused = await _refusal(csms_tls.url("CP-2", tls=True), headers=headers, ssl_context=trust)
    assert refused.response.status_code == 401
    assert len(await _security_events(csms_tls, "CP-2")) == 1


async def test_a_station_that_does_not_trust_the_server_certificate_cannot_connect(csms_tls: Csms) -> None:
    await csms_tls.add_station("CP-2", profile=2, password=PASSWORD)
    with pytest.raises(ssl.SSLCertVerificationError):
        async with open_socket(
            csms_tls.url("CP-2", tls=True),
            "ocpp1.6",
            headers=basic_auth("CP-2", PASSWORD),
            ssl_context=ssl.create_default_context(),
        ):
            pass


async def test_a_profile_3_station_is_admitted_by_its_client_certificate(
    csms_tls: Csms, trust: ssl.SSLContext, client_cert: DevCertificate
) -> None:
    await csms_tls.add_station("CP-3", profile=3)
    trust.load_cert_chain(client_cert.cert_file, client_cert.key_file)
    async with station16(csms_tls, "CP-3", tls=True, ssl_context=trust) as cp:
        assert (await cp.call(BOOT16)).status == "Accepted"


async def test_a_profile_3_station_without_a_matching_certificate_gets_401(
    csms_tls: Csms, trust: ssl.SSLContext, client_cert: DevCertificate
) -> None:
    await csms_tls.add_station("CP-3", profile=3)
    await csms_tls.add_station("CP-33", profile=3)
    no_certificate = await _refusal(csms_tls.url("CP-3", tls=True), ssl_context=trust)
    trust.load_cert_chain(client_cert.cert_file, client_cert.key_file)  # CN CP-3 presented by station CP-33
    someone_elses = await _refusal(csms_tls.url("CP-33", tls=True), ssl_context=trust)
    assert (no_certificate.response.status_code, someone_elses.response.status_code) == (401, 401)
    assert len(await _security_events(csms_tls, "CP-3")) == 1
    assert len(await _security_events(csms_tls, "CP-33")) == 1


# ---- unknown station ids -----------------------------------------------------------------------------------------


async def test_an_unknown_station_is_refused_with_404_and_not_registered(csms_sqlite: Csms) -> None:
    refused = await _refusal(csms_sqlite.url("NOBODY"))
    assert refused.response.status_code == 404
    assert await csms_sqlite.rows("stations", id="NOBODY") == []


async def test_an_unknown_station_is_registered_pending_when_so_configured_and_may_not_charge(
    csms_registering: Csms,
) -> None:
    csms = csms_registering
    await csms.add_token("CARD")
    async with station16(csms, "NEW-1") as cp:
        assert (await cp.call(BOOT16)).status == "Pending"
        assert (await csms.station("NEW-1"))["registration"] == "Pending"
        with pytest.raises(SecurityError):
            await cp.call(call.Authorize(id_tag="CARD"), suppress=False)
        with pytest.raises(SecurityError):
            start = call.StartTransaction(
                connector_id=1, id_tag="CARD", meter_start=0, timestamp="2026-11-25T08:00:00Z"
            )
            await cp.call(start, suppress=False)
        assert (await cp.call(call.Heartbeat())).current_time  # still connected and heard
    assert await csms.rows("transactions") == []


async def test_an_unknown_201_station_is_registered_pending_and_may_not_authorize(csms_registering: Csms) -> None:
    async with open_socket(csms_registering.url("NEW-2"), "ocpp2.0.1") as ws:
        assert await _boot(ws, "ocpp2.0.1") == "Pending"
        await ws.send(json.dumps([2, "a", "Authorize", {"idToken": {"idToken": "CARD", "type": "ISO14443"}}]))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert answer[:3] == [4, "a", "SecurityError"]


# ---- sub-protocols and paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("subprotocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_the_offered_ocpp_version_is_negotiated(csms_sqlite: Csms, subprotocol: str) -> None:
    await csms_sqlite.add_station("CP-V")
    async with open_socket(csms_sqlite.url("CP-V"), subprotocol) as ws:
        assert ws.subprotocol == subprotocol
        assert await _boot(ws, subprotocol) == "Accepted"
    assert (await csms_sqlite.station("CP-V"))["vendor"] == "V"


@pytest.mark.parametrize("offered", [["ocpp1.5"], ["ocpp2.1"], ["mqtt", "wamp"]])
async def test_offering_no_supported_version_completes_the_handshake_without_one_then_closes_1002(
    csms_sqlite: Csms, offered: list[str]
) -> None:
    await csms_sqlite.add_station("CP-V")
    async with connect(csms_sqlite.url("CP-V"), subprotocols=offered, ping_interval=None) as ws:  # type: ignore[arg-type]
        assert ws.response is not None and "Sec-WebSocket-Protocol" not in ws.response.headers
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
    assert ws.close_code == 1002
    assert (await csms_sqlite.station("CP-V"))["online"] is False


async def test_offering_no_subprotocol_at_all_is_closed_1002(csms_sqlite: Csms) -> None:
    await csms_sqlite.add_station("CP-V")
    async with connect(csms_sqlite.url("CP-V"), ping_interval=None) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
    assert ws.close_code == 1002


@pytest.mark.parametrize("base", ["/ocpp", "", "/a/b", "/ocpp/v16/site-7"])
async def test_any_path_ending_with_the_station_id_reaches_that_station(csms_sqlite: Csms, base: str) -> None:
    await csms_sqlite.add_station("CP1")
    async with station16(csms_sqlite, "CP1", base=base) as cp:
        assert (await cp.call(BOOT16)).status == "Accepted"
    assert (await csms_sqlite.station("CP1"))["vendor"] == "V"


@pytest.mark.parametrize("path", ["/", "/ocpp/", "/ocpp/%00", "/ocpp/" + "X" * 49])
async def test_a_path_without_a_usable_station_id_is_refused_with_404(csms_sqlite: Csms, path: str) -> None:
    port = csms_sqlite.app.gateway.ports["ws"]
    refused = await _refusal(f"ws://127.0.0.1:{port}{path}")
    assert refused.response.status_code == 404
