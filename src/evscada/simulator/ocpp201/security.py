"""How a simulated 2.0.1 station takes its certificate and network profile: CertificateSigned after its
SignCertificate (asked for with TriggerMessage SignChargingStationCertificate), SetNetworkProfile (kept; the station
moves to it at its next reboot, when OCPPCommCtrlr.NetworkConfigurationPriority names it). Its password changes
through SetVariables SecurityCtrlr.BasicAuthPassword (station.change_setting)."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from evscada.simulator.links.answering import Answering, accepted


class Security201(Answering):
    """Mixed into Commands201."""

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        return call_result.CertificateSigned(status=accepted(self.station.install_certificate(certificate_chain)))

    @on(Action.set_network_profile)
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any], **_: Any) -> Any:
        if connection_data.get("ocpp_transport") != "JSON":
            return call_result.SetNetworkProfile(status="Rejected")
        self.station.network_profiles[configuration_slot] = connection_data
        return call_result.SetNetworkProfile(status="Accepted")
