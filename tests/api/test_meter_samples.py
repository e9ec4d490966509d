"""Meter-sample range queries through the REST API, fed by a real OCPP 1.6 station with controlled timestamps."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms, station16

T0 = datetime(2026, 11, 1, tzinfo=UTC)
POWER = "Power.Active.Import"
VOLTAGE = "Voltage"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def send(cp: Any, samples: list[tuple[datetime, str, float, str | None]], connector: int = 1) -> None:
    """MeterValues of (time, measurand, value, phase), 50 instants per message."""
    by_time: dict[datetime, list[SampledValue]] = defaultdict(list)
    for at, measurand, value, phase in samples:
        unit = "W" if measurand == POWER else "V"
        by_time[at].append(SampledValue(value=f"{value:.3f}", measurand=measurand, unit=unit, phase=phase))
    times = sorted(by_time)
    for i in range(0, len(times), 50):
        values = [MeterValue(timestamp=_iso(at), sampled_value=by_time[at]) for at in times[i : i + 50]]
        await cp.call(call.MeterValues(connector_id=connector, meter_value=values))


def _expected(rows: list[dict[str, Any]], seconds: int) -> dict[tuple[str, str | None], dict[datetime, tuple]]:
    """min / avg / max / count per bucket, computed here from the raw rows."""
    groups: dict[tuple[str, str | None], dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        epoch = int(row["timestamp"].timestamp())
        start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
        groups[(row["measurand"], row["phase"])][start].append(row["value"])
    return {
        key: {at: (min(v), sum(v) / len(v), max(v), len(v)) for at, v in buckets.items()}
        for key, buckets in groups.items()
    }


def _answered(body: dict[str, Any]) -> dict[tuple[str, str | None], dict[datetime, tuple]]:
    return {
        (s["measurand"], s["phase"]): {
            datetime.fromisoformat(p["t"]): (p["min"], p["avg"], p["max"], p["count"]) for p in s["points"]
        }
        for s in body["series"]
    }


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key, buckets in a.items():
        if buckets.keys() != b[key].keys():
            return False
        for at, x in buckets.items():
            y = b[key][at]
            if x[3] != y[3] or not all(
                math.isclose(p, q, rel_tol=1e-9, abs_tol=1e-6) for p, q in zip(x[:3], y[:3], strict=True)
            ):
                return False
    return True


@pytest.fixture
async def viewer(csms: Csms) -> dict[str, str]:
    return await key_for(csms, Role.VIEWER)


@pytest.fixture
async def station(csms: Csms) -> AsyncIterator[Any]:
    await csms.add_station("CP-H")
    async with station16(csms, "CP-H") as cp:
        await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        yield cp


def _three_hours() -> list[tuple[datetime, str, float, str | None]]:
    rng = random.Random(7)
    samples = []
    for i in range(0, 3 * 3600, 20):
        at = T0 + timedelta(seconds=i)
        samples.append((at, POWER, rng.uniform(0, 22000), None))
        samples.append((at, VOLTAGE, rng.uniform(225, 235), "L1"))
    return samples


async def test_buckets_agree_with_the_raw_samples_before_and_after_aggregation(
    csms: Csms, api: httpx.AsyncClient, viewer: dict[str, str], station: Any
) -> None:
    await send(station, _three_hours())
    raw = await csms.rows("meter_samples", station_id="CP-H")
    assert len(raw) == 2 * 540
    window = {"from": _iso(T0), "to": _iso(T0 + timedelta(hours=3))}
    for resolution, seconds in (("1m", 60), ("15m", 900)):
        # Nothing aggregated yet: the answer folds the raw tail in and is complete all the same.
        before = await api.get(
            "/stations/CP-H/meter-samples", params={**window, "resolution": resolution}, headers=viewer
        )
        assert before.status_code == 200, before.text
        assert before.json()["bucket_seconds"] == seconds
        assert _same(_answered(before.json()), _expected(raw, seconds))
    assert await csms.app.aggregator.catch_up() == len({r["reading_id"] for r in raw})  # readings folded
    assert await csms.app.aggregator.catch_up() == 0  # idempotent: nothing folded twice
    stored = await csms.rows("meter_aggregates", station_id="CP-H", resolution=900)
    assert len(stored) == 2 * 12
    for resolution, seconds in (("1m", 60), ("15m", 900)):
        after = await api.get(
            "/stations/CP-H/meter-samples", params={**window, "resolution": resolution}, headers=viewer
        )
        assert _same(_answered(after.json()), _expected(raw, seconds))
    voltage = await api.get(
        "/stations/CP-H/meter-samples",
        params={**window, "resolution": "15m", "measurand": VOLTAGE, "phase": "L1"},
        headers=viewer,
    )
    (series,) = voltage.json()["series"]
    assert (series["measurand"], series["phase"], series["unit"], len(series["points"])) == (VOLTAGE, "L1", "V", 12)


async def test_a_late_sample_lands_in_its_own_bucket(
    csms: Csms, api: httpx.AsyncClient, viewer: dict[str, str], station: Any
) -> None:
    await send(station, [(T0 + timedelta(seconds=s), POWER, 1000.0, None) for s in (0, 30, 60, 90, 3600)])
    await csms.app.aggregator.catch_up()
    # The station comes back from a long offline spell with an old reading for the first minute.
    await send(station, [(T0 + timedelta(seconds=45), POWER, 7000.0, None)])
    await csms.app.aggregator.catch_up()
    (first,) = [
        r for r in await csms.rows("meter_aggregates", station_id="CP-H", resolution=60) if r["bucket_start"] == T0
    ]
    assert (first["count"], first["min"], first["max"], first["sum"]) == (3, 1000.0, 7000.0, 9000.0)
    assert (first["first_value"], first["last_value"]) == (1000.0, 7000.0)
    answer = await api.get(
        "/stations/CP-H/meter-samples",
        params={"from": _iso(T0), "to": _iso(T0 + timedelta(hours=2)), "resolution": "15m"},
        headers=viewer,
    )
    (series,) = answer.json()["series"]
    assert [(p["t"][:16], p["count"], p["avg"]) for p in series["points"]] == [
        ("2026-11-01T00:00", 5, 2200.0),
        ("2026-11-01T01:00", 1, 1000.0),
    ]


async def test_auto_resolution_follows_the_range(
    csms: Csms, api: httpx.AsyncClient, viewer: dict[str, str], station: Any
) -> None:
    await send(station, [(T0 + timedelta(minutes=m), POWER, float(m), None) for m in range(0, 4 * 24 * 60, 10)])

    async def resolution(hours: float) -> tuple[str, int]:
        params = {"from": _iso(T0), "to": _iso(T0 + timedelta(hours=hours))}
        body = (await api.get("/stations/CP-H/meter-samples", params=params, headers=viewer)).json()
        return body["resolution"], max(len(s["points"]) for s in body["series"])

    assert await resolution(2) == ("raw", 12)
    assert (await resolution(12))[0] == "1m"
    assert (await resolution(72))[0] == "15m"
    assert await resolution(24 * 30) == ("1h", 4 * 24)  # a month: 720 hourly buckets fit the budget, 96 hold data


async def test_bad_ranges_and_names_are_refused_with_422(
    csms: Csms, api: httpx.AsyncClient, viewer: dict[str, str], station: Any
) -> None:
    url = "/stations/CP-H/meter-samples"
    t1 = _iso(T0 + timedelta(hours=1))
    cases = [
        {"from": t1, "to": _iso(T0)},
        {"from": _iso(T0), "to": _iso(T0 + timedelta(days=10)), "resolution": "raw"},
        {"from": _iso(T0), "to": t1, "measurand": "Power;DROP TABLE"},
        {"from": _iso(T0), "to": t1, "phase": "L7"},
        {"from": _iso(T0), "to": t1, "resolution": "5m"},
        {"from": "yesterday", "to": t1},
    ]
    for params in cases:
        response = await api.get(url, params=params, headers=viewer)
        assert response.status_code == 422, (params, response.text)
    assert (await api.get("/stations/NOPE/meter-samples", headers=viewer)).status_code == 404
    assert (await api.get("/transactions/99999/meter-samples", headers=viewer)).status_code == 404


async def test_a_transactions_samples_in_raw_and_buckets(
    csms: Csms, api: httpx.AsyncClient, viewer: dict[str, str], station: Any
) -> None:
    await csms.add_token("CARD")
    start = await station.call(call.StartTransaction(connector_id=1, id_tag="CARD", meter_start=0, timestamp=_iso(T0)))
    tx = start.transaction_id
    values = [
        MeterValue(
            timestamp=_iso(T0 + timedelta(minutes=m)),
            sampled_value=[SampledValue(value=str(1000 * m), measurand="Energy.Active.Import.Register", unit="Wh")],
        )
        for m in range(0, 30, 5)
    ]
    await station.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=values))
    await station.call(
        call.StopTransaction(transaction_id=tx, meter_stop=30000, timestamp=_iso(T0 + timedelta(minutes=30)))
    )
    raw = (await api.get(f"/transactions/{tx}/meter-samples", headers=viewer)).json()
    assert raw["resolution"] == "raw"
    (series,) = raw["series"]
    assert [p["value"] for p in series["points"]] == [0, 5000, 10000, 15000, 20000, 25000]
    quarter = (await api.get(f"/transactions/{tx}/meter-samples?resolution=15m", headers=viewer)).json()
    (series,) = quarter["series"]
    assert [(p["first"], p["last"], p["count"]) for p in series["points"]] == [(0, 10000, 3), (15000, 25000, 3)]
    detail = (await api.get(f"/transactions/{tx}", headers=viewer)).json()  # the old answer is unchanged
    assert len(detail["samples"]) == 6


async def test_values_that_are_no_number_are_left_out_alike_before_and_after_aggregation(
    csms: Csms, api: httpx.AsyncClient, viewer: dict[str, str], station: Any
) -> None:
    """A 1.6 value is text: "NaN" and "1e400" parse, but are no reading. Every answer leaves them out the same way."""
    texts = ("NaN", "1e400", "-inf", "5")
    readings = [SampledValue(value=text, measurand=POWER, unit="W") for text in texts]
    await station.call(
        call.MeterValues(connector_id=1, meter_value=[MeterValue(timestamp=_iso(T0), sampled_value=readings)])
    )
    window = {"from": _iso(T0), "to": _iso(T0 + timedelta(hours=1))}

    async def answers() -> tuple[Any, Any]:
        raw = await api.get("/stations/CP-H/meter-samples", params={**window, "resolution": "raw"}, headers=viewer)
        minute = await api.get("/stations/CP-H/meter-samples", params={**window, "resolution": "1m"}, headers=viewer)
        assert raw.status_code == minute.status_code == 200
        ((raw_point,),) = [series["points"] for series in raw.json()["series"]]
        ((bucket,),) = [series["points"] for series in minute.json()["series"]]
        return raw_point["value"], (bucket["count"], bucket["min"], bucket["avg"], bucket["max"])

    assert await answers() == (5.0, (1, 5.0, 5.0, 5.0))  # from the raw samples the aggregator has not folded yet
    await csms.app.aggregator.catch_up()
    assert await answers() == (5.0, (1, 5.0, 5.0, 5.0))  # from the stored buckets
