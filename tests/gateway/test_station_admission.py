"""Who may connect, seen from an attacker's side: unknown station ids raise nothing an operator must acknowledge;
wrong passwords back off instead of costing a hash each, with one alarm per burst; and a station presenting its
right password is never kept out by what others do. Stations and attackers connect from different loopback
addresses (127.0.0.x) over real sockets."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from evscada.core.alarms.service import AlarmFilter
from evscada.core.model import Alarm, AlarmState, StationId
from tests.conftest import start_csms, test_settings
from tests.support import Csms, basic_auth

PASSWORD = "correct-horse-battery-staple"
STATION = "127.0.0.1"  # where the real station connects from
BACKOFF = {"failures": 5, "station_failures": 20, "address_stations": 10, "first_seconds": 30, "max_seconds": 60}


@pytest.fixture
async def csms(sqlite_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(sqlite_url, station_backoff=BACKOFF)):
        yield running


async def _status(csms: Csms, station_id: str, *, address: str, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of a handshake from `address`: 101 when admitted (the socket is closed at once)."""
    try:
        async with connect(
            csms.url(station_id),
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
            local_addr=(address, 0),
            open_timeout=10,
            ping_interval=None,
        ):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def _wrong(csms: Csms, station_id: str, address: str, times: int) -> list[int]:
    guesses = [basic_auth(station_id, f"guess-{n}") for n in range(times)]
    return [await _status(csms, station_id, address=address, headers=headers) for headers in guesses]


async def _right(csms: Csms, station_id: str, address: str = STATION) -> int:
    return await _status(csms, station_id, address=address, headers=basic_auth(station_id, PASSWORD))


async def _security_alarms(csms: Csms, station_id: str) -> list[Alarm]:
    assert csms.app.alarm_engine is not None
    await csms.app.alarm_engine.check()  # every event so far is handled
    where = AlarmFilter(state=AlarmState.ACTIVE, source="security", station_id=StationId(station_id))
    return await csms.app.core.alarms.list(where=where)


def _alarm_kinds(alarms: list[Alarm]) -> dict[str, int]:
    return {alarm.key.rsplit(":", 1)[1]: alarm.count for alarm in alarms}


# ---- unknown station ids -----------------------------------------------------------------------------------------


def _headers(station_id: str) -> list[dict[str, str] | None]:
    """What an unknown station may send: nothing, its id and a password, someone else's, or garbage."""
    return [
        None,
        basic_auth(station_id, "whatever"),
        basic_auth("someone-else", "whatever"),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"x").decode()},
        {"Authorization": "Bearer token"},
    ]


async def test_unknown_station_ids_get_404_whatever_they_send_and_raise_nothing(csms: Csms) -> None:
    sent = 0
    for n in range(50):
        station_id = f"NOBODY-{uuid.uuid4().hex[:8]}"
        for headers in _headers(station_id):
            assert await _status(csms, station_id, address=f"127.0.0.{2 + n % 3}", headers=headers) == 404
            sent += 1
    assert csms.app.alarm_engine is not None
    await csms.app.alarm_engine.check()
    assert await csms.app.core.alarms.list(where=AlarmFilter()) == []
    assert await csms.rows("station_messages") == [] and await csms.rows("stations") == []
    assert csms.app.gateway.refusals["unknown_station"] == sent
    assert csms.app.http is not None
    async with httpx.AsyncClient(timeout=30) as client:
        metrics = (await client.get(f"http://127.0.0.1:{csms.app.http.port}/metrics")).text
    assert f'evscada_ocpp_handshakes_refused_total{{reason="unknown_station"}} {sent}.0' in metrics


# ---- wrong passwords ---------------------------------------------------------------------------------------------


async def test_wrong_passwords_back_off_without_a_check_and_raise_one_alarm_per_burst(csms: Csms) -> None:
    await csms.add_station("CP-1", profile=1, password=PASSWORD)
    statuses = await _wrong(csms, "CP-1", "127.0.0.2", 40)
    assert statuses == [401] * 40
    refusals = csms.app.gateway.refusals
    assert (refusals["authentication_failed"], refusals["backing_off"]) == (5, 35)  # 5 hashes, not 40
    events = [row["payload"]["type"] for row in await csms.rows("station_messages", station_id="CP-1")]
    assert sorted(events) == ["AuthenticationBackOff"] + ["AuthenticationFailed"] * 5
    assert _alarm_kinds(await _security_alarms(csms, "CP-1")) == {"AuthenticationFailed": 5, "AuthenticationBackOff": 1}


async def test_a_refusal_during_back_off_says_when_to_retry(csms: Csms) -> None:
    await csms.add_station("CP-1", profile=1, password=PASSWORD)
    await _wrong(csms, "CP-1", "127.0.0.2", 5)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(csms.url("CP-1"), subprotocols=["ocpp1.6"], local_addr=("127.0.0.2", 0)):  # type: ignore[list-item]
            pass
    response = refused.value.response
    assert response.status_code == 401 and 25 <= int(response.headers["Retry-After"]) <= 30
    assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_the_station_with_its_password_is_admitted_while_another_address_guesses(csms: Csms) -> None:
    await csms.add_station("CP-1", profile=1, password=PASSWORD)
    await _wrong(csms, "CP-1", "127.0.0.2", 10)
    assert await _right(csms, "CP-1") == 101


async def test_the_station_with_its_password_is_admitted_while_many_addresses_guess(csms: Csms) -> None:
    """A botnet: each address fails once, so only the station as a whole can back off; the station's own address
    has not failed, so it is checked at once. Each address that failed waits once the station backs off."""
    await csms.add_station("CP-1", profile=1, password=PASSWORD)
    for n in range(2, 27):  # 25 addresses, one guess each: past station_failures (20)
        assert await _wrong(csms, "CP-1", f"127.0.0.{n}", 1) == [401]
    before = csms.app.gateway.refusals["authentication_failed"]
    assert await _wrong(csms, "CP-1", "127.0.0.2", 3) == [401] * 3
    assert csms.app.gateway.refusals["authentication_failed"] == before  # not checked: no hash
    assert await _right(csms, "CP-1") == 101


async def test_a_station_once_admitted_is_admitted_again_from_an_address_under_back_off(csms: Csms) -> None:
    """Behind a reverse proxy or a site's router the station shares the attacker's address; the password it was
    last admitted with is still checked (no hash: the core remembers it)."""
    await csms.add_station("CP-1", profile=1, password=PASSWORD)
    assert await _right(csms, "CP-1") == 101
    await _wrong(csms, "CP-1", STATION, 10)
    assert await _wrong(csms, "CP-1", STATION, 1) == [401]  # backing off ...
    assert await _right(csms, "CP-1") == 101  # ... but not for the right password


async def test_an_address_guessing_many_station_ids_backs_off_for_all_of_them(csms: Csms) -> None:
    for n in range(12):
        await csms.add_station(f"CP-{n}", profile=1, password=PASSWORD)
    for n in range(10):  # one guess at each of 10 stations: address_stations
        assert await _wrong(csms, f"CP-{n}", "127.0.0.9", 1) == [401]
    checked = csms.app.gateway.refusals["authentication_failed"]
    assert await _wrong(csms, "CP-10", "127.0.0.9", 1) == [401]  # a station it never tried: unchecked
    assert csms.app.gateway.refusals["authentication_failed"] == checked
    assert await _right(csms, "CP-10") == 101  # the station itself, from its own address
    assert await _status(csms, "NOBODY", address="127.0.0.9") == 404  # an unknown id is still told so


async def test_one_misconfigured_station_does_not_slow_its_neighbours_behind_the_same_router(csms: Csms) -> None:
    await csms.add_station("CP-WRONG", profile=1, password=PASSWORD)
    await csms.add_station("CP-RIGHT", profile=1, password=PASSWORD)
    await _wrong(csms, "CP-WRONG", "127.0.0.5", 20)
    assert await _right(csms, "CP-RIGHT", "127.0.0.5") == 101


@pytest.fixture
async def csms_short(sqlite_url: str) -> AsyncIterator[Csms]:
    backoff = {**BACKOFF, "first_seconds": 0.3, "max_seconds": 0.3, "wide_max_seconds": 0.3}
    async for running in start_csms(test_settings(sqlite_url, station_backoff=backoff)):
        yield running


async def test_a_back_off_ends_and_the_right_password_is_accepted_from_the_same_address(csms_short: Csms) -> None:
    csms = csms_short
    await csms.add_station("CP-1", profile=1, password=PASSWORD)
    await _wrong(csms, "CP-1", "127.0.0.2", 8)
    await asyncio.sleep(0.4)
    assert await _right(csms, "CP-1", "127.0.0.2") == 101
    assert await _wrong(csms, "CP-1", "127.0.0.2", 1) == [401]  # admitted: its count starts over, it is checked
    assert csms.app.gateway.refusals["authentication_failed"] >= 6
