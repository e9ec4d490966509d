"""OCPP 2.0.1 payloads to core types, without a socket."""

from __future__ import annotations

from datetime import UTC, datetime

from evscada.core.model import (
    STATION_WIDE,
    AuthorizationResult,
    AuthorizationStatus,
    EvseRef,
    IdToken,
    MeterSample,
    TransactionEventKind,
)
from evscada.gateway.ocpp201 import mapping

T0 = "2026-11-25T08:00:00Z"


def _one(sampled_value: dict[str, object]) -> MeterSample:
    (sample,) = mapping.samples([{"timestamp": T0, "sampledValue": [sampled_value]}])
    return sample


def test_a_sample_without_measurand_is_the_energy_register_in_wh() -> None:
    sample = _one({"value": 1234.5})
    assert (sample.measurand, sample.value, sample.unit) == ("Energy.Active.Import.Register", 1234.5, "Wh")
    assert sample.timestamp == datetime(2026, 11, 25, 8, tzinfo=UTC)


def test_kwh_is_stored_as_wh() -> None:
    sample = _one({"value": 2.5, "unitOfMeasure": {"unit": "kWh"}})
    assert (sample.value, sample.unit) == (2500.0, "Wh")


def test_the_multiplier_is_a_power_of_ten() -> None:
    sample = _one({"value": 74, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 2}})
    assert (sample.value, sample.unit) == (7400.0, "W")


def test_multiplier_and_kwh_combine() -> None:
    sample = _one({"value": 15, "unitOfMeasure": {"unit": "kWh", "multiplier": -1}})
    assert (sample.value, sample.unit) == (1500.0, "Wh")


def test_phase_location_and_context_are_kept() -> None:
    sample = _one(
        {
            "value": 16.0,
            "measurand": "Current.Import",
            "phase": "L2",
            "location": "Outlet",
            "context": "Sample.Periodic",
        }
    )
    assert (sample.unit, sample.phase, sample.location, sample.context) == ("A", "L2", "Outlet", "Sample.Periodic")


def test_signed_meter_data_is_kept_raw_beside_the_value() -> None:
    signed = {"signedMeterData": "OCMF|{...}", "signingMethod": "", "encodingMethod": "OCMF", "publicKey": ""}
    sample = _one({"value": 100.0, "signedMeterValue": signed})
    assert (sample.value, sample.raw) == (100.0, "OCMF|{...}")


def test_meter_values_of_evse_0_are_station_wide_and_of_an_evse_for_the_whole_evse() -> None:
    assert mapping.meter_evse(0) == STATION_WIDE
    assert mapping.meter_evse(2) == EvseRef(evse_id=2, connector_id=0)


def test_a_transaction_evse_without_connector_is_connector_1() -> None:
    assert mapping.evse_of({"id": 3}) == EvseRef(evse_id=3, connector_id=1)
    assert mapping.evse_of({"id": 3, "connectorId": 2}) == EvseRef(evse_id=3, connector_id=2)
    assert mapping.evse_of(None) is None


def _event(event_type: str, info: dict[str, object] | None = None, **extra: object) -> dict[str, object]:
    return {
        "eventType": event_type,
        "timestamp": T0,
        "triggerReason": "Authorized",
        "seqNo": 4,
        "transactionInfo": {"transactionId": "TX-1", **(info or {})},
        **extra,
    }


def test_transaction_event_becomes_one_report() -> None:
    report = mapping.transaction_report(
        _event(
            "Started",
            info={"chargingState": "Charging", "remoteStartId": 7},
            evse={"id": 1, "connectorId": 1},
            idToken={"idToken": "CARD-1", "type": "ISO14443"},
            offline=True,
            reservationId=9,
            meterValue=[{"timestamp": T0, "sampledValue": [{"value": 10.0, "context": "Transaction.Begin"}]}],
        )
    )
    assert report.kind == TransactionEventKind.STARTED
    assert (report.station_transaction_id, report.seq_no, report.trigger_reason) == ("TX-1", 4, "Authorized")
    assert report.evse == EvseRef(evse_id=1, connector_id=1)
    assert report.id_token == IdToken(value="CARD-1", type="ISO14443")
    assert (report.charging_state, report.offline, report.reservation_id) == ("Charging", True, 9)
    assert [s.context for s in report.samples] == ["Transaction.Begin"]
    assert report.stop_reason is None


def test_an_ended_event_without_stopped_reason_means_local() -> None:
    assert mapping.transaction_report(_event("Ended")).stop_reason == "Local"
    assert mapping.transaction_report(_event("Ended", info={"stoppedReason": "EVDisconnected"})).stop_reason == (
        "EVDisconnected"
    )


def test_a_no_authorization_token_is_not_checked() -> None:
    report = mapping.transaction_report(_event("Started", idToken={"idToken": "", "type": "NoAuthorization"}))
    assert report.id_token is None


def test_id_token_info_carries_expiry_and_group() -> None:
    result = AuthorizationResult(
        status=AuthorizationStatus.ACCEPTED, expires_at=datetime(2027, 1, 1, tzinfo=UTC), group_id="FLEET-A"
    )
    assert mapping.id_token_info(result) == {
        "status": "Accepted",
        "cacheExpiryDateTime": "2027-01-01T00:00:00.000Z",
        "groupIdToken": {"idToken": "FLEET-A", "type": "Central"},
    }


def test_every_core_authorization_status_is_a_2_0_1_status() -> None:
    for status in AuthorizationStatus:
        assert mapping.id_token_info(AuthorizationResult(status=status)) == {"status": str(status)}


def test_boot_info_reads_the_charging_station_and_its_modem() -> None:
    info = mapping.boot_info(
        {
            "reason": "PowerUp",
            "chargingStation": {
                "model": "Wallbox 2",
                "vendorName": "ACME",
                "serialNumber": "SN-2",
                "firmwareVersion": "2.0.0",
                "modem": {"iccid": "8949", "imsi": "2620"},
            },
        }
    )
    assert (info.vendor, info.model, info.serial_number, info.firmware_version) == (
        "ACME",
        "Wallbox 2",
        "SN-2",
        "2.0.0",
    )
    assert (info.modem_iccid, info.modem_imsi, info.reason) == ("8949", "2620", "PowerUp")


def test_status_notification_keeps_evse_and_connector() -> None:
    report = mapping.status_report({"timestamp": T0, "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1})
    assert (report.evse, report.status) == (EvseRef(evse_id=2, connector_id=1), "Occupied")


def test_notify_event_problems_and_their_ends() -> None:
    def entry(variable: str, value: str, **more: object) -> dict[str, object]:
        return {
            "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
            "variable": {"name": variable},
            "actualValue": value,
            "trigger": "Delta",
            **more,
        }

    payload = {
        "eventData": [
            entry("AvailabilityState", "Faulted", techCode="E42"),
            entry("Problem", "false"),
            entry("Power", "7400", trigger="Periodic"),
            entry("Temperature", "91", trigger="Alerting"),
        ]
    }
    problems = mapping.event_problems(payload)
    assert [(p.subject, p.active) for p in problems] == [
        ("EVSE 1/1 Connector/AvailabilityState", True),
        ("EVSE 1/1 Connector/Problem", False),
        ("EVSE 1/1 Connector/Temperature", True),
    ]
    assert problems[0].message == "EVSE 1/1 Connector/AvailabilityState = Faulted (E42)"
