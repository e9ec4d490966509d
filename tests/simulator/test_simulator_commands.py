"""Simulated stations obey the CSMS: each command gets a station's answer, and its effect lands in the database."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evscada.core.control import commands as c
from evscada.simulator.station import StationSpec
from tests.simulator.helpers import (
    SID,
    VERSIONS,
    answer_to,
    connector_status,
    frames_in,
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
    assert await eventually(lambda: ready(csms), timeout=20)
    if version == "2.0.1":  # it says why it booted (1.6 has no word for it)
        (boot,) = frames_in(csms, "BootNotification")
        assert boot[3]["reason"] == "RemoteReset"
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
async def test_other_triggered_messages_are_accepted_and_sent(
    csms_sqlite: Csms, station: StationSpec, version: str, message: str
) -> None:
    sent = "DiagnosticsStatusNotification" if (message, version) == ("LogStatusNotification", "1.6") else message
    before = len(frames_in(csms_sqlite, sent))

    assert (await send(csms_sqlite, c.TriggerMessage(message=message))).status == "Accepted"

    async def arrived() -> bool:
        return len(frames_in(csms_sqlite, sent)) > before

    assert await eventually(arrived)
    if sent == "BootNotification" and version == "2.0.1":
        assert frames_in(csms_sqlite, sent)[-1][3]["reason"] == "Triggered"


# CALLs a CSMS should never send, and the CALLERROR OCPP-J prescribes for each (the codes of docs/ocpp.md,
# "Errors"; the `ocpp` package's own station answers several of them otherwise). Full and lean stations must answer
# the same. case -> (action, 1.6 payload, 2.0.1 payload, 1.6 code, 2.0.1 code)
BROKEN: dict[str, tuple[str, Any, Any, str, str]] = {
    "unknown action": ("Teleport", {}, {}, "NotImplemented", "NotImplemented"),
    "no handler": (  # UpdateFirmware was the example until the simulator learnt firmware updates (issue 20)
        "GetInstalledCertificateIds",
        {"certificateType": "CentralSystemRootCertificate"},
        None,
        "NotSupported",
        "",
    ),
    "no handler (2.0.1)": (
        "GetInstalledCertificateIds",
        None,
        {},
        "",
        "NotSupported",
    ),
    "field missing": (
        "RemoteStartTransaction",
        {},
        None,
        "OccurenceConstraintViolation",  # sic: OCPP-J 1.6 spells it so
        "",
    ),
    "field missing (2.0.1)": (
        "RequestStartTransaction",
        None,
        {"remoteStartId": 1},
        "",
        "OccurrenceConstraintViolation",
    ),
    "wrong type": (
        "ChangeAvailability",
        {"connectorId": "1", "type": "Inoperative"},
        {"operationalStatus": 7},
        "TypeConstraintViolation",
        "TypeConstraintViolation",
    ),
    "unknown field": ("ClearCache", {"why": "test"}, {"why": "test"}, "FormationViolation", "FormatViolation"),
    "bad enum value": (
        "Reset",
        {"type": "Gentle"},
        {"type": "Gentle"},
        "PropertyConstraintViolation",
        "PropertyConstraintViolation",
    ),
    "too long": (
        "DataTransfer",
        {"vendorId": "x" * 300},
        {"vendorId": "x" * 300},
        "TypeConstraintViolation",
        "TypeConstraintViolation",
    ),
    "payload not an object": ("ClearCache", [], [], "ProtocolError", "RpcFrameworkError"),
}
UNREADABLE = ["this is not JSON", '{"a": 1}', '[9, "x"]']  # the ocpp package logs these and answers nothing


@VERSIONS
async def test_broken_calls_get_the_callerrors_ocpp_j_prescribes_and_unreadable_frames_none(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms, expected, answered = csms_sqlite, {}, {}
    for case, (action, payload16, payload201, code16, code201) in BROKEN.items():
        payload, code = (payload16, code16) if version == "1.6" else (payload201, code201)
        if payload is None:
            continue
        unique_id = f"broken-{len(expected)}"
        answer = await answer_to(csms, json.dumps([2, unique_id, action, payload]), unique_id)
        expected[case], answered[case] = code, answer[2] if answer and answer[0] == 4 else answer
    for frame in UNREADABLE:
        expected[frame], answered[frame] = None, await answer_to(csms, frame, "x", timeout=0.3)

    assert answered == expected
    assert (await send(csms, c.ClearCache())).status == "Accepted"  # and it goes on answering
