"""Station reports kept as records: DataTransfer, firmware/diagnostics/log status, security events, reports."""

from __future__ import annotations

from typing import Protocol

from evscada.core import events
from evscada.core.model import StationId, StationMessage
from evscada.core.ports import Clock, EventBus, Store
from evscada.core.stations.repositories import StationMessageRepository


class MessageUnit(Protocol):
    messages: StationMessageRepository


class StationMessageService:
    def __init__(
        self, *, store: Store[MessageUnit], bus: EventBus, clock: Clock, accepted_data_transfer_vendors: frozenset[str]
    ):
        self._store = store
        self._bus = bus
        self._clock = clock
        self._vendors = accepted_data_transfer_vendors

    async def record(self, *, station_id: StationId, message: StationMessage) -> None:
        now = self._clock.now()
        async with self._store.unit() as uow:
            await uow.messages.add(station_id=station_id, message=message, received_at=now)
        self._bus.publish(
            events.StationMessageReceived(
                station_id=station_id,
                at=message.timestamp,
                kind=message.kind,
                summary=message.summary,
                payload=message.payload,
                status=message.status,
                problems=message.problems,
            )
        )
        if message.kind == "security_event":
            self._bus.publish(
                events.SecurityEventRaised(
                    station_id=station_id,
                    at=message.timestamp,
                    kind=str(message.status),
                    detail=message.summary or "",
                )
            )

    def knows_vendor(self, vendor_id: str) -> bool:
        """DataTransfer from a vendor we have no extension for is answered UnknownVendorId (and still stored)."""
        return vendor_id in self._vendors
