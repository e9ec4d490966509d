"""ISA-18.2 consequential alarms in the alarm service: an alarm raised shortly after another of the same station and
place records it as its cause; acknowledgements (single, group, bulk) are audited (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evscada.core.access.audit import AuditFilter
from evscada.core.alarms.conditions import CAUSE_WINDOW_SECONDS
from evscada.core.alarms.service import AlarmService
from evscada.core.errors import AlarmConflict
from evscada.core.model import Alarm, AlarmPriority, EvseRef, StationId
from tests.support import Csms

CONNECTOR_1 = EvseRef(1, 1)
CONNECTOR_2 = EvseRef(2, 1)


async def raise_on(
    alarms: AlarmService,
    key: str,
    *,
    station: str = "CP-1",
    evse: EvseRef | None = CONNECTOR_1,
    source: str = "station_fault",
    after_seconds: float = 0,
) -> Alarm:
    at = datetime.now(UTC) + timedelta(seconds=after_seconds)  # the tests' CSMS runs on the system clock
    return await alarms.raise_alarm(
        key=key,
        source=source,
        station_id=StationId(station),
        evse=evse,
        priority=AlarmPriority.HIGH,
        message=key,
        at=at,
    )


async def test_a_ground_failure_groups_its_consequences_under_the_first_alarm(csms: Csms) -> None:
    alarms = csms.app.core.alarms
    fault = await raise_on(alarms, "station_fault:CP-1:1/1:GroundFailure")
    event = await raise_on(alarms, "station_event:CP-1:RCD/Tripped", source="station_event", evse=EvseRef(1, 0))
    session = await raise_on(alarms, "transaction:CP-1:1", source="transaction", after_seconds=5)
    station_wide = await raise_on(alarms, "command_timeout:CP-1", source="command_timeout", evse=None)

    assert fault.cause_id is None
    assert [event.cause_id, session.cause_id, station_wide.cause_id] == [fault.id] * 3
    assert (await alarms.get(alarm_id=fault.id)).consequences == 3
    assert (await alarms.get(alarm_id=event.id)).consequences == 0
    # A repeat of a consequence is the same alarm: it counts up, the group stays as it was.
    again = await raise_on(alarms, "transaction:CP-1:1", source="transaction", after_seconds=6)
    assert again.id == session.id and (await alarms.get(alarm_id=fault.id)).consequences == 3


async def test_only_the_same_station_place_and_window_make_a_consequence(csms: Csms) -> None:
    alarms = csms.app.core.alarms
    fault = await raise_on(alarms, "fault:CP-1:1")
    other_station = await raise_on(alarms, "fault:CP-2:1", station="CP-2")
    other_evse = await raise_on(alarms, "fault:CP-1:2", evse=CONNECTOR_2)
    security = await raise_on(alarms, "security:CP-1:TamperDetectionActivated", source="security", evse=None)
    late = await raise_on(alarms, "transaction:CP-1:1", source="transaction", after_seconds=CAUSE_WINDOW_SECONDS + 1)

    assert other_station.cause_id is None
    assert other_evse.cause_id is None  # EVSE 2 has its own trouble
    assert security.cause_id is None  # every security event needs its own look
    assert late.cause_id is None  # a minute later it is news, not a consequence
    assert (await alarms.get(alarm_id=fault.id)).consequences == 0


async def test_a_cleared_alarm_is_no_cause_and_a_chain_hangs_on_its_first_alarm(csms: Csms) -> None:
    alarms = csms.app.core.alarms
    gone = await raise_on(alarms, "fault:CP-1:gone")
    await alarms.clear(key=gone.key)
    first = await raise_on(alarms, "fault:CP-1:first", after_seconds=1)
    second = await raise_on(alarms, "event:CP-1:second", source="station_event", after_seconds=50)
    # 100 s after the first, 50 s after the second: still the first's group, not a group of its own under the second.
    third = await raise_on(alarms, "transaction:CP-1:1", source="transaction", after_seconds=100)

    assert first.cause_id is None  # the cleared one is over: it explains nothing new
    assert second.cause_id == first.id and third.cause_id == first.id


async def test_acknowledging_a_cause_takes_its_consequences_along_and_every_acknowledgement_is_audited(
    csms: Csms,
) -> None:
    alarms, audit = csms.app.core.alarms, csms.app.core.audit
    fault = await raise_on(alarms, "fault:CP-1:1")
    event = await raise_on(alarms, "event:CP-1:1", source="station_event")
    session = await raise_on(alarms, "transaction:CP-1:1", source="transaction")
    lone = await raise_on(alarms, "fault:CP-9:1", station="CP-9")
    await alarms.acknowledge(alarm_id=event.id, by="alice", comment="checked the RCD")

    group = await alarms.acknowledge_group(alarm_id=fault.id, by="bob", comment="crew on site")
    assert [a.id for a in group] == [fault.id, session.id]  # the one Alice saw stays hers
    assert (await alarms.get(alarm_id=session.id)).acknowledged_by == "bob"
    assert (await alarms.get(alarm_id=event.id)).acknowledged_by == "alice"
    with pytest.raises(AlarmConflict):
        await alarms.acknowledge_group(alarm_id=fault.id, by="bob")
    await alarms.acknowledge_many(alarm_ids=[lone.id], by="carol")

    entries = await audit.entries(where=AuditFilter(action="alarm"))
    seen = {(e.actor, e.target_id, e.details["how"]) for e in entries}
    assert seen == {
        ("alice", str(event.id), "single"),
        ("bob", str(fault.id), "group"),
        ("bob", str(session.id), "group"),
        ("carol", str(lone.id), "bulk"),
    }
    by_target = {e.target_id: e for e in entries}
    assert by_target[str(event.id)].action == "alarm.acknowledge"
    assert by_target[str(event.id)].details["comment"] == "checked the RCD"
    assert by_target[str(session.id)].details["cause_id"] == int(fault.id)
    assert by_target[str(lone.id)].details["station_id"] == "CP-9"
