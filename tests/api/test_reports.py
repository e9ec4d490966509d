"""KPI reports over HTTP: made on demand, listed, read as figures, downloaded as XLSX and PDF; and the schedule across
restarts of the CSMS (a report missed while it was down is made at the next start, and only once)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from evscada.app import Application
from evscada.core.access.users import Role
from evscada.storage import tables as t
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.outside_parties import SmtpSink
from tests.storage.test_kpi_reports import SetClock, build_history, z
from tests.support import Csms, eventually


@pytest.fixture
async def reporting_csms(database_url: str, tmp_path: Path) -> AsyncIterator[Csms]:
    settings = test_settings(database_url, operator_timezone="Europe/Berlin", files={"folder": str(tmp_path / "files")})
    async for csms in start_csms(settings):
        yield csms


@pytest.fixture
async def reporting_api(reporting_csms: Csms) -> AsyncIterator[httpx.AsyncClient]:
    assert reporting_csms.app.http is not None
    base = f"http://127.0.0.1:{reporting_csms.app.http.port}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield client


async def test_make_list_read_and_download(reporting_csms: Csms, reporting_api: httpx.AsyncClient) -> None:
    ids = await build_history(reporting_csms.app.database, "api")
    operator = await key_for(reporting_csms, Role.OPERATOR)
    viewer = await key_for(reporting_csms, Role.VIEWER)
    body = {"kind": "weekly", "day": "2026-03-25", "scope": f"site:{ids['site']}"}

    refused = await reporting_api.post("/reports", json=body, headers=viewer)
    assert refused.status_code == 403

    made = await reporting_api.post("/reports", json=body, headers=operator)
    assert made.status_code == 201, made.text
    report = made.json()
    assert (report["period_start"], report["period_end"]) == ("2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z")
    assert report["title"] == "KPI report week 2026-W13 — site Depot api"
    figures = report["figures"]
    assert figures["energy"]["total_wh"] == 51500.0  # stations A and B; C has no site
    assert figures["sessions"]["count"] == 4 and figures["sessions"]["failed"] == 2
    assert figures["alarms"]["raised"] == 3

    listed = (await reporting_api.get("/reports", headers=viewer)).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == report["id"]
    detail = (await reporting_api.get(f"/reports/{report['id']}", headers=viewer)).json()
    assert detail["figures"]["summary"] == figures["summary"]

    xlsx = await reporting_api.get(f"/reports/{report['id']}.xlsx", headers=viewer)
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(xlsx.content))
    summary = {row[0]: row[1:] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["From"][0] == datetime(2026, 3, 23)
    assert summary["Energy (kWh)"][0] == 51.5
    pdf = await reporting_api.get(f"/reports/{report['id']}.pdf", headers=viewer)
    assert pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "KPI report week 2026-W13" in text and "51.5 kWh delivered in 4 sessions" in text


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"kind": "custom", "scope": "fleet"}, 422, "a custom report needs 'start' and 'end'"),
        ({"kind": "weekly", "scope": "everything"}, 422, "is not a report scope"),
        ({"kind": "weekly", "scope": "group:nope"}, 422, "no station group 'nope'"),
        ({"kind": "weekly", "scope": "site:999999"}, 404, "no site 999999"),
        ({"kind": "monthly", "day": "2099-01-01"}, 422, "has not started yet"),
        (
            {"kind": "custom", "start": "2026-03-02T00:00:00+01:00", "end": "2026-03-01T00:00:00+01:00"},
            422,
            "must be before its end",
        ),
    ],
)
async def test_bad_requests_say_what_to_do(
    reporting_csms: Csms, reporting_api: httpx.AsyncClient, body: dict[str, str], status: int, says: str
) -> None:
    operator = await key_for(reporting_csms, Role.OPERATOR)
    answer = await reporting_api.post("/reports", json=body, headers=operator)
    assert answer.status_code == status, answer.text
    assert says in answer.text
    missing = await reporting_api.get("/reports/4242.pdf", headers=operator)
    assert missing.status_code == 404 and "no report 4242" in missing.text


async def test_a_report_missed_while_down_is_made_once_across_restarts(
    sqlite_url: str, tmp_path: Path, smtp: SmtpSink
) -> None:
    """...and its subscribers (a group of [notifications]) get one e-mail with the summary and the console's link."""
    settings = test_settings(
        sqlite_url,
        http_port=None,
        operator_timezone="Europe/Berlin",
        files={"folder": str(tmp_path / "files")},
        reports={
            "scopes": ["fleet"],
            "monthly": False,
            "subscribers": ["management"],
            "console_url": "https://scada.example.org",
        },
        notifications={
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from_address": "scada@example.org"},
            "people": [{"name": "erin", "email": "erin@example.org"}],
            "groups": [{"name": "management", "members": ["erin"]}],
        },
    )
    clock = SetClock(z("2026-03-23 07:00"))  # Monday 08:00 CET: the schedule starts (a baseline, no report)

    async def runs() -> int:
        async with app.database.transaction() as connection:
            return int((await connection.execute(select(func.count()).select_from(t.report_runs))).scalar_one())

    async def reports() -> list[tuple[str, datetime]]:
        async with app.database.transaction() as connection:
            rows = await connection.execute(select(t.kpi_reports.c.kind, t.kpi_reports.c.period_start))
            return [(r.kind, r.period_start) for r in rows]

    app = Application(settings, clock=clock)
    async with app:
        assert await eventually(lambda: _positive(runs()))
        await build_history(app.database, "restart")
        assert await reports() == []
    # Down over Monday 30 March 06:00 (the week's report time); up again on Tuesday, twice.
    clock.at = z("2026-03-31 09:00")
    for _ in range(2):
        app = Application(settings, clock=clock)
        async with app:
            assert await eventually(lambda: _positive(_count(reports())))
            assert await app.core.reports.run_due() == []
            assert await reports() == [("weekly", z("2026-03-22 23:00"))]  # after the first start and the second
            assert await eventually(lambda: _positive(_mails(smtp)), timeout=10)
    (mail,) = smtp.messages
    assert mail["To"] == "erin@example.org"
    assert mail["Subject"] == "KPI report week 2026-W13 — fleet"
    body = mail.get_content()
    assert "51.5 kWh delivered in 6 sessions" in body
    assert "Download: https://scada.example.org/reports/1" in body


async def _mails(smtp: SmtpSink) -> int:
    return len(smtp.messages)


async def _positive(value: object) -> bool:
    return bool(await value)  # type: ignore[misc]


async def _count(value: object) -> int:
    return len(await value)  # type: ignore[misc]
