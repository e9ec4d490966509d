"""What departure-aware charging needs of a vehicle, through the API: departures, target SoC, priority, power."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from evscada.core.access.departures import next_departure
from evscada.core.access.users import Role
from evscada.core.model import Vehicle, VehicleId
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.support import Csms

BERLIN = ZoneInfo("Europe/Berlin")
BUS = {
    "name": "Bus 4101",
    "fleet_number": "4101",
    "battery_capacity_wh": 348e3,
    "departure_time": "04:30",
    "target_soc_pct": 95,
    "priority": 10,
    "max_power_w": 150e3,
}


@pytest.fixture
async def depot(database_url: str) -> AsyncIterator[Csms]:
    """A CSMS whose operator keeps Berlin time."""
    async for running in start_csms(test_settings(database_url, operator_timezone="Europe/Berlin")):
        yield running


@pytest.fixture
async def client(depot: Csms) -> AsyncIterator[httpx.AsyncClient]:
    assert depot.app.http is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{depot.app.http.port}/api/v1", timeout=10) as http:
        yield http


def daily_at(at: time, before: datetime, after: datetime) -> set[datetime | None]:
    """The next departure the server may have computed at some moment between these two."""
    return {next_departure(Vehicle(VehicleId(0), "x", departure_time=at), now, BERLIN) for now in (before, after)}


def same_instant(text: str | None, moment: datetime) -> bool:
    return text is not None and datetime.fromisoformat(text) == moment


async def test_a_bus_keeps_its_departures_and_needs_and_says_when_it_leaves_next(
    depot: Csms, client: httpx.AsyncClient
) -> None:
    operator, viewer = await key_for(depot, Role.OPERATOR), await key_for(depot, Role.VIEWER)
    before = datetime.now(UTC)
    created = await client.post("/vehicles", json=BUS, headers=operator)
    assert created.status_code == 201, created.text
    bus = created.json()
    detail = (await client.get(f"/vehicles/{bus['id']}", headers=viewer)).json()
    after = datetime.now(UTC)

    assert (detail["departure_time"], detail["target_soc_pct"], detail["priority"], detail["max_power_w"]) == (
        "04:30:00",
        95.0,
        10,
        150e3,
    )
    assert detail["next_departure"] is None
    # 04:30 on the operator's (Berlin) clock, whatever the server's own zone: 02:30 or 03:30 UTC.
    leaves = datetime.fromisoformat(detail["next_departure_at"])
    assert leaves in daily_at(time(4, 30), before, after)
    assert leaves.astimezone(BERLIN).time() == time(4, 30) and before < leaves <= after + timedelta(hours=25)
    (listed,) = (await client.get("/vehicles", headers=viewer)).json()
    assert listed["next_departure_at"] == detail["next_departure_at"] and listed["priority"] == 10

    # A one-off departure wins while ahead; it is given with any offset and kept in UTC.
    one_off = (datetime.now(BERLIN) + timedelta(days=2)).replace(hour=22, minute=15, second=0, microsecond=0)
    changed = await client.patch(
        f"/vehicles/{bus['id']}", json={"next_departure": one_off.isoformat(), "priority": 5}, headers=operator
    )
    assert changed.status_code == 200, changed.text
    assert same_instant(changed.json()["next_departure"], one_off)
    assert changed.json()["next_departure"].endswith("Z") or changed.json()["next_departure"].endswith("+00:00")
    detail = (await client.get(f"/vehicles/{bus['id']}", headers=viewer)).json()
    assert same_instant(detail["next_departure_at"], one_off)
    assert (detail["departure_time"], detail["target_soc_pct"], detail["priority"]) == ("04:30:00", 95.0, 5)

    # A one-off in the past is kept as said but no longer counts; null clears a field.
    past = datetime(2020, 1, 1, 8, tzinfo=UTC)
    await client.patch(f"/vehicles/{bus['id']}", json={"next_departure": past.isoformat()}, headers=operator)
    detail = (await client.get(f"/vehicles/{bus['id']}", headers=viewer)).json()
    assert same_instant(detail["next_departure"], past)
    assert datetime.fromisoformat(detail["next_departure_at"]).astimezone(BERLIN).time() == time(4, 30)
    cleared = await client.patch(
        f"/vehicles/{bus['id']}",
        json={"departure_time": None, "next_departure": None, "target_soc_pct": None, "max_power_w": None},
        headers=operator,
    )
    assert cleared.status_code == 200, cleared.text
    detail = (await client.get(f"/vehicles/{bus['id']}", headers=viewer)).json()
    assert [detail[k] for k in ("departure_time", "next_departure", "target_soc_pct", "max_power_w")] == [None] * 4
    assert detail["next_departure_at"] is None and detail["priority"] == 5
    assert (await client.patch(f"/vehicles/{bus['id']}", json={"priority": 3}, headers=viewer)).status_code == 403


async def test_values_out_of_range_are_refused_naming_the_field(depot: Csms, client: httpx.AsyncClient) -> None:
    operator = await key_for(depot, Role.OPERATOR)
    bad = {
        "departure_time": "25:00",
        "next_departure": "2030-01-01T04:30:00",  # no offset: which 04:30?
        "target_soc_pct": 0,
        "priority": 101,
        "max_power_w": 2e6,
    }
    refused = await client.post("/vehicles", json={"name": "Bus 1"} | bad, headers=operator)
    assert refused.status_code == 422
    assert {tuple(e["loc"]) for e in refused.json()["detail"]} == {("body", name) for name in bad}

    bus = (await client.post("/vehicles", json={"name": "Bus 1"}, headers=operator)).json()
    for field, value in [
        ("departure_time", "04:30+02:00"),  # a time of day is read on the operator's clock, never with an offset
        ("target_soc_pct", 100.5),
        ("target_soc_pct", "NaN"),
        ("priority", -1),
        ("priority", 101),
        ("priority", None),  # priority is never unset: 0 is the default
        ("priority", 1.5),
        ("max_power_w", 0),
        ("max_power_w", -1),
    ]:
        answer = await client.patch(f"/vehicles/{bus['id']}", json={field: value}, headers=operator)
        assert answer.status_code == 422, (field, value, answer.text)
        assert [tuple(e["loc"]) for e in answer.json()["detail"]] == [("body", field)], (field, value)
    for field, value in [
        ("target_soc_pct", 1),
        ("target_soc_pct", 100),
        ("priority", 0),
        ("priority", 100),
        ("max_power_w", 1e6),
    ]:
        answer = await client.patch(f"/vehicles/{bus['id']}", json={field: value}, headers=operator)
        assert answer.status_code == 200 and answer.json()[field] == value, (field, value, answer.text)


async def test_changes_to_departures_are_audited_with_who_made_them(depot: Csms, client: httpx.AsyncClient) -> None:
    operator, admin = await key_for(depot, Role.OPERATOR), await key_for(depot, Role.ADMIN)
    bus = (await client.post("/vehicles", json=BUS, headers=operator)).json()
    await client.patch(
        f"/vehicles/{bus['id']}",
        json={"departure_time": "05:10", "next_departure": "2030-06-01T03:00:00Z", "target_soc_pct": 80},
        headers=operator,
    )

    entries = (await client.get("/audit", params={"target_type": "vehicle"}, headers=admin)).json()
    update, create = entries
    assert (create["action"], create["actor"]) == ("vehicle.create", "operator-user")
    assert create["details"]["departure_time"] == "04:30:00" and create["details"]["priority"] == 10
    assert (update["action"], update["actor"]) == ("vehicle.update", "operator-user")
    assert update["details"] == {
        "departure_time": {"from": "04:30:00", "to": "05:10:00"},
        "next_departure": {"from": None, "to": "2030-06-01T03:00:00+00:00"},
        "target_soc_pct": {"from": 95.0, "to": 80.0},
    }


async def test_the_core_refuses_what_the_api_would_and_names_the_field(depot: Csms) -> None:
    """Callers other than the API (the console, the demo) meet the same rules."""
    from evscada.core.errors import InvalidArgument

    vehicles = depot.app.core.vehicles
    for fields, field in [
        ({"target_soc_pct": 0.5}, "target_soc_pct"),
        ({"priority": 500}, "priority"),
        ({"max_power_w": float("inf")}, "max_power_w"),
        ({"departure_time": time(4, 30, tzinfo=BERLIN)}, "departure_time"),
        ({"next_departure": datetime(2030, 1, 1, 4, 30)}, "next_departure"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            await vehicles.create(name="Bus 9", **fields)  # type: ignore[arg-type]
        assert refused.value.field == field
    assert await vehicles.list() == []
    assert vehicles.zone == BERLIN


async def test_a_fleets_priority_is_set_on_all_its_vehicles_at_once(depot: Csms, client: httpx.AsyncClient) -> None:
    csms = depot
    operator = await key_for(csms, Role.OPERATOR)
    for name, fleet in [("Bus 1", "night"), ("Bus 2", "night"), ("Van 1", "vans")]:
        created = await client.post("/vehicles", json={"name": name, "fleet": fleet}, headers=operator)
        assert created.status_code == 201
    answer = await client.put("/fleets/night/priority", json={"priority": 7}, headers=operator)
    assert answer.status_code == 200, answer.text
    assert sorted(v["name"] for v in answer.json()) == ["Bus 1", "Bus 2"]
    priorities = {v["name"]: v["priority"] for v in (await client.get("/vehicles", headers=operator)).json()}
    assert priorities == {"Bus 1": 7, "Bus 2": 7, "Van 1": 0}
    assert (await client.put("/fleets/nobody/priority", json={"priority": 7}, headers=operator)).status_code == 404
    assert (await client.put("/fleets/night/priority", json={"priority": 101}, headers=operator)).status_code == 422
    viewer = await key_for(csms, Role.VIEWER)
    assert (await client.put("/fleets/night/priority", json={"priority": 1}, headers=viewer)).status_code == 403
    audit = await csms.rows("audit_log", action="fleet.priority")
    assert [(row["target_id"], row["details"]["priority"]) for row in audit] == [("night", 7)]
