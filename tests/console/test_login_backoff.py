"""Repeated wrong console log-ins are refused at once, without a password hash, and only for a while."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from evscada.app import Application
from evscada.console.config import LoginBackOffSettings
from evscada.core.access.logins import LOGIN_BURST, LoginBackOff
from evscada.security.passwords import Argon2Hasher
from tests.console.conftest import PASSWORD, add_users, console_settings, http
from tests.support import Csms, eventually

ATTACKER = {"X-Forwarded-For": "198.51.100.7"}  # uvicorn takes the client's address from a proxy on 127.0.0.1
USER_AT_HOME = {"X-Forwarded-For": "203.0.113.9"}


class MovableClock:
    """Real time, plus whatever the test skips ahead."""

    def __init__(self) -> None:
        self.skipped = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.skipped

    def advance(self, seconds: float) -> None:
        self.skipped += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password checked with argon2, by the password tried."""
    checked: list[str] = []
    verify = Argon2Hasher.verify

    async def counting(self: Argon2Hasher, password_hash: str, password: str) -> bool:
        checked.append(password)
        return await verify(self, password_hash, password)

    monkeypatch.setattr(Argon2Hasher, "verify", counting)
    return checked


@pytest.fixture
async def csms(sqlite_url: str, clock: MovableClock) -> AsyncIterator[Csms]:
    """A CSMS whose log-ins back off after 5 failures of a name at an address, or 8 from an address."""
    backoff = {"failures": 5, "address_failures": 8, "first_seconds": 30, "user_max_seconds": 120}
    app = Application(console_settings(sqlite_url, login_backoff=backoff), clock=clock)
    await app.database.migrate()
    async with app:
        csms = Csms(app)
        await add_users(csms)
        yield csms


LogIn = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
async def log_in(csms: Csms) -> AsyncIterator[LogIn]:
    async with http(csms) as client:

        async def post(username: str, password: str, headers: dict[str, str]) -> httpx.Response:
            client.cookies.clear()
            return await client.post("/login", data={"username": username, "password": password}, headers=headers)

        yield post


async def test_wrong_passwords_back_off_without_hashing_then_the_right_one_gets_in(
    csms: Csms, log_in: LogIn, clock: MovableClock, verifications: list[str]
) -> None:
    for _ in range(5):
        assert (await log_in("operator", "guess", ATTACKER)).status_code == 401
    assert len(verifications) == 5

    refused = [await log_in("operator", "guess", ATTACKER) for _ in range(40)]
    refused.append(await log_in("operator", PASSWORD, ATTACKER))  # even the right password waits its turn

    assert {answer.status_code for answer in refused} == {429}
    said = re.search(r"too many failed log-ins; try again in (\d+) s", refused[-1].text)
    assert said and said.group(1) == refused[-1].headers["retry-after"]
    assert 25 <= int(said.group(1)) <= 30
    assert len(verifications) == 5  # not one more argon2 round
    alarms = await eventually_rows(csms, "alarms", source="security")
    assert [(a["key"], a["count"], a["station_id"]) for a in alarms] == [(f"security::{LOGIN_BURST}", 1, "")]
    assert "operator" in alarms[0]["message"] and "198.51.100.7" in alarms[0]["message"]

    clock.advance(30)
    assert (await log_in("operator", PASSWORD, ATTACKER)).status_code == 303
    assert (await log_in("operator", "guess", ATTACKER)).status_code == 401  # the success reset the count


async def test_the_wait_doubles_up_to_its_cap_and_never_locks_out(
    csms: Csms, log_in: LogIn, clock: MovableClock
) -> None:
    for _ in range(5):
        await log_in("viewer", "guess", ATTACKER)
    waits = []
    for _ in range(3):
        answer = await log_in("viewer", "guess", ATTACKER)
        waits.append(int(answer.headers["retry-after"]))
        clock.advance(waits[-1])
        assert (await log_in("viewer", "guess", ATTACKER)).status_code == 401  # tried, failed: a longer wait
    assert about(waits, [30, 60, 120])
    capped = await log_in("viewer", PASSWORD, ATTACKER)
    assert about([int(capped.headers["retry-after"])], [120])
    clock.advance(120)
    assert (await log_in("viewer", PASSWORD, ATTACKER)).status_code == 303


async def test_an_attacker_elsewhere_does_not_lock_the_user_out(csms: Csms, log_in: LogIn) -> None:
    for _ in range(6):
        await log_in("admin", "guess", ATTACKER)
    assert (await log_in("admin", PASSWORD, ATTACKER)).status_code == 429

    assert (await log_in("admin", PASSWORD, USER_AT_HOME)).status_code == 303


async def test_many_user_names_from_one_address_back_off_the_address(
    csms: Csms, log_in: LogIn, verifications: list[str]
) -> None:
    for n in range(8):
        assert (await log_in(f"user-{n}", "guess", ATTACKER)).status_code == 401

    refused = await log_in("admin", PASSWORD, ATTACKER)

    assert refused.status_code == 429 and len(verifications) == 8
    assert (await log_in("admin", PASSWORD, USER_AT_HOME)).status_code == 303


def about(seconds: list[int], expected: list[int]) -> bool:
    """Equal but for the real time the requests took."""
    return len(seconds) == len(expected) and all(e - 3 <= s <= e for s, e in zip(seconds, expected, strict=True))


async def eventually_rows(csms: Csms, table: str, **where: object) -> list[dict[str, object]]:
    """The rows once some are there (the alarm engine raises from the bus, a moment later)."""

    async def found() -> bool:
        return bool(await csms.rows(table, **where))

    assert await eventually(found, timeout=5), f"no {table} row {where}"
    return await csms.rows(table, **where)


def test_the_settings_defaults_are_the_cores() -> None:
    assert LoginBackOffSettings().rules() == LoginBackOff()
