"""What OCPP's types cannot hold is refused by name with the spec's error and never stored: integers beyond 32 bits
(or written as decimals), numbers beyond a double, NUL characters, 1.6 values that are no decimal kept as text.
Odd values the types do hold (0, the integer extremes) are stored, and every reader of station data survives them."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from evscada.core.access.users import Role
from evscada.core.control import commands as c
from evscada.core.model import StationId
from evscada.gateway.ocpp16.handlers import ADAPTER as ADAPTER16
from evscada.gateway.ocpp201.handlers import ADAPTER as ADAPTER201
from tests.api.conftest import key_for
from tests.schema_payloads import fullest_payload
from tests.support import BOOT, Csms, exchange, open_socket

SCHEMAS = {"ocpp1.6": ("ocpp.v16.schemas", "", ADAPTER16), "ocpp2.0.1": ("ocpp.v201.schemas", "Request", ADAPTER201)}
T0 = "2026-12-05T10:00:00Z"
# Not OCPP integers: past 32 bits either way, past 64 bits, and decimals (JSON schema draft-06 counts 1.0 and 1e308
# as integers; a station's 1e308 was once stored as a REAL evseId and broke every station listing).
NOT_INTEGERS: list[Any] = [2**31, -(2**31) - 1, 2**63, 10**30, 1e308, 1.0, True]
STORED_BY_STATIONS = ["connectors", "status_history", "meter_samples", "transactions", "station_messages"]


def _schema(package: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files(package).joinpath(f"{name}.json").read_text("utf-8"))
    return schema


def _integer_paths(schema: dict[str, Any], root: dict[str, Any], value: Any, path: tuple[Any, ...] = ()) -> Iterator:
    """Every place in `value` (a payload built from `schema`) that the schema types as integer."""
    if "$ref" in schema:
        yield from _integer_paths(root["definitions"][schema["$ref"].rsplit("/", 1)[-1]], root, value, path)
    elif schema.get("type") == "integer":
        yield path
    elif schema.get("type") == "object" and isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                yield from _integer_paths(sub, root, value[key], (*path, key))
    elif schema.get("type") == "array" and isinstance(value, list) and value:
        yield from _integer_paths(schema["items"], root, value[0], (*path, 0))


def _every_integer_field(version: str) -> Iterator[tuple[str, dict[str, Any], tuple[Any, ...]]]:
    package, suffix, adapter = SCHEMAS[version]
    for action in sorted(adapter.handlers):
        schema = _schema(package, f"{action}{suffix}")
        payload = fullest_payload(package, f"{action}{suffix}", 1)
        for path in _integer_paths(schema, schema, payload):
            yield action, payload, path


def _with(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    place: Any = changed
    for step in path[:-1]:
        place = place[step]
    place[path[-1]] = value
    return changed


async def _booted(ws: ClientConnection, version: str) -> None:
    assert (await exchange(ws, [2, "boot", "BootNotification", BOOT[version]]))[2]["status"] == "Accepted"


async def _nothing_stored(csms: Csms, station_id: str) -> None:
    for table in STORED_BY_STATIONS:
        assert await csms.rows(table, station_id=station_id) == [], table


# ---- integers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_every_integer_field_outside_ocpp_s_32_bits_is_a_type_violation_and_nothing_is_stored(
    csms_sqlite: Csms, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    csms = csms_sqlite
    await csms.add_station("CP-INT")
    fields = list(_every_integer_field(version))
    assert len(fields) >= (10 if version == "ocpp1.6" else 90)  # every message the CSMS takes, every integer in it
    wrong = []
    async with open_socket(csms.url("CP-INT"), version) as ws:
        await _booted(ws, version)
        for n, (action, payload, path) in enumerate(fields):
            value = NOT_INTEGERS[n % len(NOT_INTEGERS)]
            for bad in (value, NOT_INTEGERS[(n + 3) % len(NOT_INTEGERS)]):
                answer = await exchange(ws, [2, f"i{n}", action, _with(payload, path, bad)])
                named = str(path[-1]) in answer[3] if len(answer) > 3 else False
                if answer[:3] != [4, f"i{n}", "TypeConstraintViolation"] or not named:
                    wrong.append(f"{action} {'.'.join(map(str, path))}={bad!r}: {answer}")
        assert (await exchange(ws, [2, "alive", "Heartbeat", {}]))[0] == 3
    assert wrong == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    await _nothing_stored(csms, "CP-INT")


BEYOND_A_DOUBLE = {
    "ocpp2.0.1": (
        '[2, "big", "MeterValues", {"evseId": 1, "meterValue": [{"timestamp": "' + T0 + '", '
        '"sampledValue": [{"value": 1e400}]}]}]',
        "meterValue[0].sampledValue[0].value",
    ),
    "ocpp1.6": (
        '[2, "big", "StatusNotification", {"connectorId": -1e400, "errorCode": "NoError", "status": "Available"}]',
        "connectorId",
    ),
}


@pytest.mark.parametrize(("version", "frame", "field"), [(v, *case) for v, case in BEYOND_A_DOUBLE.items()])
async def test_a_number_beyond_a_double_is_refused_by_name_and_by_the_frame_s_own_id(
    csms_sqlite: Csms, version: str, frame: str, field: str
) -> None:
    """JSON allows 1e400; the JSON reader does not: the station still learns which of its calls was refused."""
    await csms_sqlite.add_station("CP-BIG")
    async with open_socket(csms_sqlite.url("CP-BIG"), version) as ws:
        await _booted(ws, version)
        await ws.send(frame)
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert answer[:3] == [4, "big", "TypeConstraintViolation"] and field in answer[3]
    await _nothing_stored(csms_sqlite, "CP-BIG")


def _status201(evse: int, connector: int) -> dict[str, Any]:
    return {"timestamp": T0, "connectorStatus": "Available", "evseId": evse, "connectorId": connector}


NEGATIVE_PLACES = [
    ("StatusNotification", _status201(-1, 1), "evseId"),
    ("StatusNotification", _status201(1, -2), "connectorId"),
    ("MeterValues", {"evseId": -1, "meterValue": [{"timestamp": T0, "sampledValue": [{"value": 1}]}]}, "evseId"),
    (
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": T0,
            "triggerReason": "CablePluggedIn",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "tx-1"},
            "evse": {"id": -3},
        },
        "evse.id",
    ),
]


@pytest.mark.parametrize(("action", "payload", "field"), NEGATIVE_PLACES)
async def test_a_negative_evse_or_connector_number_from_a_2_0_1_station_is_refused_by_name(
    csms_sqlite: Csms, action: str, payload: dict[str, Any], field: str
) -> None:
    """The schemas say integer; EVSEs and connectors are numbered from 1 (0: the whole). As 1.6 does already."""
    await csms_sqlite.add_station("CP-NEG")
    async with open_socket(csms_sqlite.url("CP-NEG"), "ocpp2.0.1") as ws:
        await _booted(ws, "ocpp2.0.1")
        answer = await exchange(ws, [2, "neg", action, payload])
    assert answer[:3] == [4, "neg", "PropertyConstraintViolation"] and field in answer[3] and "negative" in answer[3]
    await _nothing_stored(csms_sqlite, "CP-NEG")


async def test_the_integer_extremes_and_zero_are_stored_and_every_reader_of_stations_survives_them(csms: Csms) -> None:
    top = 2**31 - 1
    await csms.add_station("CP-EDGE-16")
    await csms.add_station("CP-EDGE-201")
    async with open_socket(csms.url("CP-EDGE-16"), "ocpp1.6") as ws:
        await _booted(ws, "ocpp1.6")
        for connector in (0, top):
            status = {"connectorId": connector, "errorCode": "NoError", "status": "Available", "timestamp": T0}
            assert (await exchange(ws, [2, f"s{connector}", "StatusNotification", status]))[0] == 3
    async with open_socket(csms.url("CP-EDGE-201"), "ocpp2.0.1") as ws:
        await _booted(ws, "ocpp2.0.1")
        for evse, connector in ((0, 0), (top, top), (1, 0)):
            status = {"timestamp": T0, "connectorStatus": "Faulted", "evseId": evse, "connectorId": connector}
            assert (await exchange(ws, [2, f"s{evse}", "StatusNotification", status]))[0] == 3
    stored = {(r["evse_id"], r["connector_id"]) for r in await csms.rows("connectors", station_id="CP-EDGE-201")}
    assert stored == {(0, 0), (top, top), (1, 0)}
    assert csms.app.http is not None
    headers = await key_for(csms, Role.VIEWER)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}/api/v1", timeout=10) as api:
        for path in ("/stations", "/stations/CP-EDGE-16", "/stations/CP-EDGE-201", "/availability",
                     "/stations/CP-EDGE-201/availability", "/alarms"):  # fmt: skip
            response = await api.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)


# ---- NUL characters ----------------------------------------------------------------------------------------------

NUL_CASES = {
    "1.6 idTag": ("ocpp1.6", "Authorize", {"idTag": "REL\u0000TOKEN"}, "idTag"),
    "1.6 meter value": (
        "ocpp1.6",
        "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "1\u00002"}]}]},
        "meterValue[0].sampledValue[0].value",
    ),
    "1.6 vendor": ("ocpp1.6", "BootNotification", {"chargePointVendor": "AC\u0000ME", "chargePointModel": "M"},
                   "chargePointVendor"),
    "2.0.1 transaction id": (
        "ocpp2.0.1",
        "TransactionEvent",
        {"eventType": "Started", "timestamp": T0, "triggerReason": "CablePluggedIn", "seqNo": 0,
         "transactionInfo": {"transactionId": "tx\u00001"}, "evse": {"id": 1}},
        "transactionInfo.transactionId",
    ),
    "2.0.1 key of free-form data": (
        "ocpp2.0.1",
        "DataTransfer",
        {"vendorId": "ACME", "data": {"k\u0000": 1}},
        "data.k\\u0000",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("version", "action", "payload", "field"), NUL_CASES.values(), ids=NUL_CASES.keys())
async def test_a_nul_character_is_refused_naming_its_field_not_dropped(
    csms: Csms, version: str, action: str, payload: dict[str, Any], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Dropped, "REL\\u0000TOKEN" was authorized as "RELTOKEN"; kept, PostgreSQL text cannot hold it."""
    await csms.add_station("CP-NUL")
    await csms.add_token("RELTOKEN")
    async with open_socket(csms.url("CP-NUL"), version) as ws:
        if action != "BootNotification":
            await _booted(ws, version)
        answer = await exchange(ws, [2, "nul", action, payload])
        assert (await exchange(ws, [2, "alive", "Heartbeat", {}]))[0] == 3
    assert answer[:3] == [4, "nul", "PropertyConstraintViolation"]
    assert field in answer[3] and "NUL" in answer[3]
    assert "nul" in caplog.text  # the raw frame is logged for the vendor
    await _nothing_stored(csms, "CP-NUL")
    if action == "BootNotification":
        assert (await csms.station("CP-NUL"))["vendor"] is None


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_bytes_that_are_no_utf_8_are_refused_not_replaced(csms_sqlite: Csms, version: str) -> None:
    """Decoded with replacement characters, "REL\\xffTOKEN" became a value the station never sent."""
    await csms_sqlite.add_station("CP-BYTES")
    async with open_socket(csms_sqlite.url("CP-BYTES"), version) as ws:
        await _booted(ws, version)
        await ws.send(b'[2, "b", "DataTransfer", {"vendorId": "REL\xffTOKEN"}]')
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        await ws.send(b'[2, "raw-nul", "Heartbeat", {"x": "a\x00b"}]')  # a raw NUL: no JSON either
        raw_nul = json.loads(await asyncio.wait_for(ws.recv(), 30))
    code = "FormationViolation" if version == "ocpp1.6" else "RpcFrameworkError"
    assert answer[:3] == raw_nul[:3] == [4, "-1", code]


async def _answering(ws: ClientConnection, payload: dict[str, Any]) -> None:
    """A station answering every CALL with `payload`."""
    async for text in ws:
        frame = json.loads(text)
        if frame[0] == 2:
            await ws.send(json.dumps([3, frame[1], payload]))


@pytest.mark.parametrize(
    ("command", "answer", "problem"),
    [
        (c.DataTransfer(vendor_id="ACME"), {"status": "Accepted", "data": "x\u0000y"}, "data contains a NUL"),
        (c.GetLocalListVersion(), {"listVersion": 2**63}, "listVersion must be an integer"),
    ],
    ids=["NUL", "integer"],
)
async def test_a_station_answer_the_types_cannot_hold_fails_its_command_and_is_not_stored(
    csms: Csms, command: c.Command, answer: dict[str, Any], problem: str
) -> None:
    await csms.add_station("CP-ANS")
    async with open_socket(csms.url("CP-ANS"), "ocpp1.6") as ws:
        await _booted(ws, "ocpp1.6")
        station = asyncio.create_task(_answering(ws, answer))
        try:
            outcome = await csms.app.core.commands.send(station_id=StationId("CP-ANS"), command=command, actor="t")
        finally:
            station.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await station
    assert (outcome.outcome, outcome.status) == ("call_error", "InvalidResponse")
    assert problem in (outcome.error or "")
    (logged,) = await csms.rows("command_log", station_id="CP-ANS")
    assert logged["status"] == "InvalidResponse" and all("\x00" not in str(v) for v in logged.values())


# ---- 1.6 decimals ------------------------------------------------------------------------------------------------

DECIMALS = {"12": 12.0, "-1.5e3": -1500.0, ".5": 0.5, "+7.": 7.0, "0": 0.0}
NOT_DECIMALS = ["1_000", " 12", "12 ", "0x10", "infinity", "NaN", "-inf", "\u0661\u0662", "", "1e", "1,5"]


async def test_1_6_values_are_read_as_ocpp_decimals_and_anything_else_is_kept_as_text(
    csms: Csms, caplog: pytest.LogCaptureFixture
) -> None:
    """float() reads "1_000" as 1000 and Arabic-Indic digits as 12: OCPP's decimal is plain digits. What is no
    decimal is still kept, as the station wrote it, without a number; 1e400 is a decimal no float holds (ADR 8)."""
    await csms.add_station("CP-DEC")
    texts = [*DECIMALS, *NOT_DECIMALS, "1e400"]
    sampled = [{"value": text, "measurand": "Power.Active.Import", "unit": "W"} for text in texts]
    payload = {"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": sampled}]}
    with caplog.at_level(logging.WARNING):
        async with open_socket(csms.url("CP-DEC"), "ocpp1.6") as ws:
            await _booted(ws, "ocpp1.6")
            assert await exchange(ws, [2, "mv", "MeterValues", payload]) == [3, "mv", {}]
    stored = {(row["value"], row["raw"]) for row in await csms.rows("meter_samples", station_id="CP-DEC")}
    expected = {(number, None) for number in DECIMALS.values()}
    expected |= {(None, text) for text in [*NOT_DECIMALS, "1e400"]}
    assert stored == expected
    (warning,) = [r.getMessage() for r in caplog.records if "no decimal" in r.getMessage()]
    assert warning.startswith("CP-DEC:") and "1_000" in warning and "1e400" not in warning


async def test_readings_beyond_any_meter_are_kept_as_text_and_aggregation_survives_them(csms: Csms) -> None:
    """Two readings of 1.7e308 once made PostgreSQL's aggregation overflow on every round, for every station."""
    await csms.add_station("CP-HUGE")
    async with open_socket(csms.url("CP-HUGE"), "ocpp2.0.1") as ws:
        await _booted(ws, "ocpp2.0.1")
        for n, value in enumerate([1.7e308, 1.7e308, -1e301, 1e300, 2.5]):
            sampled = [{"value": value, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}}]
            payload = {"evseId": 1, "meterValue": [{"timestamp": f"2026-12-05T10:00:0{n}Z", "sampledValue": sampled}]}
            assert await exchange(ws, [2, f"mv{n}", "MeterValues", payload]) == [3, f"mv{n}", {}]
    async with open_socket(csms.url("CP-HUGE"), "ocpp1.6") as ws:
        sampled16 = [{"value": "1e301", "measurand": "Power.Active.Import", "unit": "kW"}]
        payload16 = {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-05T10:00:09Z", "sampledValue": sampled16}]}
        assert await exchange(ws, [2, "mv16", "MeterValues", payload16]) == [3, "mv16", {}]
    stored = sorted((str(r["raw"]), r["value"]) for r in await csms.rows("meter_samples", station_id="CP-HUGE"))
    assert stored == [
        ("-1e+301", None),
        ("1.7e+308", None),
        ("1.7e+308", None),
        ("1e301", None),
        ("None", 2.5),
        ("None", 1e300),
    ]
    await csms.app.aggregator.catch_up()  # no overflow
    (bucket,) = await csms.rows("meter_aggregates", station_id="CP-HUGE", resolution=60)
    assert (bucket["count"], bucket["max"]) == (2, 1e300)
