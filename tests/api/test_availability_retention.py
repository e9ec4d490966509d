"""Availability from a scripted status and connectivity history; retention of old history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue

from evscada.app import Application
from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.conftest import _truncate, test_settings
from tests.support import Csms, eventually, station16

T0 = datetime(2026, 11, 20, tzinfo=UTC)


class SetClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def _running(app: Application) -> AsyncIterator[Csms]:
    await app.database.migrate()
    if app.database.engine.dialect.name == "postgresql":
        await _truncate(app.database)
    async with app:
        yield Csms(app)


async def test_availability_and_outages_follow_status_changes_and_a_disconnect(database_url: str) -> None:
    clock = SetClock(T0)
    async for csms in _running(Application(test_settings(database_url), clock=clock)):
        await csms.add_station("CP-A")
        viewer = await key_for(csms, Role.VIEWER)
        async with station16(csms, "CP-A") as cp:
            for connector, status, minutes in ((1, "Available", 0), (2, "Available", 0), (1, "Faulted", 20)):
                at = _iso(T0 + timedelta(minutes=minutes))
                error = "GroundFailure" if status == "Faulted" else "NoError"
                await cp.call(
                    call.StatusNotification(connector_id=connector, error_code=error, status=status, timestamp=at)
                )
            await cp.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Available", timestamp=_iso(T0 + timedelta(minutes=30))
                )
            )
            clock.at = T0 + timedelta(minutes=60)
        await eventually(lambda csms=csms: _offline(csms))
        clock.at = T0 + timedelta(minutes=90)
        async with station16(csms, "CP-A") as cp:
            await cp.call(call.Heartbeat())
        clock.at = T0 + timedelta(hours=5)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1", timeout=30) as api:  # type: ignore[union-attr]
            period = {"from": _iso(T0), "to": _iso(T0 + timedelta(hours=2))}
            body = (await api.get("/stations/CP-A/availability", params=period, headers=viewer)).json()
            fleet = (await api.get("/availability", params=period, headers=viewer)).json()
            bad = await api.get(
                "/stations/CP-A/availability", params={"from": period["to"], "to": period["from"]}, headers=viewer
            )
    one, two = body["connectors"]
    # Connector 1: faulted 20-30 min, offline 60-90 min: 80 of 120 minutes up, two outages.
    assert (one["up_seconds"], one["down_seconds"], one["outage_count"]) == (4800, 2400, 2)
    assert one["seconds_by_state"] == {"Available": 4800, "Faulted": 600, "offline": 1800}
    assert abs(one["availability"] - 80 / 120) < 1e-9
    # Connector 2 was only ever offline; the station stayed up while connector 2 could charge.
    assert (two["up_seconds"], two["outage_count"]) == (5400, 1)
    assert (body["availability"], body["outage_count"], body["outages"][0]["seconds"]) == (0.75, 1, 1800)
    assert (fleet["stations"], fleet["availability"], fleet["outage_count"]) == (1, 0.75, 1)
    assert bad.status_code == 422


async def _offline(csms: Csms) -> bool:
    return not (await csms.station("CP-A"))["online"]


async def test_retention_prunes_old_rows_and_keeps_new_ones(database_url: str) -> None:
    retention = {
        "raw_sample_days": 30,
        "aggregate_1m_days": 60,
        "status_history_days": 30,
        "prune_batch": 10,
        "prune_pause": 0,
        "message_receipt_days": 0.00001,
    }
    settings = test_settings(database_url, historian=retention)
    async for csms in _running(Application(settings)):
        await csms.add_station("CP-R")
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        old, older, recent = now - timedelta(days=45), now - timedelta(days=90), now - timedelta(days=1)
        async with station16(csms, "CP-R") as cp:
            for day in (older, old, recent):
                values = [
                    MeterValue(
                        timestamp=_iso(day + timedelta(seconds=s)),
                        sampled_value=[SampledValue(value=str(s), measurand="Power.Active.Import", unit="W")],
                    )
                    for s in range(0, 900, 60)
                ]
                await cp.call(call.MeterValues(connector_id=1, meter_value=values))
                await cp.call(
                    call.StatusNotification(
                        connector_id=1, error_code="NoError", status="Available", timestamp=_iso(day)
                    )
                )
        # Samples not yet aggregated are kept whatever their age: the buckets must see them first.
        assert (await csms.app.pruner.prune_once())["meter_readings"] == 0
        assert len(await csms.rows("meter_samples")) == 45
        await csms.app.aggregator.catch_up()
        await asyncio.sleep(1)  # message receipts are kept 0.86 s here
        deleted = await csms.app.pruner.prune_once()
        samples = await csms.rows("meter_samples")
        minutes = await csms.rows("meter_aggregates", resolution=60)
        quarters = await csms.rows("meter_aggregates", resolution=900)
        statuses = await csms.rows("status_history")
        receipts = await csms.rows("message_receipts")
    assert deleted["meter_readings"] == 30 and {s["timestamp"].date() for s in samples} == {recent.date()}
    assert {m["bucket_start"].date() for m in minutes} == {old.date(), recent.date()}  # 1m kept 60 days
    assert len(quarters) == 3  # 15-minute buckets are kept forever by default
    assert [s["timestamp"] for s in statuses] == [recent]
    assert receipts == []
