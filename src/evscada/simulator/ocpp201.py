"""The simulated station's words in OCPP 2.0.1."""

from __future__ import annotations

import uuid

from ocpp.v201 import ChargePoint, call
from ocpp.v201.datatypes import (
    ChargingStationType,
    EVSEType,
    IdTokenType,
    MeterValueType,
    SampledValueType,
    TransactionType,
    UnitOfMeasureType,
)

from evscada.simulator.station import Reading, StationSpec, now_iso

# 2.0.1 reports connector occupancy only; the charging state travels in TransactionEvent.
_CONNECTOR_STATUS = {"Preparing": "Occupied", "Charging": "Occupied", "Finishing": "Occupied"}


class Link201(ChargePoint):  # type: ignore[misc]
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._seq: dict[str, int] = {}

    async def boot(self, spec: StationSpec) -> tuple[str, int]:
        result = await self.call(
            call.BootNotification(
                charging_station=ChargingStationType(
                    vendor_name=spec.vendor, model=spec.model, firmware_version=spec.firmware, serial_number=spec.serial
                ),
                reason="PowerUp",
            )
        )
        return result.status, result.interval

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def status(self, connector: int, status: str) -> None:
        await self.call(
            call.StatusNotification(
                timestamp=now_iso(),
                connector_status=_CONNECTOR_STATUS.get(status, status),
                evse_id=connector,
                connector_id=1,
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
    ) -> dict:
        seq = self._seq.get(transaction, 0)
        self._seq[transaction] = seq + 1
        result = await self.call(
            call.TransactionEvent(
                event_type=kind,
                timestamp=now_iso(),
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info=TransactionType(
                    transaction_id=transaction, charging_state=state, stopped_reason=reason
                ),
                evse=EVSEType(id=connector, connector_id=1),
                id_token=IdTokenType(id_token=token, type="ISO14443") if token else None,
                meter_value=[MeterValueType(timestamp=now_iso(), sampled_value=_sampled(reading, context))]
                if reading
                else None,
            )
        )
        return result.id_token_info or {}

    async def start_transaction(self, connector: int, token: str, meter_wh: float) -> tuple[str, str]:
        transaction = uuid.uuid4().hex[:16]
        start = Reading(energy_wh=meter_wh, power_w=0, current_a=0, voltage_v=230, soc=0, phases=3)
        info = await self._event(
            "Started",
            transaction,
            "Authorized",
            connector,
            reading=start,
            context="Transaction.Begin",
            token=token,
            state="EVConnected",
        )
        return transaction, str(info.get("status", "Accepted"))

    async def meter(self, connector: int, transaction: str, reading: Reading) -> None:
        await self._event(
            "Updated",
            transaction,
            "MeterValuePeriodic",
            connector,
            reading=reading,
            context="Sample.Periodic",
            state="Charging",
        )

    async def stop_transaction(
        self, connector: int, transaction: str, token: str, reading: Reading, reason: str
    ) -> None:
        await self._event(
            "Ended",
            transaction,
            "EVCommunicationLost",
            connector,
            reading=reading,
            context="Transaction.End",
            state="Idle",
            reason=reason,
        )
        self._seq.pop(transaction, None)


def _sampled(r: Reading, context: str) -> list[SampledValueType]:
    def value(v: float, measurand: str, unit: str, phase: str | None = None, location: str | None = None):  # type: ignore[no-untyped-def]
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
