"""The export loops the docs give billing systems, run as written with bash and curl against a running server: over
several pages, and again later from the cursor they saved, every transaction arrives once (issue 17: 13)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from evscada.core.access.users import Role
from evscada.core.charging.queries import ExportCursor
from evscada.storage import tables as t
from tests.support import Csms

DOCS = Path(__file__).parents[2] / "docs"
PAGE = 1000  # the export's default limit, and the one the loops ask for
# Ended long enough ago that the export's settle time does not hold them back.
LONG_AGO = datetime.now(UTC) - timedelta(hours=1)


def documented_loops() -> dict[str, str]:
    """Every shell block of the docs that pages through the export, by the file it is in."""
    loops = {}
    for page in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.DOTALL):
            if "/transactions/export" in block and "while" in block:
                loops[page.name] = block
    return loops


LOOPS = documented_loops()


def test_the_guides_have_their_export_loops() -> None:
    assert {"integration.md", "api.md"} <= set(LOOPS)


async def _ended_transactions(csms: Csms, first: int, count: int) -> None:
    """Rows straight into the table, some sharing a change time (the cursor must tell them apart by id)."""
    rows = [
        {
            "station_id": "CP-LOOP",
            "station_transaction_id": str(n),
            "state": "ended",
            "id_token": f"CARD-{n}",
            "meter_start": 0.0,
            "meter_stop": 1000.0,
            "created_at": LONG_AGO,
            "updated_at": LONG_AGO + timedelta(microseconds=n // 3),
        }
        for n in range(first, first + count)
    ]
    async with csms.app.database.transaction() as connection:
        await connection.execute(insert(t.transactions), rows)


async def _run_loop(csms: Csms, key: str, loop: str, workdir: Path) -> None:
    assert csms.app.http is not None
    base = f"http://127.0.0.1:{csms.app.http.port}"
    # What the docs tell the reader to set (their key, the address, their own import), all of it into sessions.jsonl.
    script = (
        f"BILLING={key}\nKEY={key}\nAPI={base}/api/v1\n"
        'import-into-billing() { cat "$1" >> sessions.jsonl; }\n' + loop.replace("http://localhost:8080", base)
    )
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", script, cwd=workdir, env={"PATH": os.environ["PATH"]}, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, errors.decode()


def _exported(workdir: Path) -> list[str]:
    return [json.loads(line)["id_token"] for line in (workdir / "sessions.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("doc", sorted(LOOPS))
async def test_a_documented_export_loop_brings_every_transaction_once(csms: Csms, tmp_path: Path, doc: str) -> None:
    await csms.app.core.access.add_user(username="billing", role=Role.VIEWER)
    key = await csms.app.core.access.create_api_key(username="billing", name="billing-system")
    await _ended_transactions(csms, 0, 2 * PAGE + 50)
    await _run_loop(csms, key, LOOPS[doc], tmp_path)
    first_run = _exported(tmp_path)
    assert sorted(first_run) == sorted(f"CARD-{n}" for n in range(2 * PAGE + 50))

    saved = tmp_path / "billing.cursor"
    if saved.exists():  # later, the next run goes on from the cursor it saved
        assert re.fullmatch(r"[A-Za-z0-9_-]+\n", saved.read_text())  # nothing to URL-encode
        await _ended_transactions(csms, 2 * PAGE + 50, 5)
        await _run_loop(csms, key, LOOPS[doc], tmp_path)
        assert _exported(tmp_path)[len(first_run) :] == [f"CARD-{n}" for n in range(2 * PAGE + 50, 2 * PAGE + 55)]


@pytest.mark.parametrize("legacy", ["2026-12-07T10:00:00.123456+00:00~42", "2026-12-07T10:00:00.123456 00:00~42"])
def test_a_cursor_of_an_earlier_version_still_reads(legacy: str) -> None:
    """Cursors issued before they were opaque, also with their '+' pasted unencoded into a URL (a space)."""
    cursor = ExportCursor.decode(legacy)
    assert (cursor.updated_at, cursor.pk) == (datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC), 42)
    assert ExportCursor.decode(cursor.encode()) == cursor
