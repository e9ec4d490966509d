"""The transaction list's exports and energies (issue 19): typed XLSX cells, CSV duration and site, no "-0.00 kWh"."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from ocpp.v16 import call
from openpyxl import load_workbook

from evscada.console.transactions import energy_kwh
from evscada.console.web import kwh
from evscada.core.access.users import Role
from evscada.core.model import SiteId, StationId
from tests.console.conftest import PASSWORD, add_users, http
from tests.support import Csms, station16

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
OLD_COLUMNS = [
    "id",
    "station_id",
    "transaction_id",
    "evse_id",
    "id_token",
    "vehicle",
    "started_at",
    "ended_at",
    "energy_kwh",
    "state",
    "stop_reason",
]


async def charge(csms: Csms, sid: str, connector: int, meter: tuple[int, int | None], minutes: float) -> None:
    """A 1.6 session from T0, ended after `minutes` at meter[1], or left running when that is None."""
    async with station16(csms, sid) as cp:
        await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        start = await cp.call(
            call.StartTransaction(
                connector_id=connector, id_tag="CARD-1", meter_start=meter[0], timestamp=T0.isoformat()
            )
        )
        if meter[1] is not None:
            end = T0 + timedelta(minutes=minutes)
            await cp.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id, meter_stop=meter[1], timestamp=end.isoformat()
                )
            )


async def sessions(csms: Csms) -> dict[str, int]:
    """CP-1 at the depot: 3.5 kWh in 1 h 30 min 5 s, then one still running; CP-2 (no site): 4 Wh in 10 min."""
    await add_users(csms)
    await csms.add_token("CARD-1")
    core = csms.app.core
    depot = await core.sites.create(name="Depot Munich", latitude=48.14, longitude=11.58)
    for sid in ("CP-1", "CP-2"):
        await csms.add_station(sid)
    await core.sites.place_station(
        station_id=StationId("CP-1"), name="Munich 1", site_id=SiteId(depot.id), latitude=None, longitude=None
    )
    await charge(csms, "CP-1", 1, (1000, 4500), 90 + 5 / 60)
    await charge(csms, "CP-2", 1, (2000, 2004), 10)
    await charge(csms, "CP-1", 2, (4500, None), 0)
    rows = sorted(await csms.rows("transactions"), key=lambda r: r["pk"])
    return dict(zip(("depot", "tiny", "running"), (r["pk"] for r in rows), strict=True))


async def test_the_csv_gains_duration_and_site_at_the_end_and_the_xlsx_has_real_dates_and_numbers(
    csms: Csms,
) -> None:
    pks = await sessions(csms)
    async with http(csms) as client:
        await client.post("/login", data={"username": str(Role.VIEWER), "password": PASSWORD})
        text = (await client.get("/transactions/export.csv")).text
        book = await client.get("/transactions/export.xlsx")

    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == [*OLD_COLUMNS, "duration_s", "site"]  # the old columns where they were
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(text))}
    depot, tiny, running = rows[pks["depot"]], rows[pks["tiny"]], rows[pks["running"]]
    assert (depot["started_at"], depot["ended_at"]) == ("2026-11-25 08:00:00", "2026-11-25 09:30:05")
    assert (depot["energy_kwh"], depot["duration_s"], depot["site"]) == ("3.5", "5405", "Depot Munich")
    assert (tiny["energy_kwh"], tiny["duration_s"], tiny["site"]) == ("0.004", "600", "")
    assert (running["ended_at"], running["duration_s"], running["site"]) == ("", "", "Depot Munich")

    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    assert header == [*OLD_COLUMNS, "duration_s", "site"]
    at = {name: i for i, name in enumerate(header)}
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    depot_cells = cells[pks["depot"]]
    started, ended = depot_cells[at["started_at"]], depot_cells[at["ended_at"]]
    assert started.is_date and started.value == datetime(2026, 11, 25, 8, 0)  # UTC, as the console shows
    assert ended.is_date and ended.value == datetime(2026, 11, 25, 9, 30, 5)
    assert "yyyy" in started.number_format and "hh:mm" in started.number_format
    assert started.data_type == "d"  # read back as a date (text would be "s")
    energy, duration = depot_cells[at["energy_kwh"]], depot_cells[at["duration_s"]]
    assert (energy.value, energy.data_type) == (3.5, "n") and (duration.value, duration.data_type) == (5405, "n")
    assert depot_cells[at["evse_id"]].data_type == "n" and depot_cells[at["site"]].value == "Depot Munich"
    running_cells = cells[pks["running"]]
    assert running_cells[at["ended_at"]].value is None and running_cells[at["duration_s"]].value is None


async def test_a_session_whose_energy_rounds_to_zero_shows_0_00_kwh(csms: Csms) -> None:
    pks = await sessions(csms)
    async with http(csms) as client:
        await client.post("/login", data={"username": str(Role.VIEWER), "password": PASSWORD})
        detail = (await client.get(f"/transactions/{pks['tiny']}")).text
        listed = (await client.get("/transactions?station=CP-2")).text
    assert "<dd>0.00 kWh</dd>" in detail and "-0.00" not in detail
    assert "0.00 kWh" in listed and "-0.00" not in listed


def test_energies_a_hair_below_zero_are_zero_not_minus_zero() -> None:
    # A register read back a little lower than the start (a live reading without a start value, float noise).
    assert [kwh(x) for x in (-0.0, -0.4, -4.9, 0.4, 1500)] == [
        "0.00 kWh",
        "0.00 kWh",
        "0.00 kWh",
        "0.00 kWh",
        "1.50 kWh",
    ]
    assert kwh(-250) == "0.00 kWh"  # a session never delivers less than nothing
    assert [str(energy_kwh(x)) for x in (-0.0, -0.4, 4)] == ["0.0", "0.0", "0.004"]
    assert energy_kwh(None) is None
