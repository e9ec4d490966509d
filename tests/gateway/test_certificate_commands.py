"""The certificate and security-profile commands as each version's CALL, checked against the official schemas; what
a version cannot express is refused before anything is sent, saying why; passwords stay out of the logs."""

from __future__ import annotations

import pytest

from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported
from tests.gateway.test_file_commands import call

CHAIN = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
HASH = c.CertificateHash("SHA256", "aa" * 32, "bb" * 32, "1f2e")


def test_certificate_signed_carries_the_chain_and_in_2_0_1_its_type() -> None:
    command = c.CertificateSigned(certificate_chain=CHAIN, certificate_type="ChargingStationCertificate")
    assert call("1.6", command) == ("CertificateSigned", {"certificateChain": CHAIN})
    assert call("2.0.1", command) == (
        "CertificateSigned",
        {"certificateChain": CHAIN, "certificateType": "ChargingStationCertificate"},
    )
    assert command.arguments()["certificate_chain"] == f"{len(CHAIN)} characters"


def test_install_certificate_names_the_root_in_each_versions_words() -> None:
    command = c.InstallCertificate(certificate_type=c.CertificateUse.CSMS_ROOT, certificate=CHAIN)
    assert call("1.6", command)[1]["certificateType"] == "CentralSystemRootCertificate"
    assert call("2.0.1", command)[1]["certificateType"] == "CSMSRootCertificate"
    v2g = c.InstallCertificate(certificate_type=c.CertificateUse.V2G_ROOT, certificate=CHAIN)
    assert call("2.0.1", v2g)[1]["certificateType"] == "V2GRootCertificate"
    with pytest.raises(CommandNotSupported, match=r"1\.6 station keeps"):
        call("1.6", v2g)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_delete_certificate_reads_alike(version: str) -> None:
    assert call(version, c.DeleteCertificate(certificate=HASH)) == (
        "DeleteCertificate",
        {
            "certificateHashData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "aa" * 32,
                "issuerKeyHash": "bb" * 32,
                "serialNumber": "1f2e",
            }
        },
    )


def test_installed_ids_asks_1_6_for_exactly_one_type() -> None:
    one = c.GetInstalledCertificateIds(certificate_types=(c.CertificateUse.MANUFACTURER_ROOT,))
    assert call("1.6", one) == ("GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"})
    with pytest.raises(CommandNotSupported, match="exactly one"):
        call("1.6", c.GetInstalledCertificateIds())
    assert call("2.0.1", c.GetInstalledCertificateIds()) == ("GetInstalledCertificateIds", {})


def test_a_new_csr_is_asked_for_in_each_versions_words() -> None:
    command = c.ExtendedTriggerMessage(message="SignChargePointCertificate")
    assert call("1.6", command) == ("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert call("2.0.1", command) == ("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
    with pytest.raises(CommandNotSupported, match="ExtendedTriggerMessage asks for"):
        call("1.6", c.ExtendedTriggerMessage(message="DiagnosticsStatusNotification"))


def test_a_new_password_is_sent_and_never_logged() -> None:
    command = c.SetStationPassword(password="s3cret-s3cret-s3cret")
    hexed = b"s3cret-s3cret-s3cret".hex()  # the 1.6 security whitepaper: AuthorizationKey is hex-encoded
    assert call("1.6", command) == ("ChangeConfiguration", {"key": "AuthorizationKey", "value": hexed})
    action, payload = call("2.0.1", command)
    assert action == "SetVariables"
    (item,) = payload["setVariableData"]
    assert (item["component"]["name"], item["variable"]["name"]) == ("SecurityCtrlr", "BasicAuthPassword")
    assert "s3cret" not in str(command.arguments())


def test_the_security_profile_is_a_key_in_1_6_and_a_network_profile_in_2_0_1() -> None:
    assert call("1.6", c.SetSecurityProfile(profile=2)) == (
        "ChangeConfiguration",
        {"key": "SecurityProfile", "value": "2"},
    )
    action, payload = call("2.0.1", c.SetSecurityProfile(profile=2, csms_url="wss://csms.example.com/ocpp", slot=1))
    assert action == "SetNetworkProfile" and payload["configurationSlot"] == 1
    assert payload["connectionData"]["securityProfile"] == 2
    assert payload["connectionData"]["ocppCsmsUrl"] == "wss://csms.example.com/ocpp"
    with pytest.raises(CommandNotSupported, match="csms_url"):
        call("2.0.1", c.SetSecurityProfile(profile=2))
