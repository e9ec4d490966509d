"""A site's electrical layout through the API: feeders nested below the connection, their limits and load curves,
and each station's supply; every change audited with who made it, bad input named, unknown things 404."""

from __future__ import annotations

import httpx

from evscada.core.access.users import Role
from evscada.core.energy.layout import site_grid
from evscada.core.model import SiteId
from tests.api.conftest import key_for
from tests.support import Csms

DEPOT = {"name": "Depot", "grid_capacity_w": 900e3}


async def depot(api: httpx.AsyncClient, admin: dict[str, str], name: str = "Depot") -> int:
    created = await api.post("/sites", json={**DEPOT, "name": name}, headers=admin)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def test_an_admin_nests_feeders_below_the_connection_and_everyone_reads_them(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    admin, operator, viewer = [await key_for(csms, role) for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER)]
    site = await depot(api, admin)
    feeders = f"/sites/{site}/feeders"

    a = await api.post(feeders, json={"name": "Feeder A", "max_w": 500e3}, headers=admin)
    assert a.status_code == 201, a.text
    b = (await api.post(feeders, json={"name": "Feeder B", "max_w": 450e3, "max_a": 650}, headers=admin)).json()
    t = await api.post(feeders, json={"name": "Transformer B1", "max_a": 250, "parent_id": b["id"]}, headers=admin)
    assert t.status_code == 201, t.text
    assert a.json() | {"id": 0} == {
        "id": 0,
        "site_id": site,
        "name": "Feeder A",
        "parent_id": None,
        "max_a": None,
        "max_w": 500e3,
        "limit_curve": [],
    }
    assert (await api.post(feeders, json={"name": "X", "max_w": 1}, headers=operator)).status_code == 403
    listed = (await api.get(feeders, headers=viewer)).json()
    assert [(f["name"], f["parent_id"]) for f in listed] == [
        ("Feeder A", None),
        ("Feeder B", None),
        ("Transformer B1", b["id"]),
    ]

    changed = await api.patch(f"{feeders}/{b['id']}", json={"max_a": None, "name": "Feeder B (north)"}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["max_a"], changed.json()["max_w"]) == (
        "Feeder B (north)",
        None,
        450e3,
    )
    moved = await api.patch(f"{feeders}/{t.json()['id']}", json={"parent_id": a.json()["id"]}, headers=admin)
    assert moved.json()["parent_id"] == a.json()["id"] and moved.json()["max_a"] == 250  # the rest kept
    to_root = await api.patch(f"{feeders}/{t.json()['id']}", json={"parent_id": None}, headers=admin)
    assert to_root.json()["parent_id"] is None

    curve = {"periods": [{"start": "2026-12-08T22:00:00Z", "end": "2026-12-09T06:00:00Z", "max_kw": 300}]}
    assert (await api.put(f"{feeders}/{a.json()['id']}/limit-curve", json=curve, headers=viewer)).status_code == 403
    with_curve = await api.put(f"{feeders}/{a.json()['id']}/limit-curve", json=curve, headers=operator)
    assert with_curve.status_code == 200, with_curve.text
    (period,) = (await api.get(f"{feeders}/{a.json()['id']}", headers=viewer)).json()["limit_curve"]
    assert (period["max_kw"], period["max_a"]) == (300, None) and period["start"].startswith("2026-12-08T22:00:00")
    cleared = await api.put(f"{feeders}/{a.json()['id']}/limit-curve", json={"periods": []}, headers=operator)
    assert cleared.json()["limit_curve"] == []

    assert (await api.delete(f"{feeders}/{t.json()['id']}", headers=operator)).status_code == 403
    assert (await api.delete(f"{feeders}/{t.json()['id']}", headers=admin)).status_code == 204
    assert (await api.get(f"{feeders}/{t.json()['id']}", headers=viewer)).status_code == 404

    audit = (await api.get("/audit", params={"target_type": "feeder"}, headers=admin)).json()
    actions = [(e["action"], e["actor"]) for e in reversed(audit)]
    assert actions == [
        ("feeder.create", "admin-user"),
        ("feeder.create", "admin-user"),
        ("feeder.create", "admin-user"),
        ("feeder.update", "admin-user"),
        ("feeder.update", "admin-user"),
        ("feeder.update", "admin-user"),
        ("feeder.limit_curve", "operator-user"),
        ("feeder.limit_curve", "operator-user"),
        ("feeder.delete", "admin-user"),
    ]


async def test_a_feeder_that_still_feeds_something_is_not_deleted_and_a_sites_deletion_takes_its_feeders(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    admin = await key_for(csms, Role.ADMIN)
    site = await depot(api, admin)
    feeders = f"/sites/{site}/feeders"
    a = (await api.post(feeders, json={"name": "Feeder A", "max_w": 500e3}, headers=admin)).json()
    below = (await api.post(feeders, json={"name": "Sub", "max_w": 100e3, "parent_id": a["id"]}, headers=admin)).json()
    await csms.add_station("BAY-01")
    placed = await api.patch("/stations/BAY-01", json={"site_id": site, "feeder_id": a["id"]}, headers=admin)
    assert placed.status_code == 200 and placed.json()["feeder_id"] == a["id"], placed.text

    refused = await api.delete(f"{feeders}/{a['id']}", headers=admin)
    assert refused.status_code == 409 and refused.json()["code"] == "feeder_in_use"
    assert "BAY-01" in refused.json()["detail"] and "Sub" in refused.json()["detail"]
    assert (await api.delete(f"{feeders}/{below['id']}", headers=admin)).status_code == 204
    await api.patch("/stations/BAY-01", json={"feeder_id": None}, headers=admin)
    assert (await api.delete(f"{feeders}/{a['id']}", headers=admin)).status_code == 204

    again = (await api.post(feeders, json={"name": "Feeder A", "max_w": 500e3}, headers=admin)).json()
    await api.patch("/stations/BAY-01", json={"feeder_id": again["id"]}, headers=admin)
    assert (await api.delete(f"/sites/{site}", headers=admin)).status_code == 204
    station = (await api.get("/stations/BAY-01", headers=admin)).json()
    assert station["site"] is None and station["feeder_id"] is None
    assert (await api.get(feeders, headers=admin)).status_code == 404


async def test_a_station_shows_and_takes_its_supply_and_the_layout_builds_its_sites_grid(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    admin = await key_for(csms, Role.ADMIN)
    site, elsewhere = await depot(api, admin), await depot(api, admin, "Elsewhere")
    a = (await api.post(f"/sites/{site}/feeders", json={"name": "A", "max_w": 300e3}, headers=admin)).json()
    for sid in ("BAY-01", "BAY-02"):
        await csms.add_station(sid)
    unknown = (await api.get("/stations/BAY-01", headers=admin)).json()
    assert [unknown[k] for k in ("feeder_id", "max_power_w", "supply", "phases")] == [None, None, None, None]
    dc = {"site_id": site, "feeder_id": a["id"], "max_power_w": 150e3, "supply": "DC"}
    assert (await api.patch("/stations/BAY-01", json=dc, headers=admin)).status_code == 200
    ac = {"site_id": site, "max_power_w": 7.4e3, "supply": "AC", "phases": 1, "name": "Wallbox"}
    shown = await api.patch("/stations/BAY-02", json=ac, headers=admin)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["name"], body["feeder_id"], body["max_power_w"], body["supply"], body["phases"]) == (
        "Wallbox",
        None,
        7.4e3,
        "AC",
        1,
    )
    kept = (await api.patch("/stations/BAY-01", json={"registration": "Pending"}, headers=admin)).json()
    assert (kept["feeder_id"], kept["supply"], kept["registration"]) == (a["id"], "DC", "Pending")

    core = csms.app.core
    stations = [s for s in await core.stations.list() if s.site_id == site]
    grid = site_grid(
        await core.sites.get(site_id=SiteId(site)), stations, await core.layout.feeders(site_id=SiteId(site))
    )
    assert grid.root.stations == ("BAY-02",) and grid.root.children[0].stations == ("BAY-01",)
    assert grid.root.children[0].limit.watts == 300e3

    moved = await api.patch("/stations/BAY-01", json={"site_id": elsewhere}, headers=admin)
    assert moved.status_code == 200 and moved.json()["feeder_id"] is None  # its feeder stayed at the old site
    assert moved.json()["supply"] == "DC"

    audit = (await api.get("/audit", params={"action": "station.supply"}, headers=admin)).json()
    assert [e["target_id"] for e in reversed(audit)] == ["BAY-01", "BAY-02", "BAY-01"]
    assert audit[0]["details"]["feeder_id"] == {"from": a["id"], "to": None} and audit[0]["actor"] == "admin-user"


async def test_bad_layout_input_is_named_and_unknown_sites_and_feeders_are_404(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    admin = await key_for(csms, Role.ADMIN)
    site, other = await depot(api, admin), await depot(api, admin, "Other")
    feeders = f"/sites/{site}/feeders"

    async def field_of(response: httpx.Response) -> str:
        assert response.status_code == 422, response.text
        body = response.json()
        return body["field"] if "field" in body else ".".join(str(p) for p in body["detail"][0]["loc"][1:])

    assert await field_of(await api.post(feeders, json={"name": "No limit"}, headers=admin)) == "max_w"
    assert await field_of(await api.post(feeders, json={"name": "Huge", "max_w": 2e8}, headers=admin)) == "max_w"
    assert await field_of(await api.post(feeders, json={"name": "Zero", "max_a": 0}, headers=admin)) == "max_a"
    assert await field_of(await api.post(feeders, json={"name": " ", "max_a": 10}, headers=admin)) == "name"
    assert await field_of(await api.post(feeders, json={"name": "X", "max_a": 10, "colour": 1}, headers=admin)) == (
        "colour"
    )
    top = (await api.post(feeders, json={"name": "Top", "max_w": 500e3}, headers=admin)).json()
    mid = (await api.post(feeders, json={"name": "Mid", "max_w": 300e3, "parent_id": top["id"]}, headers=admin)).json()
    assert await field_of(await api.post(feeders, json={"name": "top", "max_w": 1e3}, headers=admin)) == "name"
    foreign = (await api.post(f"/sites/{other}/feeders", json={"name": "There", "max_w": 1e3}, headers=admin)).json()
    for parent in (foreign["id"], 999):
        wrong = await api.post(feeders, json={"name": "Y", "max_w": 1e3, "parent_id": parent}, headers=admin)
        assert await field_of(wrong) == "parent_id"
    for parent in (mid["id"], top["id"]):  # below its own child, or itself
        looped = await api.patch(f"{feeders}/{top['id']}", json={"parent_id": parent}, headers=admin)
        assert await field_of(looped) == "parent_id" and "below itself" in looped.json()["detail"]
    assert await field_of(await api.patch(f"{feeders}/{top['id']}", json={"name": None}, headers=admin)) == "name"
    backwards = {"periods": [{"start": "2026-12-09T06:00:00Z", "end": "2026-12-08T22:00:00Z", "max_kw": 300}]}
    bad_curve = await api.put(f"{feeders}/{top['id']}/limit-curve", json=backwards, headers=admin)
    assert await field_of(bad_curve) == "periods[0].end"

    await csms.add_station("CP-1")
    station_field = [
        ({"feeder_id": top["id"]}, "feeder_id"),  # on no site yet
        ({"site_id": site, "feeder_id": foreign["id"]}, "feeder_id"),
        ({"supply": "DC", "phases": 3}, "phases"),
        ({"phases": 2}, "phases"),  # AC must be said
        ({"supply": "AC", "phases": 4}, "phases"),
        ({"max_power_w": 0}, "max_power_w"),
        ({"max_power_w": 2e6}, "max_power_w"),
        ({"supply": "Three-phase"}, "supply"),
    ]
    for body, name in station_field:
        assert await field_of(await api.patch("/stations/CP-1", json=body, headers=admin)) == name, body

    assert (await api.get("/sites/999/feeders", headers=admin)).status_code == 404
    assert (await api.post("/sites/999/feeders", json={"name": "Z", "max_w": 1e3}, headers=admin)).status_code == 404
    assert (await api.get(f"{feeders}/999", headers=admin)).status_code == 404
    assert (await api.get(f"/sites/{other}/feeders/{top['id']}", headers=admin)).status_code == 404  # not its site
    assert (await api.patch(f"{feeders}/999", json={"name": "Z"}, headers=admin)).status_code == 404
    assert (await api.delete(f"{feeders}/999", headers=admin)).status_code == 404
    assert (await api.put(f"{feeders}/999/limit-curve", json={"periods": []}, headers=admin)).status_code == 404
    assert (await api.patch("/stations/NOPE", json={"supply": "AC"}, headers=admin)).status_code == 404
