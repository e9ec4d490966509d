"""Operating data from the meters: the raw time series behind trends and fault analysis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from evscada.core import events
from evscada.core.charging.repositories import MeterSampleSink
from evscada.core.errors import InvalidArgument
from evscada.core.model import EvseRef, MeterSample, StationId, TransactionPk
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
            self._bus.publish(recorded(station_id, evse, write.transaction_pk, samples))
        return write.stored


ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"


def recorded(
    station_id: StationId, evse: EvseRef, transaction_pk: TransactionPk | None, samples: Sequence[MeterSample]
) -> events.MeterValuesRecorded:
    """The news of stored samples, with what load management reads of them: energy, power, SoC."""
    return events.MeterValuesRecorded(
        station_id=station_id,
        at=samples[-1].timestamp,
        evse=evse,
        transaction_pk=transaction_pk,
        count=len(samples),
        energy_register_wh=energy_register(samples),
        power_w=_last(samples, POWER, "W", ("Outlet",)),
        soc_pct=_last(samples, SOC, "Percent", ("EV", "Outlet")),
        current_a=_outlet_or_phases(samples, "Current.Import", "A"),
        voltage_v=_outlet_or_phases(samples, "Voltage", "V"),
    )


def energy_register(samples: Sequence[MeterSample]) -> float | None:
    """The last import register reading in Wh of the whole outlet (not a phase), or None; one pass, cheap."""
    return _last(samples, ENERGY_REGISTER, "Wh", ("Outlet",))


def _last(samples: Sequence[MeterSample], measurand: str, unit: str, locations: tuple[str, ...]) -> float | None:
    """The last reading of a measurand for the whole outlet (not one phase) at one of `locations` (or none given)."""
    found = None
    for sample in samples:
        if (
            sample.measurand == measurand
            and sample.phase is None
            and sample.unit == unit
            and (sample.location is None or sample.location in locations)
        ):
            found = sample.value
    return found


def _outlet_or_phases(samples: Sequence[MeterSample], measurand: str, unit: str) -> float | None:
    """The outlet's reading of a measurand, or (a three-phase station reports per phase) the mean of the phases'
    readings at the last instant any was taken; the bridges publish it as the EVSE's current or voltage."""
    whole = _last(samples, measurand, unit, ("Outlet",))
    if whole is not None:
        return whole
    phases = [
        s
        for s in samples
        if s.measurand == measurand and s.unit == unit and s.phase and "-L" not in s.phase and s.value is not None
    ]  # line-to-line voltages (L1-L2) are not averaged with line-to-neutral ones
    if not phases:
        return None
    last = phases[-1].timestamp
    values = [s.value for s in phases if s.timestamp == last and s.value is not None]
    return sum(values) / len(values)


# Scaled units stations report, to the base units the core keeps: (base unit, power of ten).
_SCALE = {
    "kWh": ("Wh", 3),
    "kW": ("W", 3),
    "kvarh": ("varh", 3),
    "kvar": ("var", 3),
    "kVA": ("VA", 3),
    "kVAh": ("VAh", 3),
}
# Past this power of ten every float overflows or underflows; Decimal's own limit is far beyond.
_MAX_EXPONENT = 1000

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
    exponent = multiplier
    if unit in _SCALE:
        unit, shift = _SCALE[unit]
        exponent += shift
    if value is None or not exponent:
        return value, unit
    scaled = _shifted(value, exponent)
    if multiplier and math.isinf(scaled) and math.isfinite(value):
        raise InvalidArgument(
            f"multiplier {multiplier} makes {value:g} {unit or ''} larger than any number; a multiplier is an "
            "exponent of 10 (3 for kilo, -3 for milli)"
        )
    return scaled, unit


def _shifted(value: float, exponent: int) -> float:
    """value * 10^exponent as the decimal shift it is: 12.345 kWh is 12345 Wh, where binary floating point would
    give 12345.000000000002 (and carry the noise into every energy computed from it)."""
    exponent = max(-_MAX_EXPONENT, min(_MAX_EXPONENT, exponent))
    return float(Decimal(repr(value)).scaleb(exponent))
