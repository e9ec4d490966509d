"""The simulator's security side against the CSMS: a new CSR when asked (1.6 ExtendedTriggerMessage, 2.0.1
TriggerMessage), the certificate our CA signs installed; a new password and security profile taken by reconnecting
with the new password, so the CSMS completes the upgrade without the station ever being locked out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from evscada.core.access.users import Role
from evscada.core.model import StationId
from evscada.security.certificates import make_dev_certificate
from evscada.simulator.fleet import run_station
from evscada.simulator.station import SimulatedStation, StationSpec, cancel_quietly
from tests.conftest import start_csms, test_settings
from tests.simulator.helpers import QUIET, SID, VERSIONS, ready
from tests.support import Csms, eventually


@dataclass
class Rig:
    csms: Csms
    station: SimulatedStation
    api: httpx.AsyncClient


@pytest.fixture
async def rig(sqlite_url: str, tmp_path: Path, version: str) -> AsyncIterator[Rig]:
    """A CSMS with its built-in CA (organisation "evscada", the simulator's default) and one simulated station."""
    certificates = {"ca_cert_file": str(tmp_path / "ca.pem"), "ca_key_file": str(tmp_path / "ca-key.pem")}
    async with contextlib.aclosing(start_csms(test_settings(sqlite_url, certificates=certificates))) as running:  # type: ignore[type-var]  # a generator
        csms = await anext(running)
        await csms.add_station(SID)
        station = SimulatedStation(StationSpec(station_id=SID, version=version, connectors=2), None, QUIET)
        task = asyncio.create_task(run_station(csms.url(SID).rsplit("/", 1)[0], station))
        await csms.app.core.access.add_user(username="secops", role=Role.ADMIN)
        key = await csms.app.core.access.create_api_key(username="secops", name="test")
        assert csms.app.http is not None
        try:
            assert await eventually(lambda: ready(csms), timeout=20), "the simulated station never booted"
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ) as api:
                yield Rig(csms, station, api)
        finally:
            await cancel_quietly(task)


async def _installed(r: Rig) -> bool:
    return r.station.certificates.chain is not None


@VERSIONS
async def test_asked_for_a_csr_the_station_gets_and_installs_its_certificate(rig: Rig) -> None:
    asked = await rig.api.post(f"/stations/{SID}/certificates/trigger", json={})
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "Accepted"
    assert await eventually(lambda: _installed(rig)), "the station never installed a certificate"
    certificate = x509.load_pem_x509_certificates((rig.station.certificates.chain or "").encode())[0]
    assert certificate.subject.rfc4514_string() == f"O=evscada,CN={SID}"
    await rig.csms.app.core.certificates.deliveries_done()
    (tracked,) = (await rig.api.get(f"/stations/{SID}/certificates")).json()
    assert tracked["state"] == "active" and tracked["serial"] == format(certificate.serial_number, "x")


async def _upgraded(r: Rig) -> bool:
    return bool((await r.csms.station(SID))["security_profile"] == 1)


@VERSIONS
async def test_raised_to_profile_1_the_station_reconnects_with_its_new_password(rig: Rig, version: str) -> None:
    body: dict[str, object] = {"profile": 1}
    if version == "2.0.1":
        body["csms_url"] = rig.csms.url(SID).rsplit("/", 1)[0]
    raised = await rig.api.post(f"/stations/{SID}/security-profile", json=body)
    assert raised.status_code == 200, raised.text
    assert all(c["status"] == "Accepted" for c in raised.json()["commands"]), raised.json()["commands"]
    assert await eventually(lambda: _upgraded(rig), timeout=10), "the station never connected with the new password"
    assert rig.station.spec.password is not None and len(rig.station.spec.password) == 20
    (upgrade,) = (await rig.api.get(f"/stations/{SID}/security-profile")).json()
    assert upgrade["state"] == "completed"
    assert await eventually(lambda: ready(rig.csms), timeout=20), "the station did not come back"
    assert rig.csms.app.gateway.registry.get(StationId(SID)) is not None


@pytest.fixture
async def tls_rig(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    """wss with client certificates checked against our CA; a 1.6 station at profile 2 (TLS and its password)."""
    server = make_dev_certificate(tmp_path / "server", ["localhost", "127.0.0.1"])
    ca_file = tmp_path / "ca.pem"
    settings = test_settings(
        sqlite_url,
        tls_cert_file=server.cert_file,
        tls_key_file=server.key_file,
        tls_client_ca_file=ca_file,
        certificates={"ca_cert_file": str(ca_file), "ca_key_file": str(tmp_path / "ca-key.pem")},
    )
    async with contextlib.aclosing(start_csms(settings)) as running:  # type: ignore[type-var]  # a generator
        csms = await anext(running)
        await csms.add_station(SID, profile=2, password=PASSWORD)
        spec = StationSpec(
            station_id=SID, version="1.6", connectors=2, password=PASSWORD, tls_trust=server.cert_file.read_text()
        )
        station = SimulatedStation(spec, None, QUIET)
        task = asyncio.create_task(run_station(csms.url(SID, tls=True).rsplit("/", 1)[0], station))
        await csms.app.core.access.add_user(username="secops", role=Role.ADMIN)
        key = await csms.app.core.access.create_api_key(username="secops", name="test")
        assert csms.app.http is not None
        try:
            assert await eventually(lambda: ready(csms), timeout=20), "the simulated station never booted over wss"
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ) as api:
                yield Rig(csms, station, api)
        finally:
            await cancel_quietly(task)


PASSWORD = "profile-two-password-123"


async def _at_profile_3(r: Rig) -> bool:
    return bool((await r.csms.station(SID))["security_profile"] == 3)


async def test_profile_2_to_3_the_station_reconnects_with_the_certificate_our_ca_signed(tls_rig: Rig) -> None:
    r = tls_rig
    early = await r.api.post(f"/stations/{SID}/security-profile", json={"profile": 3})
    assert early.status_code == 422 and "holds no certificate" in early.text  # nothing to connect with yet
    assert (await r.api.post(f"/stations/{SID}/certificates/trigger", json={})).status_code == 200
    assert await eventually(lambda: _installed(r)), "the station never installed a certificate"
    await r.csms.app.core.certificates.deliveries_done()
    raised = await r.api.post(f"/stations/{SID}/security-profile", json={"profile": 3})
    assert raised.status_code == 200, raised.text
    assert [c["command"] for c in raised.json()["commands"]] == ["set_security_profile"]
    assert await eventually(lambda: _at_profile_3(r), timeout=10), "the station never connected with its certificate"
    assert await eventually(lambda: ready(r.csms), timeout=20), "the station did not come back"
    (upgrade,) = (await r.api.get(f"/stations/{SID}/security-profile")).json()
    assert upgrade["state"] == "completed"
