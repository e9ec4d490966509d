"""Firmware end to end: an operator uploads an image through the REST API, simulated stations of each version
download it over real HTTP with their update's token, report every step, and boot with the new version; campaigns
over 20 stations halt on failures, resume, complete, and keep to their maintenance window."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from evscada.core.access.users import Role
from evscada.core.firmware.model import CampaignPlan, TargetSelection, TargetState
from evscada.core.model import StationId
from evscada.simulator.fleet import run_station
from evscada.simulator.station import SimulatedStation, StationSpec, cancel_quietly
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.simulator.helpers import QUIET
from tests.support import Csms, eventually

NEW = "2.0.0"
IMAGE = b"EVSCADA-SIM-FIRMWARE 2.0.0\n" + bytes(range(256)) * 64  # the simulator reads its version off line 1
PEM = "-----BEGIN CERTIFICATE-----\n" + base64.b64encode(b"not a real certificate, only shaped like one").decode()
PEM += "\n-----END CERTIFICATE-----"
SIGNATURE = base64.b64encode(b"signature bytes").decode()


@dataclass
class Rig:
    csms: Csms
    stations: dict[str, SimulatedStation]
    operator: httpx.AsyncClient
    viewer: httpx.AsyncClient
    base: str  # http://127.0.0.1:port

    async def upload(self, content: bytes = IMAGE, **query: str) -> dict[str, Any]:
        params = {"name": "Controller", "version": NEW, **query}
        answer = await self.operator.put("/firmware", params=params, content=content)
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def update(self, update_id: int) -> dict[str, Any]:
        answer = await self.viewer.get(f"/firmware-updates/{update_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def settled(self, update_id: int, *statuses: str, timeout: float = 15) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            found = await self.update(update_id)
            return found if found["status"] in statuses else None

        found = await eventually(check, timeout=timeout)
        assert found, f"update {update_id} never reached {statuses}: {await self.update(update_id)}"
        return found

    async def campaign(self, campaign_id: int) -> dict[str, Any]:
        answer = await self.viewer.get(f"/firmware/campaigns/{campaign_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def campaign_until(self, campaign_id: int, status: str, timeout: float = 60) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            found = await self.campaign(campaign_id)
            return found if found["status"] == status else None

        found = await eventually(check, timeout=timeout)
        assert found, f"campaign {campaign_id} never {status}: {await self.campaign(campaign_id)}"
        return found


@contextlib.asynccontextmanager
async def rig(database_url: str, tmp_path: Path, versions: dict[str, str], **firmware: Any) -> AsyncIterator[Rig]:
    settings = test_settings(
        database_url,
        files={"folder": str(tmp_path / "files")},
        firmware={"campaign_interval_seconds": 0.2, **firmware},
    )
    async with contextlib.aclosing(start_csms(settings)) as running:  # type: ignore[type-var]  # a generator
        csms = await anext(running)
        stations: dict[str, SimulatedStation] = {}
        tasks = []
        for sid, version in versions.items():
            await csms.add_station(sid)
            station = SimulatedStation(StationSpec(station_id=sid, version=version, model="AC-22"), None, QUIET)
            station.firmware.install_seconds = 0.01
            stations[sid] = station
            tasks.append(asyncio.create_task(run_station(csms.url(sid).rsplit("/", 1)[0], station)))
        assert csms.app.http is not None
        base = f"http://127.0.0.1:{csms.app.http.port}"

        async def booted() -> bool:
            rows = await csms.rows("stations")
            return sum(r["firmware_version"] == "1.0.0" for r in rows) == len(versions)

        try:
            assert await eventually(booted, timeout=30), "the simulated stations never booted"
            async with (
                httpx.AsyncClient(
                    base_url=f"{base}/api/v1", headers=await key_for(csms, Role.OPERATOR), timeout=10
                ) as operator,
                httpx.AsyncClient(
                    base_url=f"{base}/api/v1", headers=await key_for(csms, Role.VIEWER), timeout=10
                ) as viewer,
            ):
                yield Rig(csms, stations, operator, viewer, base)
        finally:
            for task in tasks:
                await cancel_quietly(task)


async def booted_with(csms: Csms, station_id: str, version: str) -> bool:
    return (await csms.station(station_id))["firmware_version"] == version


@pytest.mark.parametrize(
    ("version", "signed", "words"),
    [
        ("1.6", False, ["Downloading", "Downloaded", "Installing", "Installed"]),
        ("1.6", True, ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]),
        ("2.0.1", False, ["Downloading", "Downloaded", "Installing", "Installed"]),
        ("2.0.1", True, ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]),
    ],
)
async def test_a_station_updates_end_to_end_and_boots_with_the_new_version(
    database_url: str, tmp_path: Path, version: str, signed: bool, words: list[str]
) -> None:
    sid = "SIM-FW"
    async with rig(database_url, tmp_path, {sid: version}) as r:
        image = await r.upload(filename="controller-2.0.0.bin")
        assert image["size"] == len(IMAGE)
        assert image["sha256"] == hashlib.sha256(IMAGE).hexdigest()
        assert image["md5"] == hashlib.md5(IMAGE, usedforsecurity=False).hexdigest()
        if signed:
            answer = await r.operator.put(
                f"/firmware/{image['id']}/signature", json={"signing_certificate": PEM, "signature": SIGNATURE}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["signed"] is True

        answer = await r.operator.post(
            f"/stations/{sid}/firmware-update", json={"image_id": image["id"], "signed": signed, "reason": "CVE fix"}
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["command"]["command"] == "update_firmware"
        assert result["command"]["status"] == "Accepted"
        done = await r.settled(result["update"]["id"], "installed", "failed")
        assert done["status"] == "installed", done
        assert [h["station_status"] for h in done["history"]] == words
        assert done["downloads"] == 1
        assert done["kind"] == ("signed" if signed else "update")

        installed = r.stations[sid].firmware.history[-1]
        assert installed.sha256 == image["sha256"]  # what the station got is what the operator uploaded
        assert await eventually(lambda: booted_with(r.csms, sid, NEW), timeout=15), "never booted with 2.0.0"
        frames = await r.csms.rows("command_log", station_id=sid)
        sent = [f for f in frames if f["command"] == "update_firmware"]
        assert sent and "firmware-download" not in str(sent[0]["arguments"])  # the token stays out of the log


async def test_wrong_and_expired_download_tokens_are_refused(database_url: str, tmp_path: Path) -> None:
    sid = "SIM-FW"
    async with rig(database_url, tmp_path, {sid: "1.6"}, download_token_lifetime_seconds=2.0) as r:
        image = await r.upload()
        r.stations[sid].firmware.fail_download = True  # the station gives up: its token stays valid for a while
        answer = await r.operator.post(f"/stations/{sid}/firmware-update", json={"image_id": image["id"]})
        update = await r.settled(answer.json()["update"]["id"], "failed")
        assert update["station_status"] == "DownloadFailed"
        location = r.stations[sid].firmware.history[-1].location
        token = location.split("/firmware-download/")[1].split("/")[0]

        async with httpx.AsyncClient(timeout=10) as station_http:
            retry = await station_http.get(location)  # a retry within the lifetime works (per request, not per byte)
            assert retry.status_code == 200
            assert retry.content == IMAGE
            assert retry.headers["content-length"] == str(len(IMAGE))

            wrong = await station_http.get(location.replace(token, token[:-2] + "xx"))
            assert wrong.status_code == 403
            assert "unknown firmware download token" in wrong.json()["detail"]

            await asyncio.sleep(2.2)
            expired = await station_http.get(location)
            assert expired.status_code == 410
            assert "expired" in expired.json()["detail"]


async def test_a_campaign_over_20_stations_halts_on_failures_and_resumes_to_completion(
    database_url: str, tmp_path: Path
) -> None:
    versions = {f"SIM-{n:02d}": ("1.6" if n % 2 else "2.0.1") for n in range(20)}
    async with rig(database_url, tmp_path, versions) as r:
        image = await r.upload()
        body = {
            "name": "Spring rollout",
            "image_id": image["id"],
            "target": {"model": "AC-22", "firmware_version": "1.0.0"},
            "pilot_size": 2,
            "batch_size": 6,
            "max_failures": 2,
        }
        answer = await r.operator.post("/firmware/campaigns", json=body)
        assert answer.status_code == 201, answer.text
        campaign = answer.json()
        assert campaign["status"] == "draft"
        assert campaign["total"] == 20
        batches = {s["station_id"]: s["batch"] for s in campaign["stations"]}
        assert sorted(batches.values()).count(0) == 2  # the pilot
        assert max(batches.values()) == 3  # 2 + 6 + 6 + 6
        for sid in ("SIM-02", "SIM-03", "SIM-04"):  # three of batch 1 will fail: one more than allowed
            assert batches[sid] == 1
            r.stations[sid].firmware.fail_install = True

        started = await r.operator.post(f"/firmware/campaigns/{campaign['id']}/start")
        assert started.status_code == 200, started.text
        await r.campaign_until(campaign["id"], "halted")

        async def batch_settled() -> dict[str, Any] | None:  # the rest of batch 1 finishes on its own
            found = await r.campaign(campaign["id"])
            return found if found["counts"]["in_progress"] == 0 else None

        halted = await eventually(batch_settled, timeout=15)
        assert halted, "batch 1 never settled after the halt"
        assert "3 stations failed" in halted["status_reason"]
        states = {s["station_id"]: s["state"] for s in halted["stations"]}
        assert {states[s] for s in ("SIM-02", "SIM-03", "SIM-04")} == {"failed"}
        assert halted["counts"]["pending"] == 12  # batches 2 and 3 never started
        assert halted["counts"]["installed"] == 5  # the pilot and the rest of batch 1
        await asyncio.sleep(0.6)  # a few runner turns: a halted campaign starts nothing
        assert (await r.campaign(campaign["id"]))["counts"]["pending"] == 12

        for station in r.stations.values():
            station.firmware.fail_install = False
        resumed = await r.operator.post(f"/firmware/campaigns/{campaign['id']}/resume", json={"retry_failed": True})
        assert resumed.status_code == 200, resumed.text
        done = await r.campaign_until(campaign["id"], "completed", timeout=90)
        assert done["counts"]["installed"] == 20
        assert done["progress"] == 1.0

        async def all_new() -> bool:
            rows = await r.csms.rows("stations")
            return all(row["firmware_version"] == NEW for row in rows)

        assert await eventually(all_new, timeout=20), "not every station booted with the new firmware"
        again = await r.operator.post(f"/firmware/campaigns/{campaign['id']}/resume")
        assert again.status_code == 409


async def test_a_campaign_starts_nothing_outside_its_maintenance_window(database_url: str, tmp_path: Path) -> None:
    versions = {"SIM-A": "1.6", "SIM-B": "2.0.1"}
    async with rig(database_url, tmp_path, versions) as r:
        image = await r.upload()
        now = datetime.now(UTC)  # the test settings' operator time zone is UTC
        closed = {
            "start": (now + timedelta(hours=2)).strftime("%H:%M"),
            "end": (now + timedelta(hours=3)).strftime("%H:%M"),
        }
        open_ = {
            "start": (now - timedelta(hours=1)).strftime("%H:%M"),
            "end": (now + timedelta(hours=1)).strftime("%H:%M"),
        }
        target = {"station_ids": list(versions)}
        later = await r.operator.post(
            "/firmware/campaigns",
            json={"name": "tonight", "image_id": image["id"], "target": target, "maintenance_window": closed},
        )
        assert later.status_code == 201, later.text
        await r.operator.post(f"/firmware/campaigns/{later.json()['id']}/start")
        await asyncio.sleep(1.0)  # five runner turns
        waiting = await r.campaign(later.json()["id"])
        assert waiting["status"] == "running"
        assert waiting["counts"]["pending"] == 2
        assert (await r.viewer.get("/firmware-updates")).json()["total"] == 0

        aborted = await r.operator.post(f"/firmware/campaigns/{later.json()['id']}/abort")
        assert aborted.json()["counts"]["skipped"] == 2
        now_ = await r.operator.post(
            "/firmware/campaigns",
            json={"name": "now", "image_id": image["id"], "target": target, "maintenance_window": open_},
        )
        await r.operator.post(f"/firmware/campaigns/{now_.json()['id']}/start")
        done = await r.campaign_until(now_.json()["id"], "completed", timeout=30)
        assert done["counts"]["installed"] == 2


async def test_the_api_refuses_bad_firmware_input_with_clear_messages(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, {"SIM-FW": "1.6"}) as r:
        bad_version = await r.operator.put("/firmware", params={"name": "x", "version": "1 0"}, content=b"abc" * 400)
        assert bad_version.status_code == 422
        assert "version must be" in bad_version.json()["detail"]
        empty = await r.operator.put("/firmware", params={"name": "x", "version": "1.0"}, content=b"")
        assert empty.status_code == 422
        assert "empty" in empty.json()["detail"]
        missing = await r.operator.put("/firmware", params={"name": "x"}, content=b"abc")
        assert missing.status_code == 422

        multipart = await r.operator.post(
            "/firmware",
            params={"name": "Controller", "version": "2.0.1-rc1", "model": "AC-22"},
            files={"file": ("ctl-2.0.1-rc1.bin", IMAGE, "application/octet-stream")},
        )
        assert multipart.status_code == 201, multipart.text
        assert multipart.json()["filename"] == "ctl-2.0.1-rc1.bin"
        assert multipart.json()["size"] == len(IMAGE)  # the file part only, not the multipart framing
        assert multipart.json()["sha256"] == hashlib.sha256(IMAGE).hexdigest()
        await r.operator.delete(f"/firmware/{multipart.json()['id']}")

        image = await r.upload()
        half = await r.operator.put(f"/firmware/{image['id']}/signature", json={"signing_certificate": PEM})
        assert half.status_code == 422
        assert "both" in half.json()["detail"]
        not_pem = await r.operator.put(
            f"/firmware/{image['id']}/signature", json={"signing_certificate": "hello", "signature": SIGNATURE}
        )
        assert not_pem.status_code == 422
        assert "PEM" in not_pem.json()["detail"]
        unsigned = await r.operator.post(
            "/stations/SIM-FW/firmware-update", json={"image_id": image["id"], "signed": True}
        )
        assert unsigned.status_code == 422
        assert "no signing certificate" in unsigned.json()["detail"]
        publish16 = await r.operator.post("/stations/SIM-FW/firmware-publish", json={"image_id": image["id"]})
        assert publish16.status_code == 400
        assert "2.0.1 only" in publish16.json()["detail"]


async def test_the_api_refuses_bad_campaigns_and_keeps_used_images(database_url: str, tmp_path: Path) -> None:
    async with rig(database_url, tmp_path, {"SIM-FW": "1.6"}) as r:
        image = await r.upload()
        no_target = await r.operator.post(
            "/firmware/campaigns", json={"name": "x", "image_id": image["id"], "target": {}}
        )
        assert no_target.status_code == 422
        assert "name the stations" in str(no_target.json()["detail"])
        bad_window = await r.operator.post(
            "/firmware/campaigns",
            json={
                "name": "x",
                "image_id": image["id"],
                "target": {"model": "AC-22"},
                "maintenance_window": {"start": "25:00", "end": "04:00"},
            },
        )
        assert bad_window.status_code == 422
        assert "HH:MM" in str(bad_window.json()["detail"])
        nobody = await r.operator.post(
            "/firmware/campaigns", json={"name": "x", "image_id": image["id"], "target": {"model": "nope"}}
        )
        assert nobody.status_code == 422
        assert "no station matches" in nobody.json()["detail"]

        used = await r.operator.post(
            "/firmware/campaigns", json={"name": "x", "image_id": image["id"], "target": {"model": "AC-22"}}
        )
        assert used.status_code == 201
        refused = await r.operator.delete(f"/firmware/{image['id']}")
        assert refused.status_code == 409
        assert "abort or finish the campaign" in refused.json()["detail"]
        await r.operator.post(f"/firmware/campaigns/{used.json()['id']}/abort")
        deleted = await r.operator.delete(f"/firmware/{image['id']}")
        assert deleted.status_code == 204
        assert (await r.viewer.get("/firmware")).json() == []
        kept = await r.viewer.get(f"/firmware/campaigns/{used.json()['id']}")  # history outlives the image
        assert kept.status_code == 200
        assert kept.json()["status"] == "aborted"
        viewer_upload = await r.viewer.put("/firmware", params={"name": "x", "version": "1.0"}, content=b"abc")
        assert viewer_upload.status_code == 403


async def test_a_2_0_1_local_controller_publishes_and_unpublishes_an_image(database_url: str, tmp_path: Path) -> None:
    sid = "SIM-LC"
    async with rig(database_url, tmp_path, {sid: "2.0.1"}) as r:
        image = await r.upload()
        answer = await r.operator.post(f"/stations/{sid}/firmware-publish", json={"image_id": image["id"]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["command"]["command"] == "publish_firmware"
        done = await r.settled(answer.json()["update"]["id"], "installed", "failed")
        assert done["kind"] == "publish"
        assert [h["station_status"] for h in done["history"]] == [
            "Downloading",
            "Downloaded",
            "ChecksumVerified",  # the MD5 the CSMS sent matched the bytes it served
            "Published",
        ]
        assert image["md5"] in r.stations[sid].firmware.published
        gone = await r.operator.post(f"/stations/{sid}/firmware-unpublish", json={"image_id": image["id"]})
        assert gone.status_code == 200, gone.text
        assert gone.json()["status"] == "Unpublished"
        assert r.stations[sid].firmware.published == {}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_a_campaign_carries_on_after_the_csms_restarts(sqlite_url: str, tmp_path: Path) -> None:
    """Its state is in the database: a new process resumes it, and the new process's runner drives the batches."""
    ocpp_port, http_port = _free_port(), _free_port()
    settings = test_settings(
        sqlite_url,
        ocpp_port=ocpp_port,
        http_port=http_port,
        files={"folder": str(tmp_path / "files")},
        firmware={"campaign_interval_seconds": 0.2},
    )
    sids = ["SIM-R1", "SIM-R2", "SIM-R3"]
    stations = {sid: SimulatedStation(StationSpec(station_id=sid, version="1.6"), None, QUIET) for sid in sids}
    tasks = [
        asyncio.create_task(run_station(f"ws://127.0.0.1:{ocpp_port}/ocpp", station)) for station in stations.values()
    ]
    try:
        async with contextlib.aclosing(start_csms(settings)) as running:  # type: ignore[type-var]  # a generator
            csms = await anext(running)
            for sid in sids:
                await csms.add_station(sid)
            core = csms.app.core

            async def online() -> bool:
                return all(csms.app.gateway.registry.get(StationId(sid)) for sid in sids)

            assert await eventually(online, timeout=20)
            image = await core.firmware.add_image(
                name="Controller", version=NEW, filename="c.bin", chunks=_once(IMAGE), actor="t"
            )
            plan = CampaignPlan(
                name="across a restart",
                image_id=image.id,
                selection=TargetSelection(station_ids=tuple(sids)),
                pilot_size=1,
                batch_size=1,
                window=None,
                max_failures=None,
                max_failure_percent=None,
            )
            campaign = await core.firmware_campaigns.create(plan=plan, actor="t")
            await core.firmware_campaigns.start(campaign.id, actor="t")

            async def pilot_installed() -> bool:
                return (await core.firmware_campaigns.campaign(campaign.id)).counts.get(TargetState.INSTALLED, 0) >= 1

            assert await eventually(pilot_installed, timeout=20)
            await core.firmware_campaigns.halt(campaign.id, actor="t", reason="maintenance of the CSMS")

            async def settled() -> bool:  # nothing left under way before the process goes
                found = await core.firmware_campaigns.campaign(campaign.id)
                return found.counts.get(TargetState.IN_PROGRESS, 0) == 0

            assert await eventually(settled, timeout=20)

        async with contextlib.aclosing(start_csms(settings)) as running:  # type: ignore[type-var]  # the same database
            csms = await anext(running)
            core = csms.app.core
            before = await core.firmware_campaigns.campaign(campaign.id)
            assert before.status == "halted"
            assert before.status_reason == "maintenance of the CSMS"
            assert await eventually(online, timeout=20), "the stations did not come back to the new process"
            await core.firmware_campaigns.resume(campaign.id, actor="t")

            async def completed() -> bool:
                return (await core.firmware_campaigns.campaign(campaign.id)).status == "completed"

            assert await eventually(completed, timeout=30)
            assert (await core.firmware_campaigns.campaign(campaign.id)).counts == {TargetState.INSTALLED: 3}
    finally:
        for task in tasks:
            await cancel_quietly(task)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
