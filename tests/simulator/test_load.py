"""Load mode: hundreds of simulated stations on lean links live their lives, and the summary matches the CSMS."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from evscada.simulator.faults import FaultKind, PlannedFault
from evscada.simulator.load import load_timing, run_load
from evscada.simulator.model import StationSpec
from evscada.storage import tables
from tests.support import Csms

STATIONS = 200
METERS = 2


async def _periodic_energy_samples(csms: Csms) -> int:
    """Energy readings of transactions that are neither the start's nor the end's: one per periodic meter value."""
    samples = tables.meter_samples.c
    async with csms.app.database.transaction() as c:
        query = select(func.count()).where(
            samples.measurand == "Energy.Active.Import.Register",
            samples.transaction_pk.is_not(None),
            func.coalesce(samples.context, "").not_in(["Transaction.Begin", "Transaction.End"]),
        )
        return int((await c.execute(query)).scalar_one())


async def test_two_hundred_lean_stations_of_both_versions_are_counted_as_the_csms_counts(
    csms_sqlite: Csms,
) -> None:
    csms = csms_sqlite
    ids = [(f"LOAD-{n:04d}", "2.0.1" if n % 2 else "1.6") for n in range(STATIONS)]
    for station_id, _ in ids:
        await csms.add_station(station_id)
        await csms.add_token(f"CARD-{station_id}")  # one driver each: a shared card would be ConcurrentTx
    specs = [StationSpec(station_id=sid, version=version, tokens=(f"CARD-{sid}",)) for sid, version in ids]
    progress = io.StringIO()

    stats = await run_load(
        csms.url("x").rsplit("/", 1)[0],
        specs,
        load_timing(pace=0.01, meters_per_session=METERS, sessions=1),
        ramp_per_second=400,
        duration=60,
        out=progress,
        progress_every=0.2,
    )

    assert len(stats.ever_connected) == STATIONS and stats.booted == STATIONS
    assert stats.sessions_started == stats.sessions_completed == STATIONS
    assert not stats.errors and not stats.connect_failures, stats.summary()
    v16 = sum(1 for _, version in ids if version == "1.6")
    v201 = STATIONS - v16
    assert stats.answered["BootNotification"] == STATIONS
    assert stats.answered["StartTransaction"] == stats.answered["StopTransaction"] == v16
    assert stats.answered["TransactionEvent"] == v201 * (METERS + 2)
    async with csms.app.database.transaction() as c:
        ended = (await c.execute(select(func.count()).where(tables.transactions.c.state == "ended"))).scalar_one()
    periodic = await _periodic_energy_samples(csms)
    assert ended == stats.answered["StopTransaction"] + v201 == STATIONS
    assert periodic == stats.answered["MeterValues"] + v201 * METERS  # one energy reading per meter message
    summary = stats.summary()
    assert "MeterValues" in summary and "p99 ms" in summary and "errors: none" in summary
    assert f"connected {STATIONS}/{STATIONS}" in progress.getvalue()


async def test_a_fault_plan_drops_every_load_station_mid_session_and_no_sample_is_lost_or_repeated(
    csms_sqlite: Csms,
) -> None:
    csms, stations, meters = csms_sqlite, 20, 10
    specs = [
        StationSpec(f"DROP-{n:02d}", "2.0.1" if n % 2 else "1.6", tokens=(f"CARD-DROP-{n:02d}",))
        for n in range(stations)
    ]
    for spec in specs:
        await csms.add_station(spec.station_id)
        await csms.add_token(spec.tokens[0])
    plan = [PlannedFault(at=0.6, kind=FaultKind.CONNECTION_DROP, share=1.0, duration=0.3)]

    stats = await run_load(
        csms.url("x").rsplit("/", 1)[0],
        specs,
        load_timing(pace=0.1, meters_per_session=meters, sessions=1),
        ramp_per_second=200,
        duration=30,
        plan=plan,
        out=io.StringIO(),
    )

    assert not stats.errors and not stats.connect_failures, stats.summary()
    # They came back; a driver whose session had not started when the connection dropped has left (no transaction).
    assert stats.connections > stations and stats.sessions_started == stations
    completed = stats.sessions_completed
    assert completed > stations // 2
    transactions = await csms.rows("transactions")
    periodic = await _periodic_energy_samples(csms)
    assert len(transactions) == completed and all(t["state"] == "ended" for t in transactions)
    assert any(t["offline"] for t in transactions)  # 2.0.1 messages queued during the drop said so
    assert periodic == completed * meters  # every sample once, the queued ones included
