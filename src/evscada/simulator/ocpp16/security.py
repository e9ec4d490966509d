"""How a simulated 1.6 station takes the security extension's certificate messages: ExtendedTriggerMessage (a new
CSR among others) and CertificateSigned. Its password and security profile change through ChangeConfiguration
(AuthorizationKey, SecurityProfile: station.change_setting)."""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from evscada.simulator.links.answering import Answering, accepted
from evscada.simulator.model import Trigger

_EXTENDED_TRIGGERS = {
    "BootNotification": Trigger.BOOT,
    "Heartbeat": Trigger.HEARTBEAT,
    "StatusNotification": Trigger.STATUS,
    "MeterValues": Trigger.METER,
    "FirmwareStatusNotification": Trigger.FIRMWARE,
    "LogStatusNotification": Trigger.DIAGNOSTICS,
    "SignChargePointCertificate": Trigger.SIGN_CERTIFICATE,
}


class Security16(Answering):
    """Mixed into Commands16."""

    @on(Action.extended_trigger_message)
    def on_extended_trigger(self, requested_message: str, connector_id: int | None = None, **_: Any) -> Any:
        station = self.station
        message = _EXTENDED_TRIGGERS.get(requested_message)
        if message is None:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        if connector_id is not None and station.targets(connector_id) is None:
            return call_result.ExtendedTriggerMessage(status="Rejected")
        self._then(lambda: station.trigger(message, connector_id))
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @after(Action.extended_trigger_message)
    def after_extended_trigger(self, **_: Any) -> None:
        self._answered()

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        return call_result.CertificateSigned(status=accepted(self.station.install_certificate(certificate_chain)))
