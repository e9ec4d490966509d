"""Station certificates end to end: a station's CSR signed by the built-in CA and installed (1.6 and 2.0.1), a
wrong CSR refused with its reason, an external CA's certificate installed by an operator, renewal before expiry
(and its alarm), profile 3 over real TLS with the certificate our CA signed, and a security profile raised without
locking the station out."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.exceptions import InvalidStatus

from evscada.app import Application
from evscada.core.access.users import Role
from evscada.core.certificates.authority import CertificateAuthority, hash_data, new_authority, read_csr
from evscada.security.authority_files import load_or_create
from evscada.security.certificates import DevCertificate, make_dev_certificate
from tests.conftest import _empty_postgres, test_settings
from tests.support import (
    BOOT,
    ChargePoint16,
    ChargePoint201,
    Csms,
    connected_station,
    eventually,
    open_socket,
    station16,
    station201,
)

ORG = "Test Charging Ltd"


class MovingClock:
    """Now, moved forward by the test (for certificates that near their expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def make_csr(station_id: str, *, organisation: str = ORG, key: Any = None) -> tuple[str, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, station_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


class Station16(ChargePoint16):
    """A 1.6 station with the security extension: keeps what the CSMS sends it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chains: list[str] = []
        self.config: dict[str, str] = {}
        self.triggers: list[str] = []
        self.answer = "Accepted"

    @on("CertificateSigned")
    def certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        self.chains.append(certificate_chain)
        return result16.CertificateSigned(status=self.answer)

    @on("ChangeConfiguration")
    def change_configuration(self, key: str, value: str) -> Any:
        self.config[key] = value
        return result16.ChangeConfiguration(status="Accepted")

    @on("ExtendedTriggerMessage")
    def extended_trigger(self, requested_message: str, **_: Any) -> Any:
        self.triggers.append(requested_message)
        return result16.ExtendedTriggerMessage(status=self.answer)


class Station201(ChargePoint201):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chains: list[str] = []
        self.triggers: list[str] = []

    @on("CertificateSigned")
    def certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        self.chains.append(certificate_chain)
        return result201.CertificateSigned(status="Accepted")

    @on("TriggerMessage")
    def trigger(self, requested_message: str, **_: Any) -> Any:
        self.triggers.append(requested_message)
        return result201.TriggerMessage(status="Accepted")


def _ca_settings(tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {
        "certificates": {
            "organisation": ORG,
            "ca_cert_file": str(tmp_path / "ca" / "ca-cert.pem"),
            "ca_key_file": str(tmp_path / "ca" / "ca-key.pem"),
            **more,
        }
    }


async def _running(settings: Any, clock: MovingClock | None = None) -> AsyncIterator[Csms]:
    """start_csms with a clock of the test's."""
    app = Application(settings, clock=clock)
    await app.database.migrate()
    if app.database.engine.dialect.name == "postgresql":
        await _empty_postgres(settings.database_url)
    async with app:
        yield Csms(app)


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
async def csms_ca(database_url: str, tmp_path: Path, clock: MovingClock) -> AsyncIterator[Csms]:
    """A CSMS with the built-in CA (made on first use in tmp_path), on SQLite and PostgreSQL."""
    settings = test_settings(database_url, **_ca_settings(tmp_path))
    async for running in _running(settings, clock):
        yield running


async def _api(csms: Csms, role: Role = Role.ADMIN) -> httpx.AsyncClient:
    await csms.app.core.access.add_user(username="secops", role=role)
    key = await csms.app.core.access.create_api_key(username="secops", name="test")
    assert csms.app.http is not None
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


@pytest.fixture
async def api(csms_ca: Csms) -> AsyncIterator[httpx.AsyncClient]:
    async with await _api(csms_ca) as client:
        yield client


def _first(chain: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain.encode())[0]


# ---- signing ---------------------------------------------------------------------------------------------------


async def test_a_16_stations_csr_is_signed_by_our_ca_and_installed(csms_ca: Csms, api: httpx.AsyncClient) -> None:
    await csms_ca.add_station("CP-16")
    csr, key = make_csr("CP-16")
    async with connected_station(Station16, "ocpp1.6", csms_ca, "CP-16", until_registered=True) as cp:
        answer = await cp.call(call16.SignCertificate(csr=csr))
        assert answer.status == "Accepted"
        assert await eventually(lambda: _async(cp.chains))
        await csms_ca.app.core.certificates.deliveries_done()  # connected until the CSMS has the station's answer
    certificates = x509.load_pem_x509_certificates(cp.chains[0].encode())
    station_cert, ca_cert = certificates
    assert station_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-16"
    assert station_cert.issuer == ca_cert.subject
    station_cert.verify_directly_issued_by(ca_cert)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert station_cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    (listed,) = (await api.get("/stations/CP-16/certificates")).json()
    assert listed["state"] == "active" and listed["serial"] == format(station_cert.serial_number, "x")
    assert listed["not_after"].startswith(station_cert.not_valid_after_utc.date().isoformat())
    (request,) = (await api.get("/stations/CP-16/certificates/requests")).json()
    assert request["status"] == "delivered" and request["certificate_id"] == listed["id"]


async def test_a_201_stations_csr_is_signed_and_installed(csms_ca: Csms, api: httpx.AsyncClient) -> None:
    await csms_ca.add_station("CS-201")
    csr, _ = make_csr("CS-201", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    async with connected_station(Station201, "ocpp2.0.1", csms_ca, "CS-201", until_registered=True) as cs:
        answer = await cs.call(call201.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate"))
        assert answer.status == "Accepted"
        assert await eventually(lambda: _async(cs.chains))
        await csms_ca.app.core.certificates.deliveries_done()
    assert _first(cs.chains[0]).subject.rfc4514_string() == f"O={ORG},CN=CS-201"
    (listed,) = (await api.get("/certificates")).json()
    assert (listed["station_id"], listed["state"]) == ("CS-201", "active")


async def _async(value: Any) -> Any:
    return value


@pytest.mark.parametrize(
    ("subject", "organisation", "reason"),
    [
        ("CP-OTHER", ORG, "common name (CN) is 'CP-OTHER'; it must be the station id 'CP-1'"),
        ("CP-1", "Someone Else", "organisation (O) is 'Someone Else'"),
    ],
)
async def test_a_csr_for_another_station_or_organisation_is_refused_with_its_reason(
    csms_ca: Csms, api: httpx.AsyncClient, subject: str, organisation: str, reason: str
) -> None:
    await csms_ca.add_station("CP-1")
    csr, _ = make_csr(subject, organisation=organisation)
    async with connected_station(Station16, "ocpp1.6", csms_ca, "CP-1", until_registered=True) as cp:
        assert (await cp.call(call16.SignCertificate(csr=csr))).status == "Rejected"
        await asyncio.sleep(0.4)  # no CertificateSigned follows
        assert cp.chains == []
    (request,) = (await api.get("/stations/CP-1/certificates/requests")).json()
    assert request["status"] == "rejected" and reason in request["reason"]
    assert (await api.get("/stations/CP-1/certificates")).json() == []


async def test_a_weak_key_or_garbage_is_refused(csms_ca: Csms) -> None:
    await csms_ca.add_station("CP-1")
    weak, _ = make_csr("CP-1", key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    async with connected_station(Station16, "ocpp1.6", csms_ca, "CP-1", until_registered=True) as cp:
        assert (await cp.call(call16.SignCertificate(csr=weak))).status == "Rejected"
        assert (await cp.call(call16.SignCertificate(csr="not a csr"))).status == "Rejected"
    reasons = [r.reason for r in await csms_ca.app.core.certificates.requests()]
    assert any("1024 bits; at least 2048" in (r or "") for r in reasons)
    assert any("not a PEM-encoded PKCS#10" in (r or "") for r in reasons)


# ---- external CA -------------------------------------------------------------------------------------------------


@pytest.fixture
async def csms_external(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Csms]:
    settings = test_settings(sqlite_url, **_ca_settings(tmp_path, mode="external"))
    async for running in _running(settings):
        yield running


async def test_in_external_mode_the_csr_waits_and_the_operators_certificate_is_sent(
    csms_external: Csms, tmp_path: Path
) -> None:
    await csms_external.add_station("CP-X")
    csr_pem, _ = make_csr("CP-X")
    async with await _api(csms_external) as api:
        async with connected_station(Station16, "ocpp1.6", csms_external, "CP-X", until_registered=True) as cp:
            assert (await cp.call(call16.SignCertificate(csr=csr_pem))).status == "Accepted"
            (request,) = (await api.get("/stations/CP-X/certificates/requests")).json()
            assert request["status"] == "awaiting_operator"
            assert not (tmp_path / "ca").exists()  # no built-in CA in external mode
            # The operator's CA (elsewhere) signs it.
            other = CertificateAuthority(*new_authority(organisation="Elsewhere", now=datetime.now(UTC)))
            signed = other.sign(read_csr(request["csr"]), now=datetime.now(UTC), validity=timedelta(days=90))
            chain = other.chain_pem(signed)
            bad = await api.post("/stations/CP-X/certificates/signed", json={"certificate_chain": "hello"})
            assert bad.status_code == 422 and "PEM certificate" in bad.text
            wrong = await api.post("/stations/CP-Y/certificates/signed", json={"certificate_chain": chain})
            assert wrong.status_code == 404
            another_csr, _ = make_csr("CP-X")  # the right name, but not the key the station asked for
            another = other.sign(read_csr(another_csr), now=datetime.now(UTC), validity=timedelta(days=90))
            mismatch = await api.post(
                "/stations/CP-X/certificates/signed", json={"certificate_chain": other.chain_pem(another)}
            )
            assert mismatch.status_code == 422 and "does not certify the key" in mismatch.text
            assert cp.chains == []
            installed = await api.post("/stations/CP-X/certificates/signed", json={"certificate_chain": chain})
            assert installed.status_code == 200, installed.text
            assert installed.json()["command"]["status"] == "Accepted"
            assert cp.chains == [chain]
        assert installed.json()["certificate"]["state"] == "active"
        (request,) = (await api.get("/stations/CP-X/certificates/requests")).json()
        assert request["status"] == "delivered"


# ---- renewal -----------------------------------------------------------------------------------------------------


async def _signed_station(csms: Csms, cp: Station16, station_id: str) -> Any:
    """The station's CSR signed and its certificate delivered; its private key."""
    csr, key = make_csr(station_id)
    assert (await cp.call(call16.SignCertificate(csr=csr))).status == "Accepted"
    await eventually(lambda: _async(cp.chains))
    await csms.app.core.certificates.deliveries_done()
    return key


async def test_a_certificate_near_expiry_is_renewed_and_a_failed_renewal_raises_an_alarm(
    csms_ca: Csms, api: httpx.AsyncClient, clock: MovingClock
) -> None:
    await csms_ca.add_station("CP-R")
    service = csms_ca.app.core.certificates
    async with connected_station(Station16, "ocpp1.6", csms_ca, "CP-R", until_registered=True) as cp:
        await _signed_station(csms_ca, cp, "CP-R")
        assert await service.check_renewals() == 0  # a year to go: nothing asked
        assert (await api.get("/certificates/expiring")).json() == []
        clock.offset = timedelta(days=340)  # 25 days left, within renew_before_days (30)
        (expiring,) = (await api.get("/certificates/expiring")).json()
        assert await service.check_renewals() == 1
        assert cp.triggers == ["SignChargePointCertificate"]
        assert await service.check_renewals() == 0  # asked already: not again until renewal_retry_hours pass
        await _signed_station(csms_ca, cp, "CP-R")  # the station's new CSR
    states = {c["id"]: c["state"] for c in (await api.get("/stations/CP-R/certificates")).json()}
    assert states[expiring["id"]] == "superseded" and sorted(states.values()) == ["active", "superseded"]

    clock.offset = timedelta(days=340 + 340)  # the new one nears its end; the station is offline now
    assert await service.check_renewals() == 1
    (alarm,) = await csms_ca.rows("alarms", source="certificate")
    assert alarm["station_id"] == "CP-R" and alarm["state"] == "active"
    assert "could not be renewed" in alarm["message"] and "offline" in alarm["message"]


# ---- profile 3 over real TLS -----------------------------------------------------------------------------------


@pytest.fixture
def server_cert(tmp_path: Path) -> DevCertificate:
    return make_dev_certificate(tmp_path / "server", ["localhost", "127.0.0.1"])


@pytest.fixture
async def csms_tls(sqlite_url: str, tmp_path: Path, server_cert: DevCertificate) -> AsyncIterator[Csms]:
    """wss with client certificates checked against our own CA (tls_client_ca_file = certificates.ca_cert_file)."""
    settings = test_settings(
        sqlite_url,
        tls_cert_file=server_cert.cert_file,
        tls_key_file=server_cert.key_file,
        tls_client_ca_file=tmp_path / "ca" / "ca-cert.pem",
        **_ca_settings(tmp_path),
    )
    async for running in _running(settings):
        yield running


PASSWORD = "profile-two-password-123"


async def test_profile_3_a_station_signed_by_our_ca_connects_with_its_certificate(
    csms_tls: Csms, server_cert: DevCertificate, tmp_path: Path
) -> None:
    await csms_tls.add_station("CP-3", profile=2, password=PASSWORD)
    trust = ssl.create_default_context(cafile=str(server_cert.cert_file))
    async with connected_station(
        Station16, "ocpp1.6", csms_tls, "CP-3", password=PASSWORD, tls=True, ssl_context=trust, until_registered=True
    ) as cp:
        key = await _signed_station(csms_tls, cp, "CP-3")
        async with await _api(csms_tls) as api:
            raised = await api.post("/stations/CP-3/security-profile", json={"profile": 3})
            assert raised.status_code == 200, raised.text
        assert cp.config == {"SecurityProfile": "3"}
    # The station now presents the certificate our CA signed for it.
    (tmp_path / "station").mkdir()
    cert_file, key_file = tmp_path / "station" / "cert.pem", tmp_path / "station" / "key.pem"
    cert_file.write_text(cp.chains[0])
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with_cert = ssl.create_default_context(cafile=str(server_cert.cert_file))
    with_cert.load_cert_chain(cert_file, key_file)
    async with open_socket(csms_tls.url("CP-3", tls=True), "ocpp1.6", ssl_context=with_cert) as ws:
        await ws.send('[2,"b","BootNotification",' + _json(BOOT["ocpp1.6"]) + "]")
        assert '"Accepted"' in await asyncio.wait_for(ws.recv(), 30)
    assert (await csms_tls.station("CP-3"))["security_profile"] == 3
    # The password alone no longer does: the old credentials were withdrawn once it connected with the new ones.
    with pytest.raises(InvalidStatus):
        async with station16(csms_tls, "CP-3", password=PASSWORD, tls=True, ssl_context=trust):
            pass


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


# ---- raising the profile without a lock-out ----------------------------------------------------------------------


async def test_profile_0_to_1_the_station_is_never_locked_out(csms_ca: Csms, api: httpx.AsyncClient) -> None:
    await csms_ca.add_station("CP-U")
    async with connected_station(Station16, "ocpp1.6", csms_ca, "CP-U", until_registered=True) as cp:
        raised = await api.post("/stations/CP-U/security-profile", json={"profile": 1})
        assert raised.status_code == 200, raised.text
        result = raised.json()
        assert [c["command"] for c in result["commands"]] == ["set_station_password", "set_security_profile"]
        assert result["upgrade"]["state"] == "pending"
        new_password = bytes.fromhex(cp.config["AuthorizationKey"]).decode()  # sent hex-encoded, as 1.6 asks
        assert cp.config["SecurityProfile"] == "1" and 16 <= len(new_password) <= 40
    # The password never reaches the command log.
    logged = await csms_ca.rows("command_log", station_id="CP-U")
    assert all(new_password not in str(row) for row in logged)
    # Before the station switches, its old way in still works ...
    async with station16(csms_ca, "CP-U", until_registered=True):
        pass
    assert (await csms_ca.station("CP-U"))["security_profile"] == 0
    # ... and the new one too; connecting with it completes the upgrade.
    async with station16(csms_ca, "CP-U", password=new_password, until_registered=True):
        pass
    assert (await csms_ca.station("CP-U"))["security_profile"] == 1
    (upgrade,) = (await api.get("/stations/CP-U/security-profile")).json()
    assert upgrade["state"] == "completed"
    with pytest.raises(InvalidStatus) as refused:  # now the old way is withdrawn
        async with open_socket(csms_ca.url("CP-U"), "ocpp1.6"):
            pass
    assert refused.value.response.status_code == 401


async def test_a_201_station_gets_its_password_and_network_profile(csms_ca: Csms, api: httpx.AsyncClient) -> None:
    await csms_ca.add_station("CS-U")
    seen: list[tuple[str, Any]] = []

    class Station(Station201):
        @on("SetVariables")
        def set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
            seen.append(("SetVariables", set_variable_data))
            return result201.SetVariables(
                set_variable_result=[
                    {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
                    for d in set_variable_data
                ]
            )

        @on("SetNetworkProfile")
        def set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any], **_: Any) -> Any:
            seen.append(("SetNetworkProfile", connection_data))
            return result201.SetNetworkProfile(status="Accepted")

        @on("Reset")
        def reset(self, type: str, **_: Any) -> Any:
            seen.append(("Reset", type))
            return result201.Reset(status="Accepted")

    async with connected_station(Station, "ocpp2.0.1", csms_ca, "CS-U", until_registered=True):
        missing = await api.post("/stations/CS-U/security-profile", json={"profile": 1})
        assert missing.status_code == 422 and "csms_url" in missing.text
        raised = await api.post(
            "/stations/CS-U/security-profile", json={"profile": 1, "csms_url": csms_ca.url("").rstrip("/")}
        )
        assert raised.status_code == 200, raised.text
    assert [name for name, _ in seen] == ["SetVariables", "SetNetworkProfile", "SetVariables", "Reset"]
    password_item = seen[0][1][0]
    assert password_item["variable"]["name"] == "BasicAuthPassword"
    assert seen[1][1]["security_profile"] == 1
    async with station201(csms_ca, "CS-U", password=password_item["attribute_value"], until_registered=True):
        pass
    assert (await csms_ca.station("CS-U"))["security_profile"] == 1


async def test_bad_security_profile_requests_say_what_is_wrong(csms_ca: Csms, api: httpx.AsyncClient) -> None:
    await csms_ca.add_station("CP-B", profile=1, password=PASSWORD)
    lower = await api.post("/stations/CP-B/security-profile", json={"profile": 1})
    assert lower.status_code == 422 and "only a higher profile" in lower.json()["detail"]
    no_cert = await api.post("/stations/CP-B/security-profile", json={"profile": 3})
    assert no_cert.status_code == 422 and "holds no certificate" in no_cert.json()["detail"]
    offline = await api.post("/stations/CP-B/security-profile", json={"profile": 2})
    assert offline.status_code == 409 and "offline" in offline.text
    out_of_range = await api.post("/stations/CP-B/security-profile", json={"profile": 7})
    assert out_of_range.status_code == 422
    assert (await api.post("/stations/NOPE/security-profile", json={"profile": 2})).status_code == 404
    bad_hash = await api.post(
        "/stations/CP-B/certificates/delete",
        json={"issuer_name_hash": "zz", "issuer_key_hash": "00", "serial_number": "01"},
    )
    assert bad_hash.status_code == 422 and "issuer_name_hash" in bad_hash.text


# ---- 2.0.1 GetCertificateStatus ----------------------------------------------------------------------------------


def _status_request(certificate: x509.Certificate, issuer: x509.Certificate) -> Any:
    data = hash_data(certificate, issuer)
    return call201.GetCertificateStatus(
        ocsp_request_data={
            "hash_algorithm": data["hashAlgorithm"],
            "issuer_name_hash": data["issuerNameHash"],
            "issuer_key_hash": data["issuerKeyHash"],
            "serial_number": data["serialNumber"],
            "responder_url": "http://somewhere.invalid/ocsp",
        }
    )


async def test_without_a_responder_certificate_status_is_failed_with_the_reason(csms_ca: Csms) -> None:
    await csms_ca.add_station("CS-O")
    ca = CertificateAuthority(*new_authority(organisation=ORG, now=datetime.now(UTC)))
    csr, _ = make_csr("CS-O")
    signed = ca.sign(read_csr(csr), now=datetime.now(UTC), validity=timedelta(days=30))
    async with station201(csms_ca, "CS-O", until_registered=True) as cs:
        answer = await cs.call(_status_request(signed, ca.certificate))
    assert answer.status == "Failed"
    assert "certificates.ocsp_responder_url" in answer.status_info["additional_info"]


@pytest.fixture
async def responder() -> AsyncIterator[tuple[str, CertificateAuthority, list[bytes]]]:
    """An OCSP responder over HTTP: answers "good" for whatever our test CA signed, signed by that CA."""
    cert_pem, key_pem = new_authority(organisation="OCSP test", now=datetime.now(UTC))
    ca, ca_key = CertificateAuthority(cert_pem, key_pem), serialization.load_pem_private_key(key_pem, None)
    asked: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
        body = await reader.readexactly(length)
        asked.append(body)
        request = ocsp.load_der_ocsp_request(body)
        now = datetime.now(UTC)
        response = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=hashes.SHA256(),
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=now,
                next_update=now + timedelta(hours=1),
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.certificate)
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        der = response.public_bytes(serialization.Encoding.DER)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
            + f"Content-Length: {len(der)}\r\nConnection: close\r\n\r\n".encode()
            + der
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/ocsp", ca, asked


async def test_certificate_status_comes_from_the_configured_ocsp_responder(
    sqlite_url: str, tmp_path: Path, responder: tuple[str, CertificateAuthority, list[bytes]]
) -> None:
    url, ca, asked = responder
    settings = test_settings(sqlite_url, **_ca_settings(tmp_path, ocsp_responder_url=url))
    csr, _ = make_csr("CS-O")
    signed = ca.sign(read_csr(csr), now=datetime.now(UTC), validity=timedelta(days=30))
    async for csms in _running(settings):
        await csms.add_station("CS-O")
        async with station201(csms, "CS-O", until_registered=True) as cs:
            answer = await cs.call(_status_request(signed, ca.certificate))
    assert answer.status == "Accepted"
    assert len(asked) == 1  # the configured responder, not the station's responderURL
    result = ocsp.load_der_ocsp_response(base64.b64decode(answer.ocsp_result))
    assert result.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert result.serial_number == signed.serial_number


# ---- configuration -----------------------------------------------------------------------------------------------


def test_a_ca_certificate_without_its_key_is_never_silently_replaced(tmp_path: Path) -> None:
    cert_file, key_file = tmp_path / "ca.pem", tmp_path / "ca-key.pem"
    made = load_or_create(cert_file, key_file, make_new=lambda: new_authority(organisation=ORG, now=datetime.now(UTC)))
    assert load_or_create(cert_file, key_file, make_new=lambda: (b"", b"")) == made  # loaded, not made again
    assert key_file.stat().st_mode & 0o077 == 0  # the key is the owner's alone
    key_file.unlink()
    with pytest.raises(ValueError, match=r"exists but .*ca-key\.pem does not"):
        load_or_create(cert_file, key_file, make_new=lambda: (b"", b""))


def test_settings_refuse_a_renewal_window_longer_than_the_validity(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"renew_before_days \(400\) must be less than validity_days \(365\)"):
        test_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", certificates={"renew_before_days": 400})
