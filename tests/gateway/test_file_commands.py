"""GetDiagnostics and GetLog as each version's CALL, checked against the official schemas; the answers read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported
from evscada.gateway import validation
from evscada.gateway.ocpp16 import commands as commands16
from evscada.gateway.ocpp201 import commands as commands201

VERSIONS: dict[str, tuple[Any, validation.SchemaSet]] = {
    "1.6": (commands16, validation.OCPP16),
    "2.0.1": (commands201, validation.OCPP201),
}
LOCATION = "https://csms.example.com/upload/SECRET-TOKEN"
OLDEST, LATEST = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 6, 12, tzinfo=UTC)


def call(version: str, command: c.Command) -> tuple[str, dict[str, Any]]:
    module, schemas = VERSIONS[version]
    action, payload = module.BUILDERS[type(command)](command)
    schemas.check_request(action, payload)
    return action, payload


def test_get_diagnostics_carries_every_option_in_1_6() -> None:
    command = c.GetDiagnostics(location=LOCATION, retries=3, retry_interval_s=60, start_time=OLDEST, stop_time=LATEST)
    assert call("1.6", command) == (
        "GetDiagnostics",
        {
            "location": LOCATION,
            "retries": 3,
            "retryInterval": 60,
            "startTime": "2026-12-01T00:00:00.000Z",
            "stopTime": "2026-12-06T12:00:00.000Z",
        },
    )


def test_2_0_1_has_no_get_diagnostics_and_says_what_to_use() -> None:
    with pytest.raises(CommandNotSupported, match="DiagnosticsLog"):
        call("2.0.1", c.GetDiagnostics(location=LOCATION))


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_get_log_reads_alike_in_both_versions(version: str) -> None:
    command = c.GetLog(
        log_type=c.LogType.SECURITY,
        location=LOCATION,
        request_id=17,
        oldest=OLDEST,
        latest=LATEST,
        retries=1,
        retry_interval_s=30,
    )
    assert call(version, command) == (
        "GetLog",
        {
            "logType": "SecurityLog",
            "requestId": 17,
            "retries": 1,
            "retryInterval": 30,
            "log": {
                "remoteLocation": LOCATION,
                "oldestTimestamp": "2026-12-01T00:00:00.000Z",
                "latestTimestamp": "2026-12-06T12:00:00.000Z",
            },
        },
    )


def test_the_answers_name_the_file() -> None:
    diagnostics = c.GetDiagnostics(location=LOCATION)
    assert commands16.to_reply(diagnostics, {"fileName": "diag.zip"}) == c.CommandReply(
        "Accepted", {"fileName": "diag.zip"}
    )
    assert commands16.to_reply(diagnostics, {}).status == "NoFile"  # 1.6: no file name, nothing to upload
    log = c.GetLog(log_type=c.LogType.DIAGNOSTICS, location=LOCATION, request_id=1)
    assert commands201.to_reply(log, {"status": "Accepted", "filename": "a.log"}) == c.CommandReply(
        "Accepted", {"filename": "a.log"}
    )


def test_the_logs_keep_the_location_without_its_token_or_credentials() -> None:
    assert c.GetLog(log_type=c.LogType.DIAGNOSTICS, location=LOCATION).arguments()["location"] == (
        "https://csms.example.com/..."
    )
    ftp = c.GetDiagnostics(location="ftp://user:secret@ftp.example.com:2121/diagnostics/")
    assert ftp.arguments()["location"] == "ftp://ftp.example.com:2121/..."
