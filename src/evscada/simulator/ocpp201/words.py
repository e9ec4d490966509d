"""What a simulated station says in OCPP 2.0.1, as payloads; the full and the lean 2.0.1 links both send these."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from evscada.simulator.faults import SYMPTOMS, FaultKind
from evscada.simulator.links.words import Payload, Words
from evscada.simulator.model import Reading, StationSpec, now_iso

if TYPE_CHECKING:
    from evscada.simulator.station import SimulatedStation

# 2.0.1 reports connector occupancy only; the charging state travels in TransactionEvent.
CONNECTOR_STATUS = dict.fromkeys(("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"), "Occupied")

# The station's stop reasons (1.6 words where 2.0.1 has no other) as 2.0.1 stoppedReason and triggerReason.
STOPPED_REASON = {"SoftReset": "ImmediateReset", "HardReset": "ImmediateReset", "UnlockCommand": "Remote"}
STOP_TRIGGER = {
    "Remote": "RemoteStop",
    "ImmediateReset": "ResetCommand",
    "DeAuthorized": "Deauthorized",
    "EVDisconnected": "EVCommunicationLost",
    "PowerLoss": "AbnormalCondition",
    "GroundFault": "AbnormalCondition",
    "Other": "AbnormalCondition",
}


def stopped(reason: str) -> tuple[str, str]:
    """The stoppedReason and triggerReason of a TransactionEvent Ended for the station's stop reason."""
    reason = STOPPED_REASON.get(reason, reason)
    return reason, STOP_TRIGGER.get(reason, "StopAuthorized" if reason == "Local" else "EVCommunicationLost")


def sampled(r: Reading, context: str) -> list[Payload]:
    """Energy only at the start of a transaction; then power, SoC, and current and voltage too (AC: per phase
    carrying current; DC: one of each)."""

    def value(v: float, measurand: str, unit: str, **where: str) -> Payload:
        return {"value": v, "context": context, "measurand": measurand, **where, "unitOfMeasure": {"unit": unit}}

    values = [value(r.energy_wh, "Energy.Active.Import.Register", "Wh")]
    if context == "Transaction.Begin":
        return values
    values += [value(r.power_w, "Power.Active.Import", "W"), value(r.soc, "SoC", "Percent", location="EV")]
    if r.dc:
        return [*values, value(r.current_a, "Current.Import", "A"), value(r.voltage_v, "Voltage", "V")]
    for phase in ("L1", "L2", "L3")[: r.phases]:
        values.append(value(r.current_a, "Current.Import", "A", phase=phase))
        values.append(value(r.voltage_v, "Voltage", "V", phase=f"{phase}-N"))
    return values


def _token(token: str) -> Payload:
    return {"idToken": token, "type": "ISO14443"}


class Words201(Words):
    if TYPE_CHECKING:  # provided by Answering, which every link mixes in

        @property
        def station(self) -> SimulatedStation: ...

    async def boot(self, spec: StationSpec, reason: str = "PowerUp") -> tuple[str, int]:
        station: Payload = {"vendorName": spec.vendor, "model": spec.model, "firmwareVersion": spec.firmware}
        if spec.serial is not None:
            station["serialNumber"] = spec.serial
        answer = await self.request("BootNotification", {"chargingStation": station, "reason": reason})
        return answer["status"], answer["interval"]

    async def heartbeat(self) -> None:
        await self.request("Heartbeat", {})

    async def status(self, connector: int, status: str, fault: FaultKind | None = None) -> None:
        await self.request(
            "StatusNotification",
            {
                "timestamp": now_iso(),
                "connectorStatus": CONNECTOR_STATUS.get(status, status),
                "evseId": connector,
                "connectorId": 1,
            },
        )

    async def problem(
        self, connector: int, fault: FaultKind, *, cleared: bool, at: str, event_id: int, message_id: str | None = None
    ) -> None:
        symptom = SYMPTOMS[fault]
        event: Payload = {
            "eventId": event_id,
            "timestamp": at,
            "trigger": "Alerting",
            "actualValue": "false" if cleared else "true",
            "techCode": symptom.error_code,
            "techInfo": symptom.info,
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": symptom.component, "evse": {"id": connector}},
            "variable": {"name": symptom.variable},
        }
        if cleared:
            event["cleared"] = True
        await self.request("NotifyEvent", {"generatedAt": at, "seqNo": 0, "eventData": [event]}, message_id=message_id)

    async def authorize(self, token: str) -> str:
        answer = await self.request("Authorize", {"idToken": _token(token)})
        return str(answer["idTokenInfo"]["status"])

    def _next_seq(self, transaction: str, message_id: str | None) -> int:
        """The message's seqNo: the next of its transaction, or the one it had when it is a resend."""
        station = self.station
        seq = station.sent_seq.get(message_id) if message_id else None
        if seq is None:
            seq = station.tx_seq.get(transaction, 0)  # seqNo continues across reconnects
            station.tx_seq[transaction] = seq + 1
            if message_id:
                station.sent_seq[message_id] = seq
        return seq

    async def _event(
        self,
        kind: str,
        trigger: str,
        info: Payload,
        connector: int,
        *,
        reading: Reading,
        context: str,
        at: str | None = None,
        offline: bool = False,
        message_id: str | None = None,
        **extra: Any,
    ) -> Payload:
        at = at or now_iso()
        payload: Payload = {
            "eventType": kind,
            "timestamp": at,
            "triggerReason": trigger,
            "seqNo": self._next_seq(info["transactionId"], message_id),
            "transactionInfo": info,
            "evse": {"id": connector, "connectorId": 1},
            "meterValue": [{"timestamp": at, "sampledValue": sampled(reading, context)}],
            **{key: value for key, value in extra.items() if value is not None},
        }
        if offline:
            payload["offline"] = True
        answer = await self.request("TransactionEvent", payload, message_id=message_id)
        if message_id:
            self.station.sent_seq.pop(message_id, None)
        return answer.get("idTokenInfo") or {}

    async def start_transaction(
        self,
        connector: int,
        token: str,
        meter_wh: float,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> tuple[str, str]:
        transaction = uuid.uuid4().hex[:16]
        info: Payload = {"transactionId": transaction, "chargingState": "EVConnected"}
        if remote_start_id is not None:
            info["remoteStartId"] = remote_start_id
        start = Reading(energy_wh=meter_wh, power_w=0, current_a=0, voltage_v=0, soc=0, phases=1)  # energy only
        answer = await self._event(
            "Started",
            "Authorized" if remote_start_id is None else "RemoteStart",
            info,
            connector,
            reading=start,
            context="Transaction.Begin",
            idToken=_token(token),
            reservationId=reservation_id,
        )
        return transaction, str(answer.get("status", "Accepted"))

    async def meter(
        self,
        connector: int,
        transaction: str | None,
        reading: Reading,
        *,
        at: str | None = None,
        offline: bool = False,
        message_id: str | None = None,
        charging_state: str = "Charging",
        changed: bool = False,
    ) -> None:
        if transaction is None:  # outside a transaction (e.g. triggered): a plain MeterValues
            sample = {"timestamp": now_iso(), "sampledValue": sampled(reading, "Trigger")}
            await self.request("MeterValues", {"evseId": connector, "meterValue": [sample]})
            return
        await self._event(
            "Updated",
            "ChargingStateChanged" if changed else "MeterValuePeriodic",
            {"transactionId": transaction, "chargingState": charging_state},
            connector,
            reading=reading,
            context="Sample.Periodic",
            at=at,
            offline=offline,
            message_id=message_id,
        )

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
        reason, trigger = stopped(reason)
        await self._event(
            "Ended",
            trigger,
            {"transactionId": transaction, "chargingState": "Idle", "stoppedReason": reason},
            connector,
            reading=reading,
            context="Transaction.End",
            at=at,
            offline=offline,
            message_id=message_id,
        )
        self.station.tx_seq.pop(transaction, None)

    async def firmware_idle(self) -> None:
        await self.request("FirmwareStatusNotification", {"status": "Idle"})

    async def diagnostics_idle(self) -> None:
        await self.request("LogStatusNotification", {"status": "Idle"})

    async def sign_certificate(self, csr: str) -> str:
        """SignCertificate for the station's own certificate; the CSMS's status word (CertificateSigned follows)."""
        answer = await self.request("SignCertificate", {"csr": csr, "certificateType": "ChargingStationCertificate"})
        return str(answer["status"])

    async def reservation_expired(self, reservation_id: int) -> None:
        """2.0.1 tells the CSMS when a reservation ran out (1.6 stations say nothing)."""
        await self.request(
            "ReservationStatusUpdate", {"reservationId": reservation_id, "reservationUpdateStatus": "Expired"}
        )
