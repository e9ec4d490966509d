"""OCPP 2.0.1 sessions from a real client, checked in the database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ocpp import v21
from ocpp.v21 import call as call21
from ocpp.v21 import datatypes as dt21
from ocpp.v201 import call
from ocpp.v201.datatypes import (
    ChargingStationType,
    ComponentType,
    EventDataType,
    EVSEType,
    IdTokenType,
    MeterValueType,
    ModemType,
    ReportDataType,
    SampledValueType,
    TransactionType,
    UnitOfMeasureType,
    VariableAttributeType,
    VariableType,
)

from tests.conftest import start_csms, test_settings
from tests.support import Csms, connected_station, station201

T0 = "2026-11-25T08:00:00Z"
CARD = IdTokenType(id_token="CARD-1", type="ISO14443")


def _register(value: float, at: str, *, context: str | None = None, unit: str | None = None) -> MeterValueType:
    return MeterValueType(
        timestamp=at,
        sampled_value=[
            SampledValueType(
                value=value,
                measurand="Energy.Active.Import.Register",
                context=context,
                unit_of_measure=UnitOfMeasureType(unit=unit) if unit else None,
            )
        ],
    )


def _event(
    event_type: str, seq_no: int, transaction_id: str, *, at: str = T0, trigger: str = "Authorized", **extra: Any
) -> call.TransactionEvent:
    info = TransactionType(
        transaction_id=transaction_id,
        charging_state=extra.pop("charging_state", None),
        stopped_reason=extra.pop("stopped_reason", None),
    )
    return call.TransactionEvent(
        event_type=event_type, timestamp=at, trigger_reason=trigger, seq_no=seq_no, transaction_info=info, **extra
    )


async def test_a_full_charging_session_lands_in_the_database(csms: Csms) -> None:
    await csms.add_station("CP-201")
    await csms.add_token("CARD-1")
    async with station201(csms, "CP-201") as cp:
        boot = await cp.call(
            call.BootNotification(
                charging_station=ChargingStationType(
                    vendor_name="ACME",
                    model="Wallbox 2",
                    serial_number="SN-2",
                    firmware_version="2.0.0",
                    modem=ModemType(iccid="89490200001234567890", imsi="262011234567890"),
                ),
                reason="PowerUp",
            )
        )
        assert boot.status == "Accepted" and boot.interval == 60 and boot.current_time.endswith("Z")
        heartbeat = await cp.call(call.Heartbeat())
        assert heartbeat.current_time.endswith("Z")
        await cp.call(call.StatusNotification(timestamp=T0, connector_status="Occupied", evse_id=1, connector_id=1))
        auth = await cp.call(call.Authorize(id_token=CARD))
        assert auth.id_token_info["status"] == "Accepted"
        unknown = await cp.call(call.Authorize(id_token=IdTokenType(id_token="NOBODY", type="ISO14443")))
        assert unknown.id_token_info["status"] == "Invalid"

        started = await cp.call(
            _event(
                "Started",
                0,
                "TX-201",
                charging_state="Charging",
                evse=EVSEType(id=1, connector_id=1),
                id_token=CARD,
                meter_value=[_register(1000.0, T0, context="Transaction.Begin")],
            )
        )
        assert started.id_token_info["status"] == "Accepted"
        await cp.call(
            _event(
                "Updated",
                1,
                "TX-201",
                at="2026-11-25T08:05:00Z",
                trigger="MeterValuePeriodic",
                meter_value=[
                    MeterValueType(
                        timestamp="2026-11-25T08:05:00Z",
                        sampled_value=[
                            SampledValueType(value=2.5, unit_of_measure=UnitOfMeasureType(unit="kWh")),
                            SampledValueType(
                                value=74,
                                measurand="Power.Active.Import",
                                unit_of_measure=UnitOfMeasureType(unit="W", multiplier=2),
                            ),
                        ],
                    )
                ],
            )
        )
        ended = await cp.call(
            _event(
                "Ended",
                2,
                "TX-201",
                at="2026-11-25T08:30:00Z",
                trigger="EVCommunicationLost",
                stopped_reason="EVDisconnected",
                id_token=CARD,
                meter_value=[_register(6.0, "2026-11-25T08:30:00Z", context="Transaction.End", unit="kWh")],
            )
        )
        assert ended.id_token_info["status"] == "Accepted"

    station = await csms.station("CP-201")
    assert (station["vendor"], station["model"], station["serial_number"]) == ("ACME", "Wallbox 2", "SN-2")
    assert (station["firmware_version"], station["modem_iccid"]) == ("2.0.0", "89490200001234567890")
    (connector,) = await csms.rows("connectors", station_id="CP-201", evse_id=1, connector_id=1)
    assert connector["status"] == "Occupied"
    assert [h["status"] for h in await csms.rows("status_history", station_id="CP-201")] == ["Occupied"]

    (tx,) = await csms.rows("transactions", station_id="CP-201", station_transaction_id="TX-201")
    assert tx["state"] == "ended" and (tx["id_token"], tx["token_type"]) == ("CARD-1", "ISO14443")
    assert (tx["meter_start"], tx["meter_stop"], tx["stop_reason"]) == (1000.0, 6000.0, "EVDisconnected")
    assert (tx["evse_id"], tx["connector_id"], tx["last_seq_no"]) == (1, 1, 2)
    samples = await csms.rows("meter_samples", transaction_pk=tx["pk"])
    assert sorted((s["context"] or "", s["measurand"], s["value"], s["unit"]) for s in samples) == [
        ("", "Energy.Active.Import.Register", 2500.0, "Wh"),  # kWh stored as Wh
        ("", "Power.Active.Import", 7400.0, "W"),  # 74 x 10^2
        ("Transaction.Begin", "Energy.Active.Import.Register", 1000.0, "Wh"),
        ("Transaction.End", "Energy.Active.Import.Register", 6000.0, "Wh"),
    ]
    assert {(s["evse_id"], s["connector_id"]) for s in samples} == {(1, 1)}


async def test_a_transaction_event_sent_again_is_stored_once(csms: Csms) -> None:
    await csms.add_station("CP-201")
    await csms.add_token("CARD-1")
    updated = _event("Updated", 1, "TX-R", trigger="MeterValuePeriodic", meter_value=[_register(1500.0, T0)])
    async with station201(csms, "CP-201") as cp:
        await cp.call(
            _event("Started", 0, "TX-R", evse=EVSEType(id=1), id_token=CARD, meter_value=[_register(1000.0, T0)])
        )
        await cp.call(updated)
        await cp.call(updated)  # a new message id, the same seqNo: the station re-sent it after a reconnect
        again = await cp.call(
            _event("Started", 0, "TX-R", evse=EVSEType(id=1), id_token=CARD, meter_value=[_register(1000.0, T0)])
        )
        assert again.id_token_info["status"] == "Accepted"  # a repeat is answered as the first time

    (tx,) = await csms.rows("transactions", station_id="CP-201", station_transaction_id="TX-R")
    assert sorted(s["value"] for s in await csms.rows("meter_samples", transaction_pk=tx["pk"])) == [1000.0, 1500.0]
    assert len(await csms.rows("transaction_events", transaction_pk=tx["pk"])) == 2


async def test_events_for_a_transaction_never_started_are_still_recorded(csms: Csms) -> None:
    await csms.add_station("CP-201")
    async with station201(csms, "CP-201") as cp:
        await cp.call(
            _event(
                "Updated",
                5,
                "TX-LOST",
                trigger="MeterValuePeriodic",
                evse=EVSEType(id=2, connector_id=1),
                meter_value=[_register(3000.0, T0)],
            )
        )
        ended = await cp.call(
            _event("Ended", 6, "TX-LOST", at="2026-11-25T09:00:00Z", meter_value=[_register(4000.0, T0)])
        )
        assert ended.id_token_info is None  # no idToken sent, none to answer

    (tx,) = await csms.rows("transactions", station_id="CP-201", station_transaction_id="TX-LOST")
    assert (tx["state"], tx["stop_reason"], tx["evse_id"]) == ("ended", "Local", 2)  # no stoppedReason means Local
    assert (tx["meter_start"], tx["meter_stop"]) == (3000.0, 4000.0)
    assert len(await csms.rows("meter_samples", transaction_pk=tx["pk"])) == 2


async def test_meter_values_are_stored_for_their_evse(csms: Csms) -> None:
    await csms.add_station("CP-201")
    async with station201(csms, "CP-201") as cp:
        await cp.call(
            call.MeterValues(
                evse_id=2,
                meter_value=[
                    MeterValueType(
                        timestamp=T0,
                        sampled_value=[
                            SampledValueType(value=230.5, measurand="Voltage", phase="L1-N"),
                            SampledValueType(value=12.25, unit_of_measure=UnitOfMeasureType(unit="kWh")),
                        ],
                    )
                ],
            )
        )
        await cp.call(call.MeterValues(evse_id=0, meter_value=[_register(99.0, T0)]))

    samples = await csms.rows("meter_samples", station_id="CP-201")
    assert sorted((s["evse_id"], s["connector_id"], s["measurand"], s["value"], s["unit"]) for s in samples) == [
        (0, 0, "Energy.Active.Import.Register", 99.0, "Wh"),  # evse 0: the station's main meter
        (2, 0, "Energy.Active.Import.Register", 12250.0, "Wh"),  # connector 0: the EVSE as a whole
        (2, 0, "Voltage", 230.5, "V"),
    ]
    assert {s["transaction_pk"] for s in samples} == {None}


def _notify_event() -> call.NotifyEvent:
    return call.NotifyEvent(
        generated_at=T0,
        seq_no=0,
        event_data=[
            EventDataType(
                event_id=1,
                timestamp=T0,
                trigger="Delta",
                actual_value="Faulted",
                event_notification_type="HardWiredNotification",
                component=ComponentType(name="Connector", evse=EVSEType(id=1, connector_id=1)),
                variable=VariableType(name="AvailabilityState"),
            )
        ],
    )


def _notify_report() -> call.NotifyReport:
    return call.NotifyReport(
        request_id=3,
        generated_at=T0,
        seq_no=0,
        report_data=[
            ReportDataType(
                component=ComponentType(name="OCPPCommCtrlr"),
                variable=VariableType(name="HeartbeatInterval"),
                variable_attribute=[VariableAttributeType(value="60")],
            )
        ],
    )


STATION_MESSAGES: list[tuple[Callable[[], Any], str, dict[str, Any], str]] = [
    (
        lambda: call.DataTransfer(vendor_id="com.acme", message_id="diag", data={"temp": 41}),
        "data_transfer",
        {"status": "UnknownVendorId"},
        "com.acme diag",
    ),
    (
        lambda: call.FirmwareStatusNotification(status="Downloaded", request_id=7),
        "firmware_status",
        {},
        "Downloaded (request 7)",
    ),
    (
        lambda: call.LogStatusNotification(status="Uploaded", request_id=8),
        "log_status",
        {},
        "Uploaded (request 8)",
    ),
    (
        lambda: call.SecurityEventNotification(type="TamperDetectionActivated", timestamp=T0, tech_info="lid open"),
        "security_event",
        {},
        "TamperDetectionActivated: lid open",
    ),
    (_notify_event, "event", {}, "Connector/AvailabilityState=Faulted"),
    (_notify_report, "report", {}, "report for request 3, part 0: 1 item(s)"),
]


@pytest.mark.parametrize(
    ("request_factory", "kind", "answer", "summary"), STATION_MESSAGES, ids=[m[1] for m in STATION_MESSAGES]
)
async def test_station_reports_are_kept_and_answered(
    csms: Csms, request_factory: Callable[[], Any], kind: str, answer: dict[str, Any], summary: str
) -> None:
    await csms.add_station("CP-201")
    async with station201(csms, "CP-201") as cp:
        result = await cp.call(request_factory())
    assert {k: v for k, v in vars(result).items() if v is not None} == answer
    (message,) = await csms.rows("station_messages", station_id="CP-201")
    assert (message["kind"], message["summary"]) == (kind, summary)
    assert message["payload"]  # the whole payload, for an engineer to read


@pytest.fixture
async def csms21(database_url: str) -> AsyncIterator[Csms]:
    """A CSMS whose settings switch OCPP 2.1 on (it is opt-in)."""
    async for running in start_csms(test_settings(database_url, ocpp_versions=["ocpp2.1", "ocpp2.0.1", "ocpp1.6"])):
        yield running


@contextlib.asynccontextmanager
async def station21(csms: Csms, station_id: str) -> AsyncIterator[v21.ChargePoint]:
    """A real OCPP 2.1 client (the `ocpp` package's v21 ChargePoint)."""
    async with connected_station(v21.ChargePoint, "ocpp2.1", csms, station_id) as cp:
        yield cp


async def test_an_ocpp_2_1_station_charges_through_the_same_handlers(csms21: Csms) -> None:
    csms = csms21
    await csms.add_station("CP-21")
    await csms.add_token("CARD-1")
    card = dt21.IdTokenType(id_token="CARD-1", type="ISO14443")

    def energy(value: float, context: str) -> list[dt21.MeterValueType]:
        return [dt21.MeterValueType(timestamp=T0, sampled_value=[dt21.SampledValueType(value=value, context=context)])]

    async with station21(csms, "CP-21") as cp:
        boot = await cp.call(
            call21.BootNotification(
                charging_station=dt21.ChargingStationType(model="Wallbox 21", vendor_name="ACME"), reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        assert (await cp.call(call21.Authorize(id_token=card))).id_token_info["status"] == "Accepted"
        started = await cp.call(
            call21.TransactionEvent(
                event_type="Started",
                seq_no=0,
                timestamp=T0,
                trigger_reason="Authorized",
                transaction_info=dt21.TransactionType(transaction_id="TX-21"),
                evse=dt21.EVSEType(id=1, connector_id=1),
                id_token=card,
                meter_value=energy(500.0, "Transaction.Begin"),
            )
        )
        assert started.id_token_info["status"] == "Accepted"
        await cp.call(
            call21.TransactionEvent(
                event_type="Ended",
                seq_no=1,
                timestamp="2026-11-25T09:00:00Z",
                trigger_reason="StopAuthorized",
                transaction_info=dt21.TransactionType(transaction_id="TX-21", stopped_reason="Local"),
                meter_value=energy(2500.0, "Transaction.End"),
            )
        )

    station = await csms.station("CP-21")
    assert (station["model"], station["ocpp_version"]) == ("Wallbox 21", "2.1")
    (tx,) = await csms.rows("transactions", station_id="CP-21", station_transaction_id="TX-21")
    assert (tx["state"], tx["meter_start"], tx["meter_stop"], tx["evse_id"]) == ("ended", 500.0, 2500.0, 1)
