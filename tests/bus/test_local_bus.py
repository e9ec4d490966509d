"""The in-process bus hands each subscriber the events it asked for, newest kept when a subscriber falls behind."""

from __future__ import annotations

from datetime import UTC, datetime

from evscada.bus.local import LocalBus
from evscada.core import events
from evscada.core.model import StationId

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _connected(n: int) -> events.StationConnected:
    return events.StationConnected(station_id=StationId(f"CP-{n}"), at=AT, ocpp_version="1.6")


async def test_a_subscriber_gets_only_the_kinds_it_asked_for_and_one_asking_for_none_gets_all() -> None:
    bus = LocalBus()
    gone = events.StationDisconnected(station_id=StationId("CP-1"), at=AT, reason="closed")
    async with bus.subscribe(events.StationDisconnected) as some, bus.subscribe() as every:
        bus.publish(_connected(1))
        bus.publish(gone)

        assert [some.get_nowait()] == [gone] and some.empty()
        assert [every.get_nowait(), every.get_nowait()] == [_connected(1), gone]


async def test_a_full_queue_drops_its_oldest_event_not_the_newest() -> None:
    bus = LocalBus(queue_size=2)
    async with bus.subscribe() as queue:
        for n in range(3):
            bus.publish(_connected(n))

        assert [queue.get_nowait().station_id for _ in range(2)] == ["CP-1", "CP-2"]
        assert bus.dropped == 1
