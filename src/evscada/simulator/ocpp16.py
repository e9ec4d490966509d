"""The simulated station's words in OCPP 1.6."""

from __future__ import annotations

from ocpp.v16 import ChargePoint, call
from ocpp.v16.datatypes import MeterValue, SampledValue
from ocpp.v16.enums import Reason

from evscada.simulator.commands16 import Commands16
from evscada.simulator.faults import SYMPTOMS, FaultKind
from evscada.simulator.model import Reading, StationSpec, now_iso

# 1.6 stop reasons; a fault's 2.0.1 reason with no 1.6 word (GroundFault...) is Other.
_REASONS = {r.value for r in Reason}


class Link16(Commands16, ChargePoint):
    async def boot(self, spec: StationSpec, reason: str = "PowerUp") -> tuple[str, int]:  # 1.6 gives no reason
        result = await self.call(
            call.BootNotification(
                charge_point_vendor=spec.vendor,
                charge_point_model=spec.model,
                firmware_version=spec.firmware,
                charge_point_serial_number=spec.serial,
            )
        )
        return result.status, result.interval

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def status(self, connector: int, status: str, fault: FaultKind | None = None) -> None:
        symptom = SYMPTOMS.get(fault) if fault is not None else None
        await self.call(
            call.StatusNotification(
                connector_id=connector,
                error_code=symptom.error_code if symptom else "NoError",
                info=symptom.info if symptom else None,
                status=status,
                timestamp=now_iso(),
            )
        )

    async def problem(self, connector: int, fault: FaultKind, *, cleared: bool, at: str) -> None:
        """1.6 has no event report: the StatusNotification's errorCode says it all."""

    async def authorize(self, token: str) -> str:
        result = await self.call(call.Authorize(id_tag=token))
        return str(result.id_tag_info["status"])

    async def start_transaction(
        self,
        connector: int,
        token: str,
        meter_wh: float,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> tuple[str, str]:
        result = await self.call(
            call.StartTransaction(
                connector_id=connector,
                id_tag=token,
                meter_start=int(meter_wh),
                timestamp=now_iso(),
                reservation_id=reservation_id,
            )
        )
        return str(result.transaction_id), str(result.id_tag_info["status"])

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
        await self.call(
            call.MeterValues(
                connector_id=connector,
                transaction_id=int(transaction) if transaction is not None else None,
                meter_value=[MeterValue(timestamp=at or now_iso(), sampled_value=_sampled(reading))],
            ),
            unique_id=message_id,
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
        # Queued MeterValues went before it in order, so transactionData would only repeat them.
        await self.call(
            call.StopTransaction(
                meter_stop=int(reading.energy_wh),
                timestamp=at or now_iso(),
                transaction_id=int(transaction),
                reason=reason if reason in _REASONS else "Other",
                id_tag=token,
            ),
            unique_id=message_id,
        )

    async def firmware_idle(self) -> None:
        await self.call(call.FirmwareStatusNotification(status="Idle"))

    async def diagnostics_idle(self) -> None:
        await self.call(call.DiagnosticsStatusNotification(status="Idle"))


def _sampled(r: Reading) -> list[SampledValue]:
    values = [
        SampledValue(value=f"{r.energy_wh:.1f}", measurand="Energy.Active.Import.Register", unit="Wh"),
        SampledValue(value=f"{r.power_w:.1f}", measurand="Power.Active.Import", unit="W"),
        SampledValue(value=f"{r.soc:.1f}", measurand="SoC", unit="Percent", location="EV"),
    ]
    for phase in ("L1", "L2", "L3")[: r.phases]:
        values.append(SampledValue(value=f"{r.current_a:.2f}", measurand="Current.Import", unit="A", phase=phase))
        values.append(SampledValue(value=f"{r.voltage_v:.1f}", measurand="Voltage", unit="V", phase=f"{phase}-N"))
    return values
