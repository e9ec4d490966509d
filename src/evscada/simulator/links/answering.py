"""What both versions' links share when the CSMS commands: the station they answer for, and effects held back
until the answer is on the wire."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ocpp.exceptions import InternalError

if TYPE_CHECKING:
    from evscada.simulator.station import SimulatedStation


class Answering:
    """Mixed into a version's ChargePoint: its `@on` handlers decide and answer, its `@after` handlers act.

    A station says "Accepted" before it reports what it did: a StatusNotification or StopTransaction must not
    overtake the answer. Each `@on` handler may leave one effect; the `@after` handler of the same action runs
    it. The `ocpp` package handles one CALL at a time, so the effect cannot belong to another CALL.
    """

    _station: SimulatedStation | None = None
    _effect: Callable[[], None] | None = None

    def attach(self, station: SimulatedStation) -> None:
        self._station = station

    @property
    def station(self) -> SimulatedStation:
        if self._station is None:
            raise InternalError(description="the simulated station is not running yet")
        return self._station

    def _then(self, effect: Callable[[], None]) -> None:
        self._effect = effect

    def _answered(self) -> None:
        effect, self._effect = self._effect, None
        if effect is not None:
            effect()


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def accepted(ok: bool) -> str:
    return "Accepted" if ok else "Rejected"
