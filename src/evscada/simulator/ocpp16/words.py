"""What a simulated station says in OCPP 1.6, as payloads; the full and the lean 1.6 links both send these."""

from __future__ import annotations

from typing import Any

from ocpp.v16.enums import Reason

from evscada.simulator.faults import SYMPTOMS, FaultKind
from evscada.simulator.links.words import Payload, Words
from evscada.simulator.model import Reading, StationSpec, now_iso

# 1.6 stop reasons; a fault's 2.0.1 reason with no 1.6 word (GroundFault...) is Other.
REASONS = {r.value for r in Reason}


def stop_reason(reason: str) -> str:
    return reason if reason in REASONS else "Other"


def sampled(r: Reading) -> list[Payload]:
    """The measurands a 1.6 meter value carries: energy, power, SoC, and current and voltage (AC: per phase
    carrying current; DC: one of each)."""
    values: list[Payload] = [
        {"value": f"{r.energy_wh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": f"{r.power_w:.1f}", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": f"{r.soc:.1f}", "measurand": "SoC", "unit": "Percent", "location": "EV"},
    ]
    if r.dc:
        values.append({"value": f"{r.current_a:.2f}", "measurand": "Current.Import", "unit": "A"})
        values.append({"value": f"{r.voltage_v:.1f}", "measurand": "Voltage", "unit": "V"})
        return values
    for phase in ("L1", "L2", "L3")[: r.phases]:
        values.append({"value": f"{r.current_a:.2f}", "measurand": "Current.Import", "unit": "A", "phase": phase})
        values.append({"value": f"{r.voltage_v:.1f}", "measurand": "Voltage", "unit": "V", "phase": f"{phase}-N"})
    return values


class Words16(Words):
    async def boot(self, spec: StationSpec, reason: str = "PowerUp") -> tuple[str, int]:  # 1.6 gives no reason
        payload: Payload = {
            "chargePointVendor": spec.vendor,
            "chargePointModel": spec.model,
            "firmwareVersion": spec.firmware,
        }
        if spec.serial is not None:
            payload["chargePointSerialNumber"] = spec.serial
        answer = await self.request("BootNotification", payload)
        return answer["status"], answer["interval"]

    async def heartbeat(self) -> None:
        await self.request("Heartbeat", {})

    async def status(self, connector: int, status: str, fault: FaultKind | None = None) -> None:
        payload: Payload = {"connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": now_iso()}
        symptom = SYMPTOMS.get(fault) if fault is not None else None
        if symptom is not None:
            payload["errorCode"], payload["info"] = symptom.error_code, symptom.info
        await self.request("StatusNotification", payload)

    async def problem(
        self, connector: int, fault: FaultKind, *, cleared: bool, at: str, event_id: int, message_id: str | None = None
    ) -> None:
        """1.6 has no event report: the StatusNotification's errorCode says it all."""

    async def authorize(self, token: str) -> str:
        answer = await self.request("Authorize", {"idTag": token})
        return str(answer["idTagInfo"]["status"])

    async def start_transaction(
        self,
        connector: int,
        token: str,
        meter_wh: float,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> tuple[str, str]:
        payload: Payload = {
            "connectorId": connector,
            "idTag": token,
            "meterStart": int(meter_wh),
            "timestamp": now_iso(),
        }
        if reservation_id is not None:
            payload["reservationId"] = reservation_id
        answer = await self.request("StartTransaction", payload)
        return str(answer["transactionId"]), str(answer["idTagInfo"]["status"])

    async def meter(
        self,
        connector: int,
        transaction: str | None,
        reading: Reading,
        *,
        at: str | None = None,
        offline: bool = False,
        message_id: str | None = None,
        charging_state: str = "Charging",  # 1.6 reports it in a StatusNotification, not here
        changed: bool = False,
    ) -> None:
        payload: dict[str, Any] = {
            "connectorId": connector,
            "meterValue": [{"timestamp": at or now_iso(), "sampledValue": sampled(reading)}],
        }
        if transaction is not None:
            payload["transactionId"] = int(transaction)
        await self.request("MeterValues", payload, message_id=message_id)

    async def stop_transaction(
        self,
        connector: int,
        transaction: str,
        token: str,
        reading: Reading,
        reason: str,
        *,
        at: str | None = None,
        offline: bool = False,
        message_id: str | None = None,
    ) -> None:
        # Queued MeterValues went before it in order, so transactionData would only repeat them.
        payload = {
            "meterStop": int(reading.energy_wh),
            "timestamp": at or now_iso(),
            "transactionId": int(transaction),
            "reason": stop_reason(reason),
            "idTag": token,
        }
        await self.request("StopTransaction", payload, message_id=message_id)

    async def firmware_idle(self) -> None:
        await self.request("FirmwareStatusNotification", {"status": "Idle"})

    async def diagnostics_idle(self) -> None:
        await self.request("DiagnosticsStatusNotification", {"status": "Idle"})

    async def sign_certificate(self, csr: str) -> str:
        """The security extension's SignCertificate; the CSMS's status word (CertificateSigned follows)."""
        answer = await self.request("SignCertificate", {"csr": csr})
        return str(answer["status"])

    async def reservation_expired(self, reservation_id: int) -> None:
        """1.6 has no message for it: the CSMS learns of the expiry from its own clock."""
