"""Charging profiles over the API, against real `ocpp`-library stations of both versions: what each receives, what
the CSMS keeps of the answer, what it refuses before sending, and what 2.0.1 stations report."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms, Recording, connected_station

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])
SID = "CP-SC"
START = "2026-12-07T10:00:00Z"


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


class Station16(Recording, ChargePoint16):  # type: ignore[misc]
    keys: list[dict[str, Any]] = []  # noqa: RUF012  (what GetConfiguration answers; set per test)

    @on("SetChargingProfile")
    def set_profile(self, **p: Any) -> Any:
        return result16.SetChargingProfile(status=self.got("SetChargingProfile", p))

    @on("ClearChargingProfile")
    def clear_profile(self, **p: Any) -> Any:
        return result16.ClearChargingProfile(status=self.got("ClearChargingProfile", p))

    @on("GetCompositeSchedule")
    def composite(self, **p: Any) -> Any:
        status = self.got("GetCompositeSchedule", p)
        if status != "Accepted":
            return result16.GetCompositeSchedule(status=status)
        periods = [{"start_period": 0, "limit": 16.0, "number_phases": 3}, {"start_period": 600, "limit": 8.0}]
        return result16.GetCompositeSchedule(
            status="Accepted",
            connector_id=p["connector_id"],
            schedule_start=START,
            charging_schedule={
                "duration": p["duration"],
                "charging_rate_unit": "A",
                "charging_schedule_period": periods,
            },
        )

    @on("RemoteStartTransaction")
    def remote_start(self, **p: Any) -> Any:
        return result16.RemoteStartTransaction(status=self.got("RemoteStartTransaction", p))

    @on("GetConfiguration")
    def get_configuration(self, **p: Any) -> Any:
        self.got("GetConfiguration", p)
        return result16.GetConfiguration(configuration_key=self.keys)


class Station201(Recording, ChargePoint201):  # type: ignore[misc]
    @on("SetChargingProfile")
    def set_profile(self, **p: Any) -> Any:
        return result201.SetChargingProfile(status=self.got("SetChargingProfile", p))

    @on("ClearChargingProfile")
    def clear_profile(self, **p: Any) -> Any:
        return result201.ClearChargingProfile(status=self.got("ClearChargingProfile", p))

    @on("GetCompositeSchedule")
    def composite(self, **p: Any) -> Any:
        status = self.got("GetCompositeSchedule", p)
        if status != "Accepted":
            return result201.GetCompositeSchedule(status=status)
        periods = [{"start_period": 0, "limit": 16.0, "number_phases": 3}, {"start_period": 600, "limit": 8.0}]
        schedule = {
            "evse_id": p["evse_id"],
            "duration": p["duration"],
            "schedule_start": START,
            "charging_rate_unit": "A",
            "charging_schedule_period": periods,
        }
        return result201.GetCompositeSchedule(status="Accepted", schedule=schedule)

    @on("GetChargingProfiles")
    def get_profiles(self, **p: Any) -> Any:
        return result201.GetChargingProfiles(status=self.got("GetChargingProfiles", p))

    @on("RequestStartTransaction")
    def request_start(self, **p: Any) -> Any:
        return result201.RequestStartTransaction(status=self.got("RequestStartTransaction", p))


@contextlib.asynccontextmanager
async def station(csms: Csms, version: str) -> AsyncIterator[Any]:
    await csms.add_station(SID)
    cls, subprotocol = (Station16, "ocpp1.6") if version == "1.6" else (Station201, "ocpp2.0.1")
    async with connected_station(cls, subprotocol, csms, SID, response_timeout=5, until_registered=True) as st:
        yield st


def profile(**fields: Any) -> dict[str, Any]:
    """A TxDefault profile on EVSE 1: 16 A, then 8 A after ten minutes."""
    body: dict[str, Any] = {
        "evse_id": 1,
        "id": 7,
        "stack_level": 1,
        "purpose": "TxDefault",
        "kind": "Absolute",
        "schedule": {
            "unit": "A",
            "start": START,
            "periods": [{"start_s": 0, "limit": 16, "phases": 3}, {"start_s": 600, "limit": 8}],
        },
    }
    return body | fields


async def headers_of(csms: Csms) -> dict[str, str]:
    return await key_for(csms, Role.OPERATOR)


def snake(version: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The profile as the station received it (the ocpp package hands it over in snake_case)."""
    return payload["cs_charging_profiles"] if version == "1.6" else payload["charging_profile"]


@VERSIONS
async def test_a_profile_reaches_the_station_and_is_kept_as_accepted(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    headers = await headers_of(csms)
    async with station(csms, version) as st:
        sent = await api.post(f"/stations/{SID}/charging-profiles", json=profile(reason="depot peak"), headers=headers)
        assert sent.status_code == 200, sent.text
        body = sent.json()
        assert (body["outcome"], body["status"], body["profile"]["status"], body["profile"]["in_force"]) == (
            "answered",
            "Accepted",
            "accepted",
            True,
        )
        received = st.last("SetChargingProfile")
        periods = [{"start_period": 0, "limit": 16, "number_phases": 3}, {"start_period": 600, "limit": 8}]
        schedule = {
            "charging_rate_unit": "A",
            "charging_schedule_period": periods,
            "start_schedule": "2026-12-07T10:00:00.000Z",
        }
        if version == "1.6":
            assert received == {
                "connector_id": 1,
                "cs_charging_profiles": {
                    "charging_profile_id": 7,
                    "stack_level": 1,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "charging_profile_kind": "Absolute",
                    "charging_schedule": schedule,
                },
            }
        else:
            assert received == {
                "evse_id": 1,
                "charging_profile": {
                    "id": 7,
                    "stack_level": 1,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "charging_profile_kind": "Absolute",
                    "charging_schedule": [{"id": 7, **schedule}],
                },
            }

        # Same stack level, purpose and EVSE: the station overwrites the first one, and so does the record.
        second = await api.post(f"/stations/{SID}/charging-profiles", json=profile(id=8), headers=headers)
        assert second.json()["profile"]["status"] == "accepted"

    in_force = (await api.get(f"/stations/{SID}/charging-profiles", params={"in_force": True}, headers=headers)).json()
    assert [(p["profile"]["id"], p["status"], p["evse_id"], p["set_by"]) for p in in_force] == [
        (8, "accepted", 1, "operator-user")
    ]
    everything = (await api.get(f"/stations/{SID}/charging-profiles", headers=headers)).json()
    first = everything[1]
    assert (first["profile"]["id"], first["status"], first["reason"]) == (7, "replaced", "depot peak")
    assert "replaced by profile 8" in first["end_reason"]
    assert first["profile"]["schedule"]["periods"][1] == {
        "start_s": 600,
        "limit": 8.0,
        "phases": None,
        "phase_to_use": None,
    }

    admin = await key_for(csms, Role.ADMIN)
    audit = (await api.get("/audit", params={"action": "command.set_charging_profile"}, headers=admin)).json()
    assert [(e["actor"], e["target_id"], e["details"]["status"]) for e in audit] == [
        ("operator-user", SID, "Accepted"),
        ("operator-user", SID, "Accepted"),
    ]
    assert audit[1]["details"]["arguments"]["profile"]["id"] == 7


@VERSIONS
async def test_a_rejected_profile_is_kept_as_rejected(csms: Csms, api: httpx.AsyncClient, version: str) -> None:
    headers = await headers_of(csms)
    async with station(csms, version) as st:
        st.answers["SetChargingProfile"] = "Rejected"
        sent = await api.post(f"/stations/{SID}/charging-profiles", json=profile(), headers=headers)
    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["profile"]["status"]) == ("Rejected", "rejected")
    listed = (await api.get(f"/stations/{SID}/charging-profiles", headers=headers)).json()
    assert [(p["status"], p["answer"], p["in_force"]) for p in listed] == [("rejected", "Rejected", False)]


BAD: list[tuple[dict[str, Any], str]] = [
    (
        {"schedule": {"unit": "A", "start": START, "periods": [{"start_s": 5, "limit": 16}]}},
        "schedule.periods[0].start_s",
    ),
    (
        {
            "schedule": {
                "unit": "A",
                "start": START,
                "periods": [{"start_s": 0, "limit": 16}, {"start_s": 0, "limit": 8}],
            }
        },
        "schedule.periods[1].start_s",
    ),
    (
        {"schedule": {"unit": "A", "start": START, "periods": [{"start_s": 0, "limit": -1}]}},
        "schedule.periods[0].limit",
    ),
    ({"purpose": "Tx"}, "transaction_id"),
    ({"purpose": "Tx", "transaction_id": "404"}, "transaction_id"),
    ({"purpose": "ChargingStationMax"}, "evse_id"),
    ({"purpose": "ChargingStationExternalConstraints"}, "purpose"),
    ({"kind": "Relative"}, "schedule.start"),
    ({"kind": "Recurring"}, "recurrency"),
    ({"stack_level": -1}, "stack_level"),
    ({"valid_to": "2020-01-01T00:00:00Z"}, "valid_to"),
    ({"schedule": {"unit": "A", "start": START, "periods": []}}, "schedule.periods"),
]


@VERSIONS
@pytest.mark.parametrize(("change", "field"), BAD, ids=[f for _, f in BAD])
async def test_a_bad_profile_is_a_422_naming_the_field_and_nothing_is_sent(
    csms: Csms, api: httpx.AsyncClient, version: str, change: dict[str, Any], field: str
) -> None:
    headers = await headers_of(csms)
    async with station(csms, version) as st:
        refused = await api.post(f"/stations/{SID}/charging-profiles", json=profile(**change), headers=headers)
        assert refused.status_code == 422, refused.text
        assert (refused.json()["code"], refused.json()["field"]) == ("invalid_argument", field)
        assert refused.json()["detail"].startswith(f"{field}: ")
        assert st.received == []
    assert await csms.rows("command_log", station_id=SID) == []
    assert await csms.rows("charging_profiles", station_id=SID) == []


@VERSIONS
async def test_the_rules_of_each_version_are_its_own(csms: Csms, api: httpx.AsyncClient, version: str) -> None:
    headers = await headers_of(csms)
    one_phase = {
        "unit": "A",
        "start": START,
        "periods": [{"start_s": 0, "limit": 16.05, "phases": 1, "phase_to_use": 2}],
    }
    async with station(csms, version) as st:
        answer = await api.post(f"/stations/{SID}/charging-profiles", json=profile(schedule=one_phase), headers=headers)
        if version == "1.6":  # one decimal, and no phase to choose
            assert (answer.status_code, answer.json()["field"]) == (422, "schedule.periods[0].limit")
            assert st.received == []
        else:
            assert answer.status_code == 200, answer.text
            sent = st.last("SetChargingProfile")["charging_profile"]["charging_schedule"][0]["charging_schedule_period"]
            assert sent == [{"start_period": 0, "limit": 16.05, "number_phases": 1, "phase_to_use": 2}]


@VERSIONS
async def test_more_periods_than_the_station_takes_is_a_422(csms: Csms, api: httpx.AsyncClient, version: str) -> None:
    headers = await headers_of(csms)
    async with station(csms, version) as st:
        # Nothing read of the station yet: only the version's rules apply.
        three = {"unit": "A", "start": START, "periods": [{"start_s": n * 60, "limit": 10} for n in range(3)]}
        assert (
            await api.post(f"/stations/{SID}/charging-profiles", json=profile(schedule=three), headers=headers)
        ).status_code == 200
        if version == "1.6":
            st.keys = [
                {"key": "ChargingScheduleMaxPeriods", "readonly": True, "value": "2"},
                {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current"},
                {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "3"},
            ]
            read = await api.post(f"/stations/{SID}/commands/get_configuration", json={}, headers=headers)
            assert read.status_code == 200, read.text
        else:
            variables = [("PeriodsPerSchedule", "2"), ("RateUnit", "A"), ("ProfileStackLevel", "3")]
            await st.call(
                call201.NotifyReport(
                    request_id=1,
                    generated_at=START,
                    seq_no=0,
                    report_data=[
                        {
                            "component": {"name": "SmartChargingCtrlr"},
                            "variable": {"name": name},
                            "variable_attribute": [{"type": "Actual", "value": value, "mutability": "ReadOnly"}],
                        }
                        for name, value in variables
                    ],
                )
            )
        st.received.clear()
        refusals: list[tuple[dict[str, Any], str, str]] = [
            ({"schedule": three}, "schedule.periods", "at most 2"),
            (
                {"schedule": {"unit": "W", "start": START, "periods": [{"start_s": 0, "limit": 7000}]}},
                "schedule.unit",
                "A only",
            ),
            ({"stack_level": 4}, "stack_level", "is 3"),
        ]
        for change, field, words in refusals:
            refused = await api.post(f"/stations/{SID}/charging-profiles", json=profile(**change), headers=headers)
            assert (refused.status_code, refused.json()["field"]) == (422, field), refused.text
            assert words in refused.json()["detail"]
        assert st.received == []


@VERSIONS
async def test_profiles_are_cleared_by_id_and_by_criteria(csms: Csms, api: httpx.AsyncClient, version: str) -> None:
    headers = await headers_of(csms)
    async with station(csms, version) as st:
        for n, evse in ((7, 1), (8, 2), (9, 0)):
            body = profile(id=n, evse_id=evse) | ({"purpose": "ChargingStationMax"} if evse == 0 else {})
            assert (await api.post(f"/stations/{SID}/charging-profiles", json=body, headers=headers)).status_code == 200

        by_id = await api.delete(f"/stations/{SID}/charging-profiles/7", headers=headers)
        assert by_id.status_code == 200, by_id.text
        assert [p["profile"]["id"] for p in by_id.json()["cleared"]] == [7]
        by_criteria = await api.delete(
            f"/stations/{SID}/charging-profiles", params={"purpose": "TxDefault", "evse_id": 2}, headers=headers
        )
        assert [p["profile"]["id"] for p in by_criteria.json()["cleared"]] == [8]
        if version == "1.6":
            assert st.received[-2:] == [
                ("ClearChargingProfile", {"id": 7}),
                ("ClearChargingProfile", {"connector_id": 2, "charging_profile_purpose": "TxDefaultProfile"}),
            ]
        else:
            assert st.received[-2:] == [
                ("ClearChargingProfile", {"charging_profile_id": 7}),
                (
                    "ClearChargingProfile",
                    {"charging_profile_criteria": {"evse_id": 2, "charging_profile_purpose": "TxDefaultProfile"}},
                ),
            ]
        st.answers["ClearChargingProfile"] = "Unknown"  # the station holds none: not in force either
        unknown = await api.delete(f"/stations/{SID}/charging-profiles/9", headers=headers)
        assert (unknown.json()["status"], [p["end_reason"] for p in unknown.json()["cleared"]]) == (
            "Unknown",
            [f"the station held none such (command {unknown.json()['command_id']})"],
        )
    listed = (await api.get(f"/stations/{SID}/charging-profiles", headers=headers)).json()
    assert {p["profile"]["id"]: (p["status"], p["ended_by"]) for p in listed} == {
        9: ("cleared", "operator-user"),
        8: ("cleared", "operator-user"),
        7: ("cleared", "operator-user"),
    }
    assert (
        await api.get(f"/stations/{SID}/charging-profiles", params={"in_force": True}, headers=headers)
    ).json() == []


@VERSIONS
async def test_the_composite_schedule_is_read_from_the_station(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    headers = await key_for(csms, Role.VIEWER)  # it changes nothing: viewers may ask
    async with station(csms, version) as st:
        read = await api.get(
            f"/stations/{SID}/composite-schedule", params={"evse_id": 1, "duration": 3600, "unit": "A"}, headers=headers
        )
        assert read.status_code == 200, read.text
        assert read.json()["schedule"] == {
            "evse_id": 1,
            "start": "2026-12-07T10:00:00Z",
            "duration_s": 3600,
            "unit": "A",
            "periods": [
                {"start_s": 0, "limit": 16.0, "phases": 3, "phase_to_use": None},
                {"start_s": 600, "limit": 8.0, "phases": None, "phase_to_use": None},
            ],
        }
        key = "connector_id" if version == "1.6" else "evse_id"
        assert st.last("GetCompositeSchedule") == {key: 1, "duration": 3600, "charging_rate_unit": "A"}
        st.answers["GetCompositeSchedule"] = "Rejected"
        rejected = await api.get(f"/stations/{SID}/composite-schedule", params={"duration": 60}, headers=headers)
        assert (rejected.json()["status"], rejected.json()["schedule"]) == ("Rejected", None)


@VERSIONS
async def test_a_remote_start_carries_its_tx_profile(csms: Csms, api: httpx.AsyncClient, version: str) -> None:
    headers = await headers_of(csms)
    await csms.add_token("CARD-1")
    tx_profile = {
        "id": 3,
        "stack_level": 0,
        "purpose": "Tx",
        "kind": "Relative",
        "schedule": {"unit": "W", "periods": [{"start_s": 0, "limit": 3000}]},
    }
    async with station(csms, version) as st:
        wrong = await api.post(
            f"/stations/{SID}/commands/remote_start",
            json={"id_token": "CARD-1", "evse_id": 1, "charging_profile": tx_profile | {"purpose": "TxDefault"}},
            headers=headers,
        )
        assert (wrong.status_code, wrong.json()["field"]) == (422, "charging_profile.purpose")
        assert st.received == []

        started = await api.post(
            f"/stations/{SID}/commands/remote_start",
            json={"id_token": "CARD-1", "evse_id": 1, "charging_profile": tx_profile},
            headers=headers,
        )
        assert started.status_code == 200, started.text
        action = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
        sent = st.last(action)["charging_profile"]
        assert sent["charging_profile_purpose"] == "TxProfile" and "transaction_id" not in sent
        assert sent["charging_profile_kind"] == "Relative"
        (stored,) = (await api.get(f"/stations/{SID}/charging-profiles", headers=headers)).json()
        assert (stored["via"], stored["status"], stored["transaction_id"]) == ("remote_start", "accepted", None)

        if version == "1.6":
            begun = await st.call(
                call16.StartTransaction(connector_id=1, id_tag="CARD-1", meter_start=0, timestamp=later(0))
            )
            tx_id = str(begun.transaction_id)
        else:
            tx_id = "TX-RS"
            await st.call(
                call201.TransactionEvent(
                    event_type="Started",
                    timestamp=later(0),
                    trigger_reason="RemoteStart",
                    seq_no=0,
                    transaction_info={"transaction_id": tx_id, "remote_start_id": started.json()["command_id"]},
                    evse={"id": 1, "connector_id": 1},
                    id_token={"id_token": "CARD-1", "type": "ISO14443"},
                )
            )
        (running,) = (await api.get(f"/stations/{SID}/charging-profiles", headers=headers)).json()
        assert (running["status"], running["transaction_id"], running["evse_id"]) == ("accepted", tx_id, 1)

        if version == "1.6":
            await st.call(call16.StopTransaction(transaction_id=int(tx_id), meter_stop=100, timestamp=later(1)))
        else:
            await st.call(
                call201.TransactionEvent(
                    event_type="Ended",
                    timestamp=later(1),
                    trigger_reason="StopAuthorized",
                    seq_no=1,
                    transaction_info={"transaction_id": tx_id},
                )
            )
    (ended,) = (await api.get(f"/stations/{SID}/charging-profiles", headers=headers)).json()
    assert (ended["status"], ended["end_reason"]) == ("expired", "its transaction ended")


@VERSIONS
async def test_a_tx_profile_names_a_running_transaction_on_its_evse(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    headers = await headers_of(csms)
    await csms.add_token("CARD-1")
    async with station(csms, version) as st:
        if version == "1.6":
            begun = await st.call(
                call16.StartTransaction(connector_id=2, id_tag="CARD-1", meter_start=0, timestamp=later(0))
            )
            tx_id = str(begun.transaction_id)
        else:
            tx_id = "TX-2"
            await st.call(
                call201.TransactionEvent(
                    event_type="Started",
                    timestamp=later(0),
                    trigger_reason="Authorized",
                    seq_no=0,
                    transaction_info={"transaction_id": tx_id},
                    evse={"id": 2, "connector_id": 1},
                    id_token={"id_token": "CARD-1", "type": "ISO14443"},
                )
            )
        tx = {"purpose": "Tx", "transaction_id": tx_id}
        wrong_evse = await api.post(f"/stations/{SID}/charging-profiles", json=profile(**tx), headers=headers)
        assert (wrong_evse.status_code, wrong_evse.json()["field"]) == (422, "transaction_id")
        right = await api.post(f"/stations/{SID}/charging-profiles", json=profile(evse_id=2, **tx), headers=headers)
        assert right.status_code == 200, right.text
        sent = snake(version, st.last("SetChargingProfile"))
        assert sent["transaction_id"] == (int(tx_id) if version == "1.6" else tx_id)
        assert right.json()["profile"]["transaction_id"] == tx_id


@VERSIONS
async def test_an_offline_station_is_a_409_and_the_profile_failed(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    headers = await headers_of(csms)
    async with station(csms, version):
        pass  # connected once: its version is known
    offline = await api.post(f"/stations/{SID}/charging-profiles", json=profile(), headers=headers)
    assert offline.status_code == 409, offline.text
    assert offline.json()["detail"]["outcome"] == "offline"
    (stored,) = (await api.get(f"/stations/{SID}/charging-profiles", headers=headers)).json()
    assert (stored["status"], stored["answer"]) == ("failed", "offline")
    assert (await api.get("/stations/NOPE/charging-profiles", headers=headers)).status_code == 404
    assert (await api.post("/stations/NOPE/charging-profiles", json=profile(), headers=headers)).status_code == 404


async def test_a_2_0_1_station_reports_the_profiles_it_holds(csms: Csms, api: httpx.AsyncClient) -> None:
    headers = await headers_of(csms)
    async with station(csms, "2.0.1") as st:
        asked = await api.post(
            f"/stations/{SID}/charging-profiles/reported",
            json={"purpose": "TxDefault", "sources": ["EMS"]},
            headers=headers,
        )
        assert asked.status_code == 200, asked.text
        request_id = asked.json()["command_id"]
        assert st.last("GetChargingProfiles") == {
            "request_id": request_id,
            "charging_profile": {"charging_profile_purpose": "TxDefaultProfile", "charging_limit_source": ["EMS"]},
        }
        reported = {
            "id": 40,
            "stack_level": 2,
            "charging_profile_purpose": "ChargingStationExternalConstraints",
            "charging_profile_kind": "Absolute",
            "charging_schedule": [
                {
                    "id": 1,
                    "start_schedule": START,
                    "charging_rate_unit": "W",
                    "charging_schedule_period": [{"start_period": 0, "limit": 11000}],
                }
            ],
        }
        await st.call(
            call201.ReportChargingProfiles(
                request_id=request_id, charging_limit_source="EMS", evse_id=0, charging_profile=[reported], tbc=True
            )
        )
        await st.call(
            call201.ReportChargingProfiles(
                request_id=request_id,
                charging_limit_source="CSO",
                evse_id=1,
                charging_profile=[reported | {"id": 41, "charging_profile_purpose": "TxDefaultProfile"}],
            )
        )
    got = (await api.get(f"/stations/{SID}/charging-profiles/reported", headers=headers)).json()
    assert [(r["request_id"], r["evse_id"], r["source"], r["profile"]["id"], r["profile"]["purpose"]) for r in got] == [
        (request_id, 0, "EMS", 40, "ChargingStationExternalConstraints"),
        (request_id, 1, "CSO", 41, "TxDefault"),
    ]
    assert got[0]["profile"]["schedule"]["periods"] == [
        {"start_s": 0, "limit": 11000.0, "phases": None, "phase_to_use": None}
    ]


async def test_get_charging_profiles_is_not_a_1_6_command(csms: Csms, api: httpx.AsyncClient) -> None:
    headers = await headers_of(csms)
    async with station(csms, "1.6") as st:
        asked = await api.post(f"/stations/{SID}/charging-profiles/reported", json={}, headers=headers)
        assert asked.status_code == 400 and "1.6" in asked.json()["detail"]
        assert st.received == []


async def test_a_2_0_1_station_s_charging_limits_and_ev_charging_needs_are_kept(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    headers = await key_for(csms, Role.VIEWER)
    schedule = {
        "id": 1,
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 10, "number_phases": 3}],
    }
    async with station(csms, "2.0.1") as st:
        await st.call(
            call201.NotifyChargingLimit(
                charging_limit={"charging_limit_source": "EMS", "is_grid_critical": True},
                evse_id=1,
                charging_schedule=[schedule],
            )
        )
        await st.call(call201.NotifyChargingLimit(charging_limit={"charging_limit_source": "SO"}))
        limits = (await api.get(f"/stations/{SID}/charging-limits", headers=headers)).json()
        assert [(x["source"], x["evse_id"], x["grid_critical"], x["active"]) for x in limits] == [
            ("SO", None, None, True),
            ("EMS", 1, True, True),
        ]
        assert limits[1]["schedules"][0]["periods"] == [
            {"start_s": 0, "limit": 10.0, "phases": 3, "phase_to_use": None}
        ]

        await st.call(call201.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
        assert [x["source"] for x in (await api.get(f"/stations/{SID}/charging-limits", headers=headers)).json()] == [
            "SO"
        ]
        everything = (await api.get(f"/stations/{SID}/charging-limits", params={"ended": True}, headers=headers)).json()
        assert [(x["source"], x["end_reason"]) for x in everything] == [("SO", None), ("EMS", "cleared")]

        answer = await st.call(
            call201.NotifyEVChargingNeeds(
                evse_id=1,
                max_schedule_tuples=12,
                charging_needs={
                    "requested_energy_transfer": "DC",
                    "departure_time": "2026-12-07T06:30:00Z",
                    "dc_charging_parameters": {
                        "ev_max_current": 200,
                        "ev_max_voltage": 800,
                        "energy_amount": 240000,
                        "ev_max_power": 150000,
                        "state_of_charge": 35,
                        "ev_energy_capacity": 400000,
                    },
                },
            )
        )
        assert answer.status == "Accepted"
    (needs,) = (await api.get(f"/stations/{SID}/ev-charging-needs", headers=headers)).json()
    assert {
        k: needs[k] for k in ("evse_id", "transfer_mode", "departure_time", "energy_amount_wh", "ev_max_power_w")
    } == {
        "evse_id": 1,
        "transfer_mode": "DC",
        "departure_time": "2026-12-07T06:30:00Z",
        "energy_amount_wh": 240000.0,
        "ev_max_power_w": 150000.0,
    }
    assert (needs["state_of_charge"], needs["ev_energy_capacity_wh"], needs["max_schedule_tuples"]) == (
        35.0,
        400000.0,
        12,
    )
    kinds = {row["kind"] for row in await csms.rows("station_messages", station_id=SID)}
    assert {"charging_limit", "charging_limit_cleared", "ev_charging_needs"} <= kinds
