"""Station files end to end: an operator asks through the REST API, a simulated station of each version uploads over
real HTTP, the file lands in the store and downloads byte-identical; bad tokens and over-size uploads keep nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from evscada.core.access.users import Role
from evscada.simulator.fleet import run_station
from evscada.simulator.station import SimulatedStation, StationSpec, cancel_quietly
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.simulator.helpers import QUIET, ready
from tests.support import Csms, eventually

SID = "SIM-FILES"
KIB = 1024
MOVING = ("accepted", "uploading", "uploaded", "received")  # a request the station accepted


@dataclass
class Rig:
    csms: Csms
    station: SimulatedStation
    operator: httpx.AsyncClient
    viewer: httpx.AsyncClient
    folder: Path

    def stored(self) -> list[Path]:
        """What the file store's folder holds (partial writes included: there must be none)."""
        return sorted(self.folder.iterdir()) if self.folder.exists() else []

    async def rows(self) -> list[dict[str, Any]]:
        return await self.csms.rows("station_files")

    async def request(self, request_id: int) -> dict[str, Any]:
        answer = await self.viewer.get(f"/file-requests/{request_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def settled(self, request_id: int, *statuses: str) -> dict[str, Any]:
        """The request once it reached one of these statuses (the station reports after it answered)."""

        async def check() -> dict[str, Any] | None:
            found = await self.request(request_id)
            return found if found["status"] in statuses else None

        found = await eventually(check, timeout=10)
        assert found, f"request {request_id} never reached {statuses}: {await self.request(request_id)}"
        return found


@contextlib.asynccontextmanager
async def rig(database_url: str, tmp_path: Path, version: str, **files: Any) -> AsyncIterator[Rig]:
    folder = tmp_path / "files"
    settings = test_settings(database_url, files={"folder": str(folder), "max_upload_bytes": 512 * KIB, **files})
    async with contextlib.aclosing(start_csms(settings)) as running:  # type: ignore[type-var]  # a generator
        csms = await anext(running)
        await csms.add_station(SID)
        station = SimulatedStation(StationSpec(station_id=SID, version=version, connectors=2), None, QUIET)
        task = asyncio.create_task(run_station(csms.url(SID).rsplit("/", 1)[0], station))
        assert csms.app.http is not None
        base = f"http://127.0.0.1:{csms.app.http.port}/api/v1"
        try:
            assert await eventually(lambda: ready(csms, SID), timeout=15), "the simulated station never booted"
            async with (
                httpx.AsyncClient(base_url=base, headers=await key_for(csms, Role.OPERATOR), timeout=10) as operator,
                httpx.AsyncClient(base_url=base, headers=await key_for(csms, Role.VIEWER), timeout=10) as viewer,
            ):
                yield Rig(csms, station, operator, viewer, folder)
        finally:
            await cancel_quietly(task)


async def _ask(r: Rig, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await r.operator.post(f"/stations/{SID}/{path}", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _downloaded(r: Rig, file_id: int) -> tuple[bytes, httpx.Headers]:
    answer = await r.viewer.get(f"/files/{file_id}/content")
    assert answer.status_code == 200, answer.text
    return answer.content, answer.headers


@pytest.mark.parametrize("log_type", ["DiagnosticsLog", "SecurityLog"])
async def test_a_1_6_diagnostics_and_log_upload_land_in_the_store_and_download_byte_identical(
    database_url: str, tmp_path: Path, log_type: str
) -> None:
    async with rig(database_url, tmp_path, "1.6") as r:
        diagnostics = await _ask(r, "diagnostics", {"reason": "support ticket 42"})
        assert diagnostics["command"]["command"] == "get_diagnostics"
        assert diagnostics["request"]["status"] in MOVING  # the station may report before its answer is kept
        assert diagnostics["request"]["filename"].startswith(f"{SID}-diagnostics-")  # the station's fileName
        received = await r.settled(diagnostics["request"]["id"], "received")

        log = await _ask(r, "logs", {"log_type": log_type})
        assert log["command"]["command"] == "get_log"
        log_received = await r.settled(log["request"]["id"], "received")

        sent = {f.filename: f for f in r.station.files.sent}
        listed = (await r.viewer.get("/files", params={"station": SID})).json()
        assert listed["total"] == 2
        by_id = {item["id"]: item for item in listed["items"]}
        for request, kind in ((received, "diagnostics"), (log_received, _kind(log_type))):
            item = by_id[request["file_id"]]
            assert item["kind"] == kind
            assert item["request_id"] == request["id"]
            assert item["command_id"] == request["command_id"]
            original = sent[item["filename"]]
            assert item["sha256"] == original.sha256 and item["size"] == original.size
            content, headers = await _downloaded(r, item["id"])
            assert hashlib.sha256(content).hexdigest() == original.sha256
            assert headers["content-disposition"] == f'attachment; filename="{item["filename"]}"'
        assert len(r.stored()) == 2


async def test_a_2_0_1_log_posted_as_multipart_lands_in_the_store(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, "2.0.1") as r:
        r.station.files.method = "POST"  # multipart/form-data to the location itself
        r.station.files.append_filename = False
        result = await _ask(r, "logs", {"log_type": "SecurityLog", "retries": 2, "retry_interval_s": 30})
        assert result["request"]["status"] in MOVING
        assert result["request"]["filename"].startswith(f"{SID}-SecurityLog-")  # the 2.0.1 answer's filename
        request = await r.settled(result["request"]["id"], "received")
        (original,) = r.station.files.sent
        assert original.status_code == 201
        meta = (await r.viewer.get(f"/files/{request['file_id']}")).json()
        assert meta["kind"] == "security_log" and meta["filename"] == original.filename
        assert meta["content_type"] == "text/plain"
        content, _ = await _downloaded(r, meta["id"])
        assert hashlib.sha256(content).hexdigest() == original.sha256 == meta["sha256"]

        refused = await r.operator.post(f"/stations/{SID}/diagnostics", json={})
        assert refused.status_code == 400
        assert "DiagnosticsLog" in refused.json()["detail"]


async def test_a_wrong_or_used_token_is_refused_and_stores_nothing(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, "1.6") as r:
        result = await _ask(r, "diagnostics", {})
        await r.settled(result["request"]["id"], "received")
        (first,) = r.station.files.sent
        assert len(r.stored()) == 1 and len(await r.rows()) == 1

        async with httpx.AsyncClient(timeout=10) as station_side:
            used = await station_side.put(first.location, content=b"a second file on the same token")
            assert used.status_code == 410, used.text
            assert "used" in used.json()["detail"]
            token = first.location.split("/upload/", 1)[1].split("/", 1)[0]
            wrong = first.location.replace(token, token[:-4] + "AAAA")
            assert (await station_side.put(wrong, content=b"guess")).status_code == 403
            posted = await station_side.post(wrong, files={"file": ("x.log", b"guess", "text/plain")})
            assert posted.status_code == 403
        assert len(r.stored()) == 1 and len(await r.rows()) == 1
        # Whoever reads the command or audit log learns where the upload went, not the token.
        (logged,) = await r.csms.rows("command_log", command="get_diagnostics")
        assert logged["arguments"]["location"] == f"http://127.0.0.1:{r.csms.app.http.port}/..."  # type: ignore[union-attr]
        audited = await r.csms.rows("audit_log", action="command.get_diagnostics")
        assert audited and token not in str(audited) and token not in str(logged)


async def test_an_expired_token_is_refused_and_stores_nothing(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, "1.6", token_lifetime_seconds=0.001) as r:
        result = await _ask(r, "logs", {"log_type": "DiagnosticsLog"})
        request = await r.settled(result["request"]["id"], "upload_failed")
        assert request["station_status"] == "UploadFailure"
        (attempt,) = r.station.files.sent
        assert attempt.status_code == 410
        assert r.stored() == [] and await r.rows() == []
        assert request["file_id"] is None


async def test_an_upload_over_the_size_limit_is_refused_and_the_token_stays_usable(
    database_url: str, tmp_path: Path
) -> None:
    async with rig(database_url, tmp_path, "1.6") as r:
        r.station.files.size = 600 * KIB
        result = await _ask(r, "diagnostics", {})
        failed = await r.settled(result["request"]["id"], "upload_failed")
        assert failed["station_status"] == "UploadFailed"  # the 1.6 DiagnosticsStatusNotification's word
        (attempt,) = r.station.files.sent
        assert attempt.status_code == 413  # refused on its Content-Length
        assert r.stored() == [] and await r.rows() == []

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while streamed
            for _ in range(600):
                yield b"x" * KIB

        async with httpx.AsyncClient(timeout=10) as station_side:
            streamed = await station_side.put(attempt.location, content=chunked())
            assert streamed.status_code == 413, streamed.text
            assert r.stored() == [] and await r.rows() == []
            # A refused upload does not use the token: the station's retry within the limit is kept.
            retry = await station_side.put(attempt.location, content=b"diagnostics, smaller")
            assert retry.status_code == 201, retry.text
        (row,) = await r.rows()
        assert row["sha256"] == hashlib.sha256(b"diagnostics, smaller").hexdigest()


async def test_retention_deletes_the_oldest_files_over_the_size_limit(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, "1.6", retention_max_total_bytes=1024 * KIB) as r:
        r.station.files.size = 400 * KIB
        ids = []
        for _ in range(3):
            result = await _ask(r, "diagnostics", {})
            ids.append((await r.settled(result["request"]["id"], "received"))["file_id"])
        assert len(r.stored()) == 3

        swept = await r.csms.app.core.files.sweep()
        assert (swept.by_size, swept.freed_bytes) == (1, 400 * KIB)
        assert sorted(row["id"] for row in await r.rows()) == ids[1:]
        assert len(r.stored()) == 2
        assert (await r.viewer.get(f"/files/{ids[0]}")).status_code == 404


async def test_retention_deletes_files_past_their_age(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, "1.6", retention_days=1 / 86_400) as r:  # one second
        result = await _ask(r, "diagnostics", {})
        await r.settled(result["request"]["id"], "received")
        assert (await r.csms.app.core.files.sweep()).by_age == 0  # younger than a second
        await asyncio.sleep(1.1)
        swept = await r.csms.app.core.files.sweep()
        assert (swept.by_age, swept.by_size) == (1, 0)
        assert r.stored() == [] and await r.rows() == []


async def test_operators_delete_files_and_viewers_may_not(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, "1.6") as r:
        result = await _ask(r, "diagnostics", {})
        file_id = (await r.settled(result["request"]["id"], "received"))["file_id"]
        assert (await r.viewer.delete(f"/files/{file_id}")).status_code == 403
        assert len(r.stored()) == 1
        assert (await r.operator.delete(f"/files/{file_id}")).status_code == 204
        assert (await r.viewer.get(f"/files/{file_id}/content")).status_code == 404
        assert r.stored() == [] and await r.rows() == []
        assert (await r.operator.delete(f"/files/{file_id}")).status_code == 404
        audit = await r.csms.rows("audit_log", action="file.delete")
        assert [entry["target_id"] for entry in audit] == [str(file_id)]


async def test_requests_and_listings_refuse_bad_input_clearly(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, "1.6") as r:

        async def problem(answer: httpx.Response) -> str:
            assert answer.status_code == 422, answer.text
            return str(answer.json()["detail"])

        assert "log_type" in await problem(await r.operator.post(f"/stations/{SID}/logs", json={"log_type": "Bogus"}))
        backwards = {"oldest": "2026-12-06T10:00:00Z", "latest": "2026-12-06T09:00:00Z"}
        assert "latest must not be before oldest" in await problem(
            await r.operator.post(f"/stations/{SID}/logs", json=backwards)
        )
        naive = {"start_time": "2026-12-06T10:00:00"}
        assert "UTC offset" in await problem(await r.operator.post(f"/stations/{SID}/diagnostics", json=naive))
        assert "retries" in await problem(await r.operator.post(f"/stations/{SID}/diagnostics", json={"retries": -1}))
        assert "kind" in await problem(await r.viewer.get("/files", params={"kind": "firmware"}))
        assert "limit" in await problem(await r.viewer.get("/files", params={"limit": 0}))
        assert "file_id" in await problem(await r.viewer.get("/files/0"))
        assert (await r.viewer.post(f"/stations/{SID}/diagnostics", json={})).status_code == 403
        assert (await r.operator.post("/stations/NO-SUCH/diagnostics", json={})).status_code == 404

        await r.csms.add_station("SIM-OFFLINE")
        offline = await r.operator.post("/stations/SIM-OFFLINE/logs", json={})
        assert offline.status_code == 409
        assert offline.json()["detail"]["outcome"] == "offline"
        assert await r.csms.rows("file_requests", station_id="SIM-OFFLINE", status="not_sent")


def _kind(log_type: str) -> str:
    return "diagnostics_log" if log_type == "DiagnosticsLog" else "security_log"
