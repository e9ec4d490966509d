"""What load management reads of each running session between recomputes: its meter (draw, peak, SoC) and what
its vehicle told through the station (2.0.1 NotifyEVChargingNeeds), kept from the bus's events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from evscada.core import events
from evscada.core.model import StationId, TransactionPk


@dataclass(slots=True)
class Meter:
    at: datetime
    wh: float | None = None
    draw_w: float | None = None
    peak_w: float = 0.0  # the most it drew: what an uncontrolled session is reserved
    soc_pct: float | None = None
    over_since: datetime | None = None  # since when it draws clearly more than its limit
    below_since: datetime | None = None  # since when it draws well below its limit (tapering)


@dataclass(frozen=True, slots=True)
class Needs:
    """What a vehicle told through its EVSE."""

    departure: datetime | None
    energy_wh: float | None
    soc_pct: float | None
    capacity_wh: float | None
    max_power_w: float | None


class SessionReadings:
    def __init__(self) -> None:
        self._meters: dict[TransactionPk, Meter] = {}
        self._needs: dict[tuple[StationId, int], Needs] = {}

    def meter(self, pk: TransactionPk) -> Meter | None:
        return self._meters.get(pk)

    def needs(self, station_id: StationId, evse_id: int) -> Needs | None:
        return self._needs.get((station_id, evse_id))

    def told(self, event: events.EvChargingNeedsReported) -> None:
        self._needs[(event.station_id, event.evse_id)] = Needs(
            event.departure, event.energy_wh, event.soc_pct, event.capacity_wh, event.max_power_w
        )

    def ended(self, event: events.TransactionEnded) -> None:
        self._meters.pop(event.transaction_pk, None)
        if event.evse is not None:
            self._needs.pop((event.station_id, event.evse.evse_id), None)

    def metered(self, event: events.MeterValuesRecorded) -> None:
        """The draw is the reported power, else the energy register's slope between two readings."""
        if event.transaction_pk is None:
            return
        meter = self._meters.get(event.transaction_pk)
        if meter is None:
            meter = self._meters[event.transaction_pk] = Meter(event.at, event.energy_register_wh, event.power_w)
        else:
            draw = event.power_w
            seconds = (event.at - meter.at).total_seconds()
            if draw is None and event.energy_register_wh is not None and meter.wh is not None and seconds > 0:
                draw = max(event.energy_register_wh - meter.wh, 0.0) * 3600 / seconds
            if seconds > 0 or draw is not None:
                meter.at = event.at
                meter.wh = event.energy_register_wh if event.energy_register_wh is not None else meter.wh
                meter.draw_w = draw if draw is not None else meter.draw_w
        if meter.draw_w is not None:
            meter.peak_w = max(meter.peak_w, meter.draw_w)
        if event.soc_pct is not None:
            meter.soc_pct = event.soc_pct
