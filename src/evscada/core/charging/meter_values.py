"""Operating data from the meters: the raw time series behind trends and fault analysis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from evscada.core import events
from evscada.core.charging.repositories import MeterSampleSink
from evscada.core.errors import InvalidArgument
from evscada.core.model import EvseRef, MeterSample, StationId
from evscada.core.ports import Clock, EventBus


class MeterSampleStore(Protocol):
    @property
    def meter_samples(self) -> MeterSampleSink: ...


class MeterValueService:
    def __init__(self, *, store: MeterSampleStore, bus: EventBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    async def record(
        self,
        *,
        station_id: StationId,
        evse: EvseRef,
        station_transaction_id: str | None,
        samples: Sequence[MeterSample],
        message_key: str | None = None,
    ) -> bool:
        """Store samples once; a message repeated after a reconnect (same `message_key`) is skipped."""
        write = await self._store.meter_samples.append(
            station_id=station_id,
            evse=evse,
            station_transaction_id=station_transaction_id,
            samples=samples,
            message_key=message_key,
            at=self._clock.now(),
        )
        if write.stored and samples:
            self._bus.publish(
                events.MeterValuesRecorded(
                    station_id=station_id,
                    at=samples[-1].timestamp,
                    evse=evse,
                    transaction_pk=write.transaction_pk,
                    count=len(samples),
                    energy_register_wh=energy_register(samples),
                )
            )
        return write.stored


ENERGY_REGISTER = "Energy.Active.Import.Register"


def energy_register(samples: Sequence[MeterSample]) -> float | None:
    """The last import register reading in Wh of the whole outlet (not a phase), or None; one pass, cheap."""
    found = None
    for sample in samples:
        if (
            sample.measurand == ENERGY_REGISTER
            and sample.phase is None
            and sample.unit == "Wh"
            and sample.location in (None, "Outlet")
        ):
            found = sample.value
    return found


# Scaled units stations report, to the base units the core keeps.
_SCALE = {
    "kWh": ("Wh", 1000.0),
    "kW": ("W", 1000.0),
    "kvarh": ("varh", 1000.0),
    "kvar": ("var", 1000.0),
    "kVA": ("VA", 1000.0),
    "kVAh": ("VAh", 1000.0),
}

_DEFAULT_UNITS = {
    "Energy.Active.Import.Register": "Wh",
    "Energy.Active.Export.Register": "Wh",
    "Energy.Active.Import.Interval": "Wh",
    "Energy.Active.Export.Interval": "Wh",
    "Power.Active.Import": "W",
    "Power.Active.Export": "W",
    "Power.Offered": "W",
    "Current.Import": "A",
    "Current.Export": "A",
    "Current.Offered": "A",
    "Voltage": "V",
    "SoC": "Percent",
    "Temperature": "Celsius",
    "Frequency": "Hz",
}


def to_base_unit(
    value: float | None, unit: str | None, measurand: str, multiplier: int = 0
) -> tuple[float | None, str | None]:
    """Apply a 2.0.1 multiplier (10^n) and turn kWh/kW... into Wh/W; a missing unit takes the measurand's default."""
    if unit is None:
        unit = _DEFAULT_UNITS.get(measurand)
    if value is not None and multiplier:
        try:
            value = value * (10.0**multiplier)
        except OverflowError:
            raise InvalidArgument(
                f"multiplier {multiplier} makes {value:g} {unit or ''} larger than any number; a multiplier is an "
                "exponent of 10 (3 for kilo, -3 for milli)"
            ) from None
    if unit in _SCALE:
        base, factor = _SCALE[unit]
        return (value * factor if value is not None else None), base
    return value, unit
