"""The simulated station's words in OCPP 2.0.1."""

from __future__ import annotations

import itertools
import uuid

from ocpp.v201 import ChargePoint, call
from ocpp.v201.datatypes import (
    ChargingStationType,
    ComponentType,
    EventDataType,
    EVSEType,
    IdTokenType,
    MeterValueType,
    SampledValueType,
    TransactionType,
    UnitOfMeasureType,
    VariableType,
)

from evscada.simulator.commands201 import Commands201
from evscada.simulator.faults import SYMPTOMS, FaultKind
from evscada.simulator.model import Reading, StationSpec, now_iso

# 2.0.1 reports connector occupancy only; the charging state travels in TransactionEvent.
_CONNECTOR_STATUS = {"Preparing": "Occupied", "Charging": "Occupied", "Finishing": "Occupied"}

# The station's stop reasons (1.6 words where 2.0.1 has no other) as 2.0.1 stoppedReason and triggerReason.
_STOPPED_REASON = {"SoftReset": "ImmediateReset", "HardReset": "ImmediateReset", "UnlockCommand": "Remote"}
_STOP_TRIGGER = {
    "Remote": "RemoteStop",
    "ImmediateReset": "ResetCommand",
    "DeAuthorized": "Deauthorized",
    "EVDisconnected": "EVCommunicationLost",
    "PowerLoss": "AbnormalCondition",
    "GroundFault": "AbnormalCondition",
    "Other": "AbnormalCondition",
}
_event_ids = itertools.count(1)


class Link201(Commands201, ChargePoint):
    @property
    def _seq(self) -> dict[str, int]:
        return self.station.tx_seq  # seqNo continues across reconnects

    async def boot(self, spec: StationSpec, reason: str = "PowerUp") -> tuple[str, int]:
        result = await self.call(
            call.BootNotification(
                charging_station=ChargingStationType(
                    vendor_name=spec.vendor, model=spec.model, firmware_version=spec.firmware, serial_number=spec.serial
                ),
                reason=reason,
            )
        )
        return result.status, result.interval

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def status(self, connector: int, status: str, fault: FaultKind | None = None) -> None:
        await self.call(
            call.StatusNotification(
                timestamp=now_iso(),
                connector_status=_CONNECTOR_STATUS.get(status, status),
                evse_id=connector,
                connector_id=1,
            )
        )

    async def problem(self, connector: int, fault: FaultKind, *, cleared: bool, at: str) -> None:
        symptom = SYMPTOMS[fault]
        await self.call(
            call.NotifyEvent(
                generated_at=at,
                seq_no=0,
                event_data=[
                    EventDataType(
                        event_id=next(_event_ids),
                        timestamp=at,
                        trigger="Alerting",
                        actual_value="false" if cleared else "true",
                        tech_code=symptom.error_code,
                        tech_info=symptom.info,
                        cleared=cleared or None,
                        event_notification_type="HardWiredNotification",
                        component=ComponentType(name=symptom.component, evse=EVSEType(id=connector)),
                        variable=VariableType(name=symptom.variable),
                    )
                ],
            )
        )

    async def authorize(self, token: str) -> str:
        result = await self.call(call.Authorize(id_token=IdTokenType(id_token=token, type="ISO14443")))
        return str(result.id_token_info["status"])

    async def _event(
        self,
        kind: str,
        transaction: str,
        trigger: str,
        connector: int,
        *,
        reading: Reading | None,
        context: str,
        token: str | None = None,
        state: str | None = None,
        reason: str | None = None,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
        at: str | None = None,
        offline: bool = False,
        message_id: str | None = None,
    ) -> dict:
        at = at or now_iso()
        seq = self.station.sent_seq.get(message_id) if message_id else None
        if seq is None:  # a new message; a resend keeps its number
            seq = self._seq.get(transaction, 0)
            self._seq[transaction] = seq + 1
            if message_id:
                self.station.sent_seq[message_id] = seq
        result = await self.call(
            call.TransactionEvent(
                event_type=kind,
                timestamp=at,
                offline=offline or None,
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info=TransactionType(
                    transaction_id=transaction,
                    charging_state=state,
                    stopped_reason=reason,
                    remote_start_id=remote_start_id,
                ),
                evse=EVSEType(id=connector, connector_id=1),
                id_token=IdTokenType(id_token=token, type="ISO14443") if token else None,
                reservation_id=reservation_id,
                meter_value=[MeterValueType(timestamp=at, sampled_value=_sampled(reading, context))]
                if reading
                else None,
            ),
            unique_id=message_id,
        )
        if message_id:
            self.station.sent_seq.pop(message_id, None)
        return result.id_token_info or {}

    async def start_transaction(
        self,
        connector: int,
        token: str,
        meter_wh: float,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> tuple[str, str]:
        transaction = uuid.uuid4().hex[:16]
        start = Reading(energy_wh=meter_wh, power_w=0, current_a=0, voltage_v=230, soc=0, phases=3)
        info = await self._event(
            "Started",
            transaction,
            "Authorized" if remote_start_id is None else "RemoteStart",
            connector,
            reading=start,
            context="Transaction.Begin",
            token=token,
            state="EVConnected",
            remote_start_id=remote_start_id,
            reservation_id=reservation_id,
        )
        return transaction, str(info.get("status", "Accepted"))

    async def meter(
        self,
        connector: int,
        transaction: str | None,
        reading: Reading,
        *,
        at: str | None = None,
        offline: bool = False,
        message_id: str | None = None,
    ) -> None:
        if transaction is None:  # outside a transaction (e.g. triggered): a plain MeterValues
            sample = MeterValueType(timestamp=now_iso(), sampled_value=_sampled(reading, "Trigger"))
            await self.call(call.MeterValues(evse_id=connector, meter_value=[sample]))
            return
        await self._event(
            "Updated",
            transaction,
            "MeterValuePeriodic",
            connector,
            reading=reading,
            context="Sample.Periodic",
            state="Charging",
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
        stopped = _STOPPED_REASON.get(reason, reason)
        await self._event(
            "Ended",
            transaction,
            _STOP_TRIGGER.get(stopped, "StopAuthorized" if stopped == "Local" else "EVCommunicationLost"),
            connector,
            reading=reading,
            context="Transaction.End",
            state="Idle",
            reason=stopped,
            at=at,
            offline=offline,
            message_id=message_id,
        )
        self._seq.pop(transaction, None)

    async def firmware_idle(self) -> None:
        await self.call(call.FirmwareStatusNotification(status="Idle"))

    async def diagnostics_idle(self) -> None:
        await self.call(call.LogStatusNotification(status="Idle"))


def _sampled(r: Reading, context: str) -> list[SampledValueType]:
    def value(
        v: float, measurand: str, unit: str, phase: str | None = None, location: str | None = None
    ) -> SampledValueType:
        return SampledValueType(
            value=v,
            context=context,
            measurand=measurand,
            phase=phase,
            location=location,
            unit_of_measure=UnitOfMeasureType(unit=unit),
        )

    values = [value(r.energy_wh, "Energy.Active.Import.Register", "Wh")]
    if context == "Transaction.Begin":
        return values
    values += [value(r.power_w, "Power.Active.Import", "W"), value(r.soc, "SoC", "Percent", location="EV")]
    for phase in ("L1", "L2", "L3")[: r.phases]:
        values.append(value(r.current_a, "Current.Import", "A", phase))
        values.append(value(r.voltage_v, "Voltage", "V", f"{phase}-N"))
    return values
