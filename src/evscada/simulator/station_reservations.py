"""Reservations on a simulated station: held for one token until it arrives, is cancelled, or expires."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from evscada.simulator.model import ConnectorState, Reservation, StationSpec
from evscada.simulator.uplink import Uplink

log = logging.getLogger(__name__)


class StationReservations:
    """Mixed into SimulatedStation."""

    spec: StationSpec
    connectors: dict[int, ConnectorState]
    _group: asyncio.TaskGroup | None
    uplink: Uplink

    if TYPE_CHECKING:  # provided by SimulatedStation

        def targets(self, connector: int | None) -> list[int] | None: ...
        def _spawn(self, work: Coroutine[Any, Any, None], name: str, *, guard: bool = True) -> bool: ...
        async def _send_status(self, connector: int, status: str) -> None: ...

    def reserve(self, reservation_id: int, connector: int | None, token: str, expires_at: datetime) -> str:
        """Accepted, Occupied, Unavailable or Rejected; connector None or 0: any free one."""
        self.cancel_reservation(reservation_id)  # the same id again replaces it
        candidates = self.targets(connector)
        if candidates is None or self._group is None:
            return "Rejected"
        if not any(self.connectors[n].operative for n in candidates):
            return "Unavailable"
        free = [n for n in candidates if self.connectors[n].free_for(None)]
        if not free:
            return "Occupied"
        reservation = Reservation(reservation_id, token, expires_at)
        reservation.expiry = self._group.create_task(self._expire(free[0], reservation))
        self.connectors[free[0]].reservation = reservation
        return "Accepted"

    def reserved_connector(self, reservation_id: int) -> int | None:
        return next(
            (n for n, s in self.connectors.items() if s.reservation and s.reservation.reservation_id == reservation_id),
            None,
        )

    def cancel_reservation(self, reservation_id: int) -> int | None:
        """The connector it held, now free; None if there was no such reservation."""
        connector = self.reserved_connector(reservation_id)
        if connector is not None:
            reservation = self.connectors[connector].reservation
            self.connectors[connector].reservation = None
            if reservation is not None and reservation.expiry is not None:
                reservation.expiry.cancel()
        return connector

    async def _expire(self, connector: int, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expires_at - datetime.now(UTC)).total_seconds()))
        state = self.connectors[connector]
        if state.reservation is reservation:
            state.reservation = None
            log.info("%s: reservation %s expired", self.spec.station_id, reservation.reservation_id)
            await self.uplink.status(lambda link: link.reservation_expired(reservation.reservation_id))
            if state.session is None:
                await self._send_status(connector, state.idle_status())
