"""Mapping every OCPP version shares, without a socket."""

from __future__ import annotations

from datetime import UTC, datetime

from evscada.gateway import shared_mapping

RECEIVED = datetime(2026, 11, 25, 8, tzinfo=UTC)


def test_a_summary_is_cut_to_what_the_record_holds_in_every_version() -> None:
    message = shared_mapping.message("data_transfer", {"vendorId": "x" * 600}, RECEIVED, summary="x" * 600)
    assert message.summary == "x" * shared_mapping.SUMMARY_LENGTH


def test_a_record_takes_the_payloads_own_time_when_it_has_one() -> None:
    p = {"type": "FirmwareUpdated", "timestamp": "2026-11-25T07:59:00Z"}
    assert shared_mapping.message("security_event", p, RECEIVED, at="timestamp").timestamp == datetime(
        2026, 11, 25, 7, 59, tzinfo=UTC
    )
    assert shared_mapping.message("security_event", {"type": "x"}, RECEIVED, at="timestamp").timestamp == RECEIVED


def test_summaries_of_data_transfer_and_security_events() -> None:
    assert shared_mapping.data_transfer_summary({"vendorId": "ACME"}) == "ACME"
    assert shared_mapping.data_transfer_summary({"vendorId": "ACME", "messageId": "ping"}) == "ACME ping"
    assert shared_mapping.security_event_summary({"type": "TamperDetected"}) == "TamperDetected"
    assert shared_mapping.security_event_summary({"type": "T", "techInfo": "lid open"}) == "T: lid open"
