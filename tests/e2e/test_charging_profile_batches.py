"""Charging profiles in batches (the load manager's path): each request stands or fails alone, every send is logged,
audited and announced, and what an accepted profile replaces ends, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from evscada.core import events
from evscada.core.energy.profiles import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
)
from evscada.core.energy.service import ProfileRequest, ProfileSent, ProfileStatus
from evscada.core.errors import InvalidArgument, UnknownStation
from evscada.core.model import StationId
from evscada.simulator.fleet import run_station
from evscada.simulator.station import StationSpec, cancel_quietly
from tests.simulator.helpers import QUIET
from tests.support import Csms, eventually

SID, AWAY = StationId("SIM-BATCH"), StationId("AWAY-1")


def station_max(profile_id: int, limit: float, *, stack_level: int = 0, **fields: object) -> ChargingProfile:
    schedule = ChargingSchedule(unit=RateUnit.WATTS, periods=(SchedulePeriod(start_s=0, limit=limit),))
    return ChargingProfile(
        id=profile_id,
        stack_level=stack_level,
        purpose=ProfilePurpose.STATION_MAX,
        kind=ProfileKind.ABSOLUTE,
        schedule=schedule,
        **fields,  # type: ignore[arg-type]
    )


async def test_a_batch_sends_each_profile_on_its_own_and_keeps_every_outcome(csms: Csms) -> None:
    await csms.add_station(SID)
    await csms.add_station(AWAY)  # registered, never connected: offline
    spec = StationSpec(station_id=SID, version="1.6", connectors=2)
    task = asyncio.create_task(run_station(csms.url(SID).rsplit("/", 1)[0], spec, QUIET))
    service = csms.app.core.charging_profiles
    try:

        async def ready() -> bool:
            connectors = await csms.rows("connectors", station_id=SID)
            return csms.app.gateway.registry.get(SID) is not None and len(connectors) == 2

        assert await eventually(ready, timeout=10), "the simulated station never booted"
        earlier = await service.set(station_id=SID, evse_id=0, profile=station_max(1, 9000), actor="ops")
        assert earlier.profile.status is ProfileStatus.ACCEPTED
        past = datetime.now(UTC) - timedelta(minutes=1)
        requests = [
            ProfileRequest(SID, 0, station_max(1, 7000), reason="lower"),  # accepted: replaces `earlier`
            ProfileRequest(SID, 0, station_max(2, 5000, stack_level=99)),  # the station refuses stack level 99
            ProfileRequest(AWAY, 0, station_max(1, 7000)),  # offline
            ProfileRequest(SID, 0, station_max(3, 5000, valid_to=past)),  # invalid: never sent
            ProfileRequest(StationId("NOBODY"), 0, station_max(1, 7000)),  # not registered
            ProfileRequest(SID, 0, station_max(1, 6000), reason="lower again"),  # replaces the first of the batch
        ]
        async with csms.app.bus.subscribe(events.CommandFinished) as finished:
            results = await service.set_many(requests, actor="ops")
            announced: list[events.CommandFinished] = []
            while len(announced) < 4:  # published once the batch's outcomes are stored
                event = finished.get_nowait()
                if isinstance(event, events.CommandFinished) and event.command == "set_charging_profile":
                    announced.append(event)

        accepted, refused, away, invalid, unknown, again = results
        assert isinstance(accepted, ProfileSent) and accepted.profile.status is ProfileStatus.ACCEPTED
        assert isinstance(refused, ProfileSent) and (refused.profile.status, refused.profile.answer) == (
            ProfileStatus.REJECTED,
            "Rejected",
        )
        assert isinstance(away, ProfileSent) and (away.profile.status, away.profile.answer) == (
            ProfileStatus.FAILED,
            "offline",
        )
        assert isinstance(invalid, InvalidArgument) and (invalid.field or "").endswith("valid_to")
        assert isinstance(unknown, UnknownStation)
        assert isinstance(again, ProfileSent) and again.profile.status is ProfileStatus.ACCEPTED

        rows = {row["id"]: row for row in await csms.rows("charging_profiles")}
        assert len(rows) == 5  # `earlier` and the four sent; nothing stored for the invalid or unknown ones
        assert rows[earlier.profile.id]["status"] == "replaced"
        assert f"record {accepted.profile.id}" in rows[earlier.profile.id]["end_reason"]
        assert rows[accepted.profile.id]["status"] == "replaced"
        assert f"record {again.profile.id}" in rows[accepted.profile.id]["end_reason"]
        assert rows[again.profile.id]["status"] == "accepted"
        assert (rows[refused.profile.id]["status"], rows[away.profile.id]["answer"]) == ("rejected", "offline")
        in_force = await service.profiles(station_id=SID, in_force=True)
        assert [(p.profile.id, p.profile.schedule.periods[0].limit) for p in in_force] == [(1, 6000)]

        await logged_and_audited(csms, [accepted, refused, away, again], announced, rows)
    finally:
        await cancel_quietly(task)


async def logged_and_audited(
    csms: Csms, sent: list[ProfileSent], announced: list[events.CommandFinished], rows: dict[int, dict[str, Any]]
) -> None:
    """Each sent profile's command is in the command log with its outcome, audited and announced once stored."""
    accepted, refused, away, _ = sent
    log = {row["id"]: row for row in await csms.rows("command_log", command="set_charging_profile")}
    for result, outcome in ((r, r.outcome) for r in sent):
        assert rows[result.profile.id]["command_id"] == outcome.command_id
        row = log[outcome.command_id]
        assert (row["station_id"], row["outcome"], row["status"]) == (
            result.profile.station_id,
            str(outcome.outcome),
            outcome.status,
        )
    assert log[accepted.outcome.command_id]["reason"] == "lower"
    assert (log[away.outcome.command_id]["outcome"], log[refused.outcome.command_id]["status"]) == (
        "offline",
        "Rejected",
    )
    audits = await csms.rows("audit_log", action="command.set_charging_profile")
    audited = {row["details"]["command_id"]: row for row in audits}
    assert {r.outcome.command_id for r in sent} <= set(audited)
    assert audited[away.outcome.command_id]["details"]["outcome"] == "offline"
    assert audited[refused.outcome.command_id]["target_id"] == SID
    assert sorted(e.command_id for e in announced) == sorted(r.outcome.command_id for r in sent)
