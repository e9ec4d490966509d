"""Simulated stations obey the CSMS: each command gets a station's answer, and its effect lands in the database."""

from __future__ import annotations

from typing import Any

import pytest

from evscada.core import commands as c
from evscada.simulator.station import StationSpec
from tests.simulator.helpers import (
    SID,
    VERSIONS,
    connector_status,
    ready,
    remote_start,
    running_transaction,
    send,
)
from tests.support import Csms, eventually


@VERSIONS
async def test_a_remote_start_charges_and_a_remote_stop_ends_it(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    start = await send(csms, remote_start())
    assert start.status == "Accepted"
    tx = await running_transaction(csms)
    assert (tx["id_token"], tx["evse_id"]) == ("CARD-1", 1)
    assert tx["remote_start_command_id"] == start.command_id  # 2.0.1 by its remoteStartId, 1.6 by inference
    assert (await send(csms, remote_start())).status == "Rejected"  # that connector is busy now

    stop = await send(csms, c.RemoteStop(station_transaction_id=tx["station_transaction_id"]))

    assert stop.status == "Accepted"

    async def ended() -> list[dict[str, Any]]:
        return await csms.rows("transactions", pk=tx["pk"], state="ended")

    (done,) = await eventually(ended)
    assert done["stop_reason"] == "Remote"
    assert await connector_status(csms, 1, "Available")


@VERSIONS
async def test_a_remote_start_without_a_connector_takes_a_free_one(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    assert (await send(csms_sqlite, remote_start(evse_id=1))).status == "Accepted"
    assert (await send(csms_sqlite, remote_start(evse_id=None, token="CARD-2"))).status == "Accepted"

    async def both() -> bool:
        rows = await csms_sqlite.rows("transactions", station_id=SID, state="running")
        return sorted(row["evse_id"] for row in rows) == [1, 2]

    assert await eventually(both)
    assert (await send(csms_sqlite, remote_start(evse_id=None))).status == "Rejected"


@VERSIONS
async def test_a_remote_stop_of_an_unknown_transaction_is_rejected(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    assert (await send(csms_sqlite, c.RemoteStop(station_transaction_id="999"))).status == "Rejected"


@VERSIONS
async def test_an_inoperative_connector_is_unavailable_and_refuses_remote_starts(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    assert (await send(csms, c.ChangeAvailability(operative=False, evse_id=1))).status == "Accepted"
    assert await connector_status(csms, 1, "Unavailable")
    assert await connector_status(csms, 2, "Available")
    assert (await send(csms, remote_start(evse_id=1))).status == "Rejected"

    assert (await send(csms, c.ChangeAvailability(operative=True, evse_id=1))).status == "Accepted"

    assert await connector_status(csms, 1, "Available")
    assert (await send(csms, remote_start(evse_id=1))).status == "Accepted"


@VERSIONS
async def test_availability_changes_after_the_running_session(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    await send(csms, remote_start(evse_id=1))
    tx = await running_transaction(csms)

    assert (await send(csms, c.ChangeAvailability(operative=False))).status == "Scheduled"
    assert await connector_status(csms, 2, "Unavailable")  # the idle one at once

    await send(csms, c.RemoteStop(station_transaction_id=tx["station_transaction_id"]))
    assert await connector_status(csms, 1, "Unavailable")  # the busy one once its session ended


@VERSIONS
async def test_a_reset_ends_the_sessions_and_the_station_boots_again(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    booted = (await csms.station(SID))["last_boot"]
    await send(csms, remote_start())
    tx = await running_transaction(csms)

    assert (await send(csms, c.Reset(kind=c.ResetKind.SOFT))).status == "Accepted"

    async def rebooted() -> bool:
        return bool((await csms.station(SID))["last_boot"] > booted)

    assert await eventually(rebooted)
    (ended,) = await csms.rows("transactions", pk=tx["pk"])
    assert (ended["state"], ended["stop_reason"]) == ("ended", "SoftReset" if version == "1.6" else "ImmediateReset")
    assert await eventually(lambda: ready(csms))
    assert (await send(csms, c.ClearCache())).status == "Accepted"  # it answers again after the reboot


@VERSIONS
async def test_a_triggered_status_notification_is_sent(csms_sqlite: Csms, station: StationSpec, version: str) -> None:
    csms = csms_sqlite
    before = len(await csms.rows("status_history", station_id=SID, evse_id=2))

    outcome = await send(csms, c.TriggerMessage(message="StatusNotification", evse_id=2))

    assert outcome.status == "Accepted"

    async def reported() -> bool:
        return len(await csms.rows("status_history", station_id=SID, evse_id=2)) == before + 1

    assert await eventually(reported)


@VERSIONS
@pytest.mark.parametrize(
    "message", ["BootNotification", "Heartbeat", "MeterValues", "FirmwareStatusNotification", "LogStatusNotification"]
)
async def test_other_triggered_messages_are_accepted(
    csms_sqlite: Csms, station: StationSpec, version: str, message: str
) -> None:
    assert (await send(csms_sqlite, c.TriggerMessage(message=message))).status == "Accepted"


@VERSIONS
async def test_unlock_clear_cache_and_data_transfer(csms_sqlite: Csms, station: StationSpec, version: str) -> None:
    assert (await send(csms_sqlite, c.UnlockConnector(evse_id=1))).status == "Unlocked"
    assert (await send(csms_sqlite, c.ClearCache())).status == "Accepted"
    assert (await send(csms_sqlite, c.DataTransfer(vendor_id="com.acme"))).status == "UnknownVendorId"


@VERSIONS
async def test_settings_are_read_and_changed(csms_sqlite: Csms, station: StationSpec, version: str) -> None:
    csms = csms_sqlite
    sample = c.SettingRef(name="MeterValueSampleInterval", component="SampledDataCtrlr")
    if version == "2.0.1":
        sample = c.SettingRef(name="TxUpdatedInterval", component="SampledDataCtrlr")
    readonly = c.SettingRef(name="NumberOfConnectors")
    if version == "2.0.1":
        readonly = c.SettingRef(name="ItemsPerMessage", component="DeviceDataCtrlr")
    nope = c.SettingRef(name="Nope", component="OCPPCommCtrlr")

    assert (await send(csms, c.ChangeSetting(setting=sample, value="30"))).status == "Accepted"
    assert (await send(csms, c.ChangeSetting(setting=readonly, value="9"))).status == "Rejected"
    read = await send(csms, c.GetSettings(settings=(sample, readonly, nope)))

    settings = {s["name"]: (s["value"], s["status"]) for s in read.data["settings"]}
    assert settings[sample.name] == ("30", "Accepted")
    assert settings[readonly.name] == ("2" if version == "1.6" else "32", "Accepted")
    assert settings["Nope"][1] == ("UnknownKey" if version == "1.6" else "UnknownVariable")
