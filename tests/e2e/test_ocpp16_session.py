"""A whole OCPP 1.6 charging session from a real client, checked in the database."""

from __future__ import annotations

from datetime import UTC, datetime

from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue

from tests.support import Csms, station16

T0 = "2026-11-25T08:00:00Z"


async def test_a_full_charging_session_lands_in_the_database(csms: Csms) -> None:
    await csms.add_station("CP-16")
    await csms.add_token("CARD-1")
    async with station16(csms, "CP-16") as cp:
        boot = await cp.call(
            call.BootNotification(
                charge_point_model="Wallbox X",
                charge_point_vendor="ACME",
                firmware_version="1.2.3",
                charge_point_serial_number="SN-1",
            )
        )
        assert boot.status == "Accepted" and boot.interval == 60 and boot.current_time.endswith("Z")
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing", timestamp=T0))
        auth = await cp.call(call.Authorize(id_tag="CARD-1"))
        assert auth.id_tag_info["status"] == "Accepted"
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="CARD-1", meter_start=1000, timestamp=T0))
        assert start.id_tag_info["status"] == "Accepted"
        tx_id = start.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[
                    MeterValue(
                        timestamp="2026-11-25T08:05:00Z",
                        sampled_value=[
                            SampledValue(value="2.5", measurand="Energy.Active.Import.Register", unit="kWh"),
                            SampledValue(value="7400", measurand="Power.Active.Import", unit="W"),
                            SampledValue(value="32.1", measurand="Current.Import", unit="A", phase="L1"),
                        ],
                    )
                ],
            )
        )
        stop = await cp.call(
            call.StopTransaction(
                meter_stop=6000,
                timestamp="2026-11-25T08:30:00Z",
                transaction_id=tx_id,
                reason="EVDisconnected",
                id_tag="CARD-1",
            )
        )
        assert stop.id_tag_info["status"] == "Accepted"

    station = await csms.station("CP-16")
    assert (station["vendor"], station["model"], station["firmware_version"]) == ("ACME", "Wallbox X", "1.2.3")
    (tx,) = await csms.rows("transactions", pk=tx_id)
    assert tx["state"] == "ended" and tx["id_token"] == "CARD-1"
    assert (tx["meter_start"], tx["meter_stop"], tx["stop_reason"]) == (1000, 6000, "EVDisconnected")
    assert (tx["evse_id"], tx["connector_id"]) == (1, 1)
    samples = await csms.rows("meter_samples", transaction_pk=tx_id)
    by_measurand = {s["measurand"]: s for s in samples}
    assert by_measurand["Energy.Active.Import.Register"]["value"] == 2500.0  # kWh normalised to Wh
    assert by_measurand["Energy.Active.Import.Register"]["unit"] == "Wh"
    assert by_measurand["Current.Import"]["phase"] == "L1"
    assert by_measurand["Current.Import"]["timestamp"] == datetime(2026, 11, 25, 8, 5, tzinfo=UTC)
    (status,) = await csms.rows("connectors", station_id="CP-16", evse_id=1)
    assert status["status"] == "Preparing"
