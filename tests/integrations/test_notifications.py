"""Alarm notifications end to end: alarm events on the bus of a running CSMS reach a real SMTP server and a real
HTTP receiver, with grouping, rate limits, escalation, retries and the delivery log."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from evscada.app import Application
from evscada.core.access.users import Role
from evscada.core.events import AlarmChanged
from evscada.core.model import Alarm, AlarmState, SiteId, StationId
from evscada.integrations import signing
from evscada.security.certificates import make_dev_certificate
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.outside_parties import HttpReceiver, SmtpSink, free_port, make_alarm
from tests.support import Csms, eventually

SECRET = "s3cret-for-hooks"


def config(smtp_port: int, receiver: HttpReceiver | None = None, **overrides: Any) -> dict[str, Any]:
    """Alice is on duty (her week began yesterday), Bob is next; 'ops' is a system taking signed webhooks."""
    people: list[dict[str, Any]] = [
        {"name": "alice", "email": "alice@example.org"},
        {"name": "bob", "email": "bob@example.org"},
        {"name": "carol", "email": "carol@example.org"},
    ]
    if receiver is not None:
        people.append({"name": "ops", "webhook": receiver.url("hook")})
    start = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    return {
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "from_address": "scada@example.org"},
        "webhook_secret": SECRET,
        "people": people,
        "on_call": {"rotation": ["alice", "bob"], "rotation_start": start.isoformat()},
        "routes": [{"priorities": [1], "to": ["on_call", *(["ops"] if receiver else [])]}],
        "group_window_seconds": 0.2,
        "retry_initial_seconds": 0.2,
        "retry_max_seconds": 0.5,
        **overrides,
    }


@contextlib.asynccontextmanager
async def running(database_url: str, notifications: dict[str, Any]) -> AsyncIterator[Csms]:
    started = start_csms(test_settings(database_url, notifications=notifications))
    csms = await anext(started)
    try:
        yield csms
    finally:
        await started.aclose()


def raise_(csms: Csms, alarm: Alarm, change: str = "raised") -> None:
    csms.app.bus.publish(
        AlarmChanged(station_id=alarm.station_id or StationId(""), at=alarm.raised_at, change=change, alarm=alarm)
    )


async def log(csms: Csms, **filters: Any) -> list[dict[str, Any]]:
    rows = await csms.rows("notification_deliveries", **filters)
    return sorted(rows, key=lambda r: r["id"])


async def test_a_critical_alarm_mails_the_on_duty_person_and_posts_a_signed_webhook(
    database_url: str, smtp: SmtpSink, receiver: HttpReceiver
) -> None:
    async with running(database_url, config(smtp.port, receiver)) as csms:
        await csms.add_station("CP-1")
        raise_(csms, make_alarm(7, "CP-1", message="Ground fault on connector 1"))
        assert await eventually(lambda: _async(smtp.to("alice@example.org") and receiver.at("hook")), timeout=15)

        (mail,) = smtp.messages
        assert mail["To"] == "alice@example.org" and mail["From"] == "scada@example.org"
        assert mail["Subject"] == "[P1] CP-1 EVSE 1: Ground fault on connector 1"
        assert "#7" in mail.get_content()

        (hook,) = receiver.at("hook")
        timestamp = int(hook.headers[signing.TIMESTAMP_HEADER.lower()])
        assert signing.verify(SECRET, timestamp, hook.body, hook.headers[signing.SIGNATURE_HEADER.lower()])
        assert not signing.verify("wrong secret", timestamp, hook.body, hook.headers[signing.SIGNATURE_HEADER.lower()])
        body = hook.json()
        assert body["recipient"] == "ops" and [a["id"] for a in body["alarms"]] == [7]
        assert body["alarms"][0]["station_id"] == "CP-1" and body["alarms"][0]["priority"] == 1

        rows = await eventually(lambda: _sent(csms, 2))
        assert {(r["recipient"], r["channel"], r["status"], r["attempts"]) for r in rows} == {
            ("alice", "email", "sent", 1),
            ("ops", "webhook", "sent", 1),
        }


async def test_acknowledging_stops_escalation_and_an_unacknowledged_alarm_escalates(
    sqlite_url: str, smtp: SmtpSink
) -> None:
    escalation = {"levels": [{"after_minutes": 0.02, "to": ["on_call:next"]}, {"after_minutes": 0.04, "to": ["carol"]}]}
    async with running(sqlite_url, config(smtp.port, escalation=escalation)) as csms:
        for sid in ("CP-1", "CP-2"):
            await csms.add_station(sid)
        acknowledged, ignored = make_alarm(1, "CP-1"), make_alarm(2, "CP-2", message="Emergency stop pressed")
        raise_(csms, acknowledged)
        raise_(csms, ignored)
        assert await eventually(lambda: _async(len(smtp.to("alice@example.org")) == 1))
        acknowledged.acknowledged_at, acknowledged.acknowledged_by = datetime.now(UTC), "operator"
        raise_(csms, acknowledged, "acknowledged")

        # Level 1 (after 1.2 s) goes to the next in the rotation, level 2 (after 2.4 s) to Carol: for alarm 2 only.
        assert await eventually(lambda: _async(smtp.to("carol@example.org")), timeout=8)
        (to_bob,) = smtp.to("bob@example.org")
        (to_carol,) = smtp.to("carol@example.org")
        for mail in (to_bob, to_carol):
            assert mail["Subject"] == "ESCALATED: [P1] CP-2 EVSE 1: Emergency stop pressed"
            assert "#2" in mail.get_content() and "#1" not in mail.get_content()
        assert "level 2" in to_carol.get_content()

        # Clearing ends the escalation as well: a third alarm cleared early never reaches Bob.
        cleared = make_alarm(3, "CP-1", message="Power loss")
        raise_(csms, cleared)
        await asyncio.sleep(0.5)
        cleared.state = AlarmState.CLEARED
        raise_(csms, cleared, "cleared")
        await asyncio.sleep(2.0)
        escalated = await log(csms, kind="escalation")
        assert sorted({r["recipient"] for r in escalated}) == ["bob", "carol"]
        assert all("#2" in r["body"] for r in escalated)
        assert await csms.rows("notification_escalations") == []


async def test_thirty_alarms_raised_together_make_one_message_per_recipient(
    database_url: str, smtp: SmtpSink, receiver: HttpReceiver
) -> None:
    async with running(database_url, config(smtp.port, receiver, group_window_seconds=1.0)) as csms:
        depot = await csms.app.core.sites.create(name="Depot North")
        for n in range(30):
            sid = StationId(f"BUS-{n:02}")
            await csms.add_station(sid)
            await csms.app.core.sites.place_station(
                station_id=sid, name=None, site_id=depot.id, latitude=None, longitude=None
            )
        for n in range(30):
            raise_(csms, make_alarm(100 + n, f"BUS-{n:02}", source="offline", message="offline for 120 s"))

        assert await eventually(lambda: _async(smtp.messages and receiver.at("hook")), timeout=8)
        await asyncio.sleep(1.5)  # nothing else follows
        (mail,) = smtp.messages
        assert mail["To"] == "alice@example.org"
        assert mail["Subject"] == "[P1] 30 stations offline at site Depot North"
        assert all(f"BUS-{n:02}" in mail.get_content() for n in range(30))
        (hook,) = receiver.at("hook")
        assert sorted(a["id"] for a in hook.json()["alarms"]) == list(range(100, 130))
        rows = await log(csms)
        assert len(rows) == 2 and all(r["status"] == "sent" for r in rows)


async def test_the_rate_limit_folds_excess_messages_into_a_digest(sqlite_url: str, smtp: SmtpSink) -> None:
    limited = config(smtp.port, group_window_seconds=0, rate_limit=2, rate_period_minutes=0.05)  # 2 per 3 s
    async with running(sqlite_url, limited) as csms:
        await csms.add_station("CP-1")
        for n in range(1, 6):
            raise_(csms, make_alarm(n, "CP-1", message=f"fault {n}"))
            await asyncio.sleep(0.1)

        assert await eventually(lambda: _async(len(smtp.messages) == 2))
        held = await eventually(lambda: _status(csms, "held", 3))
        assert len(held) == 3

        assert await eventually(lambda: _async(len(smtp.messages) == 3), timeout=8)
        digest = smtp.messages[2]
        assert digest["Subject"].startswith("Digest: [P1] 3 station_fault alarms")
        assert all(f"fault {n}" in digest.get_content() for n in (3, 4, 5))
        rows = await log(csms)
        (digest_row,) = [r for r in rows if r["kind"] == "digest"]
        assert [r["status"] for r in rows if r["kind"] == "alarm"] == ["sent", "sent", "folded", "folded", "folded"]
        assert all(r["folded_into"] == digest_row["id"] for r in rows if r["status"] == "folded")
        links = await csms.rows("notification_alarms", delivery_id=digest_row["id"])
        assert sorted(link["alarm_id"] for link in links) == [3, 4, 5]


async def test_a_message_waits_while_the_smtp_server_is_down_and_survives_a_restart(database_url: str) -> None:
    smtp = SmtpSink(free_port())  # not started yet: connections are refused
    settings = config(smtp.port, group_window_seconds=0)
    async with running(database_url, settings) as csms:
        await csms.add_station("CP-1")
        raise_(csms, make_alarm(9, "CP-1"))
        pending = await eventually(lambda: _attempted(csms, 2))
        assert pending[0]["status"] == "pending" and "SMTP" in pending[0]["last_error"]

    smtp.start()
    try:
        async with Application(test_settings(database_url, notifications=settings)) as app:
            restarted = Csms(app)
            (row,) = await eventually(lambda: _sent(restarted, 1), timeout=8)
            assert row["attempts"] >= 3 and row["last_error"] is None
        (mail,) = smtp.messages
        assert mail["To"] == "alice@example.org" and "#9" in mail.get_content()
    finally:
        smtp.stop()


async def test_suppressed_and_shelved_alarms_are_not_sent(
    database_url: str, smtp: SmtpSink, receiver: HttpReceiver
) -> None:
    async with running(database_url, config(smtp.port, receiver)) as csms:
        await csms.add_station("CP-1")
        raise_(csms, make_alarm(1, "CP-1", suppressed=True, message="in maintenance"))
        raise_(csms, make_alarm(2, "CP-1", message="shelved", shelved_until=datetime.now(UTC) + timedelta(hours=1)))
        raise_(csms, make_alarm(3, "CP-1", message="real fault"))
        assert await eventually(lambda: _sent(csms, 2))
        await asyncio.sleep(0.5)
        rows = await log(csms)
        assert len(rows) == 2
        (mail,) = smtp.messages
        assert "real fault" in mail["Subject"]
        assert [a["id"] for a in receiver.at("hook")[0].json()["alarms"]] == [3]

        # Taken off the shelf while it still stands, the shelved alarm is announced after all.
        raise_(csms, make_alarm(2, "CP-1", message="shelved"), "unshelved")
        assert await eventually(lambda: _sent(csms, 4))
        assert "shelved" in smtp.messages[1]["Subject"]


async def test_alarms_are_routed_by_site_and_priority(database_url: str, smtp: SmtpSink) -> None:
    routes = [
        {"priorities": [1, 2], "sites": ["Depot"], "to": ["alice"]},  # by name
        {"priorities": [3, 4], "to": ["bob"]},
        {"sites": [2], "to": ["carol"]},  # by id: the second site made in a fresh database
    ]
    async with running(database_url, config(smtp.port, routes=routes, group_window_seconds=0)) as csms:
        depot = await csms.app.core.sites.create(name="Depot")
        garage = await csms.app.core.sites.create(name="Garage")
        assert garage.id == SiteId(2)
        for sid, site in (("D-1", depot.id), ("G-1", garage.id), ("X-1", None)):
            await csms.add_station(sid)
            await csms.app.core.sites.place_station(
                station_id=StationId(sid), name=None, site_id=site, latitude=None, longitude=None
            )
        cases = {
            1: ("D-1", 1, {"alice"}),
            2: ("D-1", 3, {"bob"}),
            3: ("G-1", 2, {"carol"}),
            4: ("G-1", 4, {"bob", "carol"}),
            5: ("X-1", 2, set()),
        }
        for alarm_id, (sid, priority, _) in cases.items():
            raise_(csms, make_alarm(alarm_id, sid, priority=priority))
        assert await eventually(lambda: _sent(csms, 5))
        rows = await log(csms)
        for alarm_id, (_, _, expected) in cases.items():
            got = {r["recipient"] for r in rows if f"#{alarm_id}" in r["body"]}
            assert got == expected, alarm_id


async def test_the_on_call_route_reaches_who_is_on_duty_at_the_injected_time(sqlite_url: str, smtp: SmtpSink) -> None:
    class Fixed:
        def __init__(self, at: datetime) -> None:
            self.at = at

        def now(self) -> datetime:
            return self.at

    on_call = {
        "time_zone": "Europe/Berlin",
        "rotation": ["alice", "bob"],
        "rotation_start": "2026-01-05T08:00:00",  # a Monday
        "shifts": [{"person": "carol", "days": ["sat", "sun"], "from": "20:00", "to": "06:00"}],
    }
    settings = test_settings(sqlite_url, notifications=config(smtp.port, on_call=on_call, group_window_seconds=0))
    # Saturday 10 January 2026, 21:30 in Berlin (20:30 UTC): Carol's weekend night shift.
    clock = Fixed(datetime(2026, 1, 10, 20, 30, tzinfo=UTC))
    async with Application(settings, clock=clock) as app:
        csms = Csms(app)
        await csms.add_station("CP-1")
        raise_(csms, make_alarm(1, "CP-1", raised_at=clock.at))
        assert await eventually(lambda: _sent(csms, 1))
        clock.at = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # Tuesday of the second week: Bob
        raise_(csms, make_alarm(2, "CP-1", raised_at=clock.at))
        assert await eventually(lambda: _sent(csms, 2))
    assert [m["To"] for m in smtp.messages] == ["carol@example.org", "bob@example.org"]


async def test_an_sms_gateway_gets_its_template_filled_and_safely_escaped(
    sqlite_url: str, smtp: SmtpSink, receiver: HttpReceiver
) -> None:
    template = '{"to": "{{phone}}", "message": "{{text}}", "meta": {"count": "{{count}}", "who": "{{name}}"}}'
    settings = config(
        smtp.port,
        people=[{"name": "dave", "phone": "+49 170 1234567"}],
        routes=[{"to": ["dave"]}],
        on_call={},
        sms={"url": receiver.url("sms"), "headers": {"Authorization": "Bearer gw-token"}, "body_template": template},
    )
    async with running(sqlite_url, settings) as csms:
        await csms.add_station("CP-1")
        tricky = 'Fault "GroundFailure" \\ on line 2\n}, "injected": true'
        raise_(csms, make_alarm(5, "CP-1", priority=2, message=tricky))
        assert await eventually(lambda: _async(receiver.at("sms")))
        (request,) = receiver.at("sms")
        assert request.headers["authorization"] == "Bearer gw-token"
        assert request.json() == {
            "to": "+49 170 1234567",
            "message": "[P2] CP-1 EVSE 1: " + tricky.replace("\n", " "),
            "meta": {"count": "1", "who": "dave"},
        }


async def test_the_delivery_log_and_test_messages_over_the_api(
    database_url: str, smtp: SmtpSink, receiver: HttpReceiver
) -> None:
    async with running(database_url, config(smtp.port, receiver)) as csms:
        assert csms.app.http is not None
        base = f"http://127.0.0.1:{csms.app.http.port}/api/v1"
        admin = await key_for(csms, Role.ADMIN)
        operator = await key_for(csms, Role.OPERATOR)
        viewer = await key_for(csms, Role.VIEWER)
        async with httpx.AsyncClient(base_url=base, timeout=10) as api:
            answer = await api.post("/notifications/test", json={"recipient": "alice"}, headers=admin)
            assert answer.status_code == 202, answer.text
            assert [(d["recipient"], d["channel"], d["kind"]) for d in answer.json()] == [("alice", "email", "test")]
            assert await eventually(lambda: _async(smtp.to("alice@example.org")))
            assert smtp.messages[0]["Subject"] == "evscada test message"

            answer = await api.post(
                "/notifications/test", json={"recipient": "ops", "channel": "webhook"}, headers=admin
            )
            assert answer.status_code == 202
            assert await eventually(lambda: _async(receiver.at("hook")))

            assert (await api.post("/notifications/test", json={"recipient": "zed"}, headers=admin)).status_code == 404
            no_sms = await api.post("/notifications/test", json={"recipient": "alice", "channel": "sms"}, headers=admin)
            assert no_sms.status_code == 422 and "sms" in no_sms.json()["detail"]
            bad = await api.post("/notifications/test", json={"recipient": "alice", "channel": "fax"}, headers=admin)
            assert bad.status_code == 422
            assert (
                await api.post("/notifications/test", json={"recipient": "alice"}, headers=operator)
            ).status_code == 403

            await csms.add_station("CP-1")
            raise_(csms, make_alarm(42, "CP-1"))
            assert await eventually(lambda: _sent(csms, 4))
            listed = (await api.get("/notifications", headers=operator)).json()
            assert len(listed) == 4 and listed[0]["id"] > listed[-1]["id"]  # newest first
            for_alarm = (await api.get("/notifications", params={"alarm_id": 42}, headers=operator)).json()
            assert {(d["recipient"], d["status"], tuple(d["alarm_ids"])) for d in for_alarm} == {
                ("alice", "sent", (42,)),
                ("ops", "sent", (42,)),
            }
            emails = (
                await api.get("/notifications", params={"channel": "email", "recipient": "alice"}, headers=operator)
            ).json()
            assert [d["kind"] for d in emails] == ["alarm", "test"]
            future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            assert (await api.get("/notifications", params={"since": future}, headers=operator)).json() == []
            assert (await api.get("/notifications", params={"status": "bogus"}, headers=operator)).status_code == 422
            assert (await api.get("/notifications", headers=viewer)).status_code == 403


async def _async(value: Any) -> Any:
    return value


async def _sent(csms: Csms, count: int) -> list[dict[str, Any]] | None:
    rows = await log(csms, status="sent")
    return rows if len(rows) >= count else None


async def _status(csms: Csms, status: str, count: int) -> list[dict[str, Any]] | None:
    rows = await log(csms, status=status)
    return rows if len(rows) >= count else None


async def _attempted(csms: Csms, attempts: int) -> list[dict[str, Any]] | None:
    rows = [r for r in await log(csms) if r["attempts"] >= attempts]
    return rows or None


def _logins(user: str, password: str) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok)

    return check


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_mail_goes_over_tls_with_a_login_and_a_wrong_password_is_retried(
    sqlite_url: str, tmp_path: Path, security: str
) -> None:
    cert = make_dev_certificate(tmp_path / "smtp", ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert_file, cert.key_file)
    tls = {"ssl_context": context} if security == "tls" else {"tls_context": context, "require_starttls": True}
    # aiosmtpd only knows STARTTLS as TLS: with implicit TLS it would not offer AUTH if told to require TLS.
    smtp = SmtpSink(**tls, authenticator=_logins("evscada", "right"), auth_require_tls=security == "starttls")
    smtp.start()
    try:
        for password, alarm_id in (("wrong", 1), ("right", 2)):
            server = {
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": security,
                "username": "evscada",
                "password": password,
                "ca_file": str(cert.cert_file),
                "timeout": 2,  # aiosmtpd leaves a refused login unanswered: the client's timeout ends the attempt
            }
            async with running(sqlite_url, config(smtp.port, smtp=server, group_window_seconds=0)) as csms:
                raise_(csms, make_alarm(alarm_id, "CP-1"))
                if password == "wrong":
                    (row,) = await eventually(lambda: _attempted(csms, 1), timeout=8)
                    assert row["status"] == "pending" and "SMTP" in row["last_error"], row
                    assert smtp.messages == []
                else:
                    # The restarted notifier with the right password sends the waiting message and the new one.
                    assert await eventually(lambda: _sent(csms, 2), timeout=8), [
                        (r["status"], r["last_error"]) for r in await log(csms)
                    ]
        assert sorted("#1" in m.get_content() for m in smtp.messages) == [False, True]
    finally:
        smtp.stop()
