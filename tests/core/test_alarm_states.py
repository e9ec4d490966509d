"""ISA-18.2 alarm states in the alarm service: a cleared alarm stands until acknowledged; bulk acknowledgement
(SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from evscada.core import events
from evscada.core.alarms.service import AlarmFilter, AlarmService
from evscada.core.errors import InvalidArgument, UnknownAlarm
from evscada.core.model import AlarmId, AlarmPriority, AlarmState, StationId
from tests.support import Csms

STANDING = AlarmFilter(standing=True)


async def raise_(alarms: AlarmService, key: str, priority: AlarmPriority = AlarmPriority.HIGH) -> AlarmId:
    alarm = await alarms.raise_alarm(
        key=key, source="station_fault", station_id=StationId("CP-1"), evse=None, priority=priority, message=key
    )
    return alarm.id


async def test_a_cleared_alarm_stands_until_acknowledged(csms: Csms) -> None:
    alarms = csms.app.core.alarms
    came_and_went = await raise_(alarms, "fault:1")
    still_on = await raise_(alarms, "fault:2", AlarmPriority.CRITICAL)
    await alarms.clear(key="fault:1")

    standing = {a.id: a for a in await alarms.list(where=STANDING)}
    assert set(standing) == {came_and_went, still_on}
    assert standing[came_and_went].state == AlarmState.CLEARED and standing[came_and_went].acknowledged_at is None
    assert [a.id for a in await alarms.list(where=STANDING)] == [still_on, came_and_went]  # most urgent first
    assert [a.id for a in await alarms.list(where=AlarmFilter(state=AlarmState.ACTIVE))] == [still_on]

    seen = await alarms.acknowledge(alarm_id=came_and_went, by="op", comment="came and went")
    assert seen.state == AlarmState.CLEARED and seen.acknowledged_by == "op"
    assert [a.id for a in await alarms.list(where=STANDING)] == [still_on]  # seen and over: it leaves the list

    await alarms.acknowledge(alarm_id=still_on, by="op")
    assert [a.id for a in await alarms.list(where=STANDING)] == [still_on]  # active stays, acknowledged or not
    await alarms.clear(key="fault:2")
    assert await alarms.list(where=STANDING) == []


async def test_acknowledge_many_in_one_go_with_one_comment(csms: Csms) -> None:
    alarms = csms.app.core.alarms
    first, second, third, fourth = [await raise_(alarms, f"fault:{n}") for n in range(4)]
    await alarms.clear(key="fault:2")  # third: cleared, unacknowledged
    await alarms.acknowledge(alarm_id=fourth, by="other")

    with pytest.raises(UnknownAlarm):  # all or none: the known one is not acknowledged either
        await alarms.acknowledge_many(alarm_ids=[first, AlarmId(999_999)], by="op", comment="x")
    assert (await alarms.get(alarm_id=first)).acknowledged_at is None
    with pytest.raises(InvalidArgument):
        await alarms.acknowledge_many(alarm_ids=[], by="op")

    async with csms.app.bus.subscribe(events.AlarmChanged) as queue:
        done = await alarms.acknowledge_many(alarm_ids=[first, fourth], by="op", comment="crew informed")
        changes = [(e.alarm.id, e.change) for e in [queue.get_nowait() for _ in range(queue.qsize())]]
    assert [a.id for a in done] == [first]  # the one someone else saw already is left as it was
    assert (await alarms.get(alarm_id=first)).comment == "op: crew informed"
    assert (await alarms.get(alarm_id=fourth)).acknowledged_by == "other"
    assert changes == [(first, "acknowledged")]  # announced as a single acknowledgement is

    rest = await alarms.acknowledge_many(alarm_ids=None, by="op", comment="shift handover")
    assert {a.id for a in rest} == {second, third}
    for alarm_id in (second, third):
        alarm = await alarms.get(alarm_id=alarm_id)
        assert alarm.acknowledged_by == "op" and alarm.comment == "op: shift handover"
    assert {a.id for a in await alarms.list(where=STANDING)} == {first, second, fourth}  # active: still standing
    assert await alarms.acknowledge_many(alarm_ids=None, by="op") == []
