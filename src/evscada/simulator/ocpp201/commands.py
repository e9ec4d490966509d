"""How a simulated 2.0.1 station answers the CSMS's commands: map in, ask the station, map out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from evscada.simulator.config import Change
from evscada.simulator.links.answering import Answering, accepted, parse_time
from evscada.simulator.model import Trigger, now_iso
from evscada.simulator.ocpp201 import device_report
from evscada.simulator.ocpp201.security import Security201
from evscada.simulator.ocpp201.smart_charging import SmartCharging201, profile201
from evscada.simulator.station import SimulatedStation
from evscada.simulator.station_firmware import PLAIN_16, SIGNED
from evscada.simulator.station_firmware import start as _start

_TRIGGERS = {
    "BootNotification": Trigger.BOOT,
    "Heartbeat": Trigger.HEARTBEAT,
    "StatusNotification": Trigger.STATUS,
    "MeterValues": Trigger.METER,
    "FirmwareStatusNotification": Trigger.FIRMWARE,
    "LogStatusNotification": Trigger.DIAGNOSTICS,
    "SignChargingStationCertificate": Trigger.SIGN_CERTIFICATE,
}

_CHANGE = {Change.ACCEPTED: "Accepted", Change.REJECTED: "Rejected", Change.UNKNOWN: "UnknownVariable"}


def _get_variable(station: SimulatedStation, item: dict[str, Any]) -> dict[str, Any]:
    component, variable = item["component"], item["variable"]
    answer: dict[str, Any] = {"component": component, "variable": variable}
    setting = station.config.by_variable(component["name"], variable["name"])
    if not station.config.knows_component(component["name"]):
        answer["attribute_status"] = "UnknownComponent"
    elif setting is None:
        answer["attribute_status"] = "UnknownVariable"
    elif setting.secret:  # WriteOnly (BasicAuthPassword)
        answer["attribute_status"] = "Rejected"
    elif item.get("attribute_type", "Actual") != "Actual":
        answer["attribute_status"] = "NotSupportedAttributeType"
    else:
        answer |= {"attribute_status": "Accepted", "attribute_value": setting.value}
    return answer


def _set_variable(station: SimulatedStation, item: dict[str, Any]) -> dict[str, Any]:
    component, variable = item["component"], item["variable"]
    answer: dict[str, Any] = {"component": component, "variable": variable}
    if not station.config.knows_component(component["name"]):
        return answer | {"attribute_status": "UnknownComponent"}
    if item.get("attribute_type", "Actual") != "Actual":
        return answer | {"attribute_status": "NotSupportedAttributeType"}
    setting = station.config.by_variable(component["name"], variable["name"])
    return answer | {"attribute_status": _CHANGE[station.change_setting(setting, item["attribute_value"])]}


class Commands201(SmartCharging201, Security201, Answering):
    version: ClassVar[str] = "2.0.1"

    @on(Action.request_start_transaction)
    def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        station = self.station
        if charging_profile is not None and charging_profile["charging_profile_purpose"] != "TxProfile":
            return call_result.RequestStartTransaction(status="Rejected")  # only a TxProfile may come with it
        connector = station.claim(evse_id, id_token["id_token"], remote_start_id)
        if connector is not None and charging_profile is not None:
            profile = profile201(connector, charging_profile, datetime.now(UTC))
            if profile is None or not station.install_profile(profile, remote_start=True):
                station.release(connector)
                return call_result.RequestStartTransaction(status="Rejected")
        if connector is not None:
            self._then(lambda: station.start_session(connector))
        return call_result.RequestStartTransaction(status=accepted(connector is not None))

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        station = self.station
        session = station.find_transaction(transaction_id)
        if session is not None:
            self._then(lambda: station.stop_session(session, "Remote"))
        return call_result.RequestStopTransaction(status=accepted(session is not None))

    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any) -> Any:
        station = self.station
        connectors = station.targets(evse["id"] if evse else None)  # each simulated EVSE has one connector
        if connectors is None:
            return call_result.ChangeAvailability(status="Rejected")
        status = station.change_availability(connectors, operative=operational_status == "Operative")
        self._then(lambda: station.report(connectors))
        return call_result.ChangeAvailability(status=status)

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        if evse_id is not None:  # resetting one EVSE is optional in 2.0.1; this station reboots whole
            return call_result.Reset(status="Rejected")
        station = self.station
        self._then(lambda: station.reset("ImmediateReset"))
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        state = self.station.connectors.get(evse_id)
        if state is None or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        if state.session is not None:  # 2.0.1: the CSMS must stop the transaction first; says why, as stations do
            return call_result.UnlockConnector(
                status="OngoingAuthorizedTransaction",
                status_info={"reason_code": "TxInProgress", "additional_info": "stop the session first"},
            )
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        uplink = self.station.uplink
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=uplink.owes())
        return call_result.GetTransactionStatus(
            messages_in_queue=uplink.owes(transaction_id),
            ongoing_indicator=self.station.find_transaction(transaction_id) is not None,
        )

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return call_result.GetVariables(
            get_variable_result=[_get_variable(self.station, item) for item in get_variable_data]
        )

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return call_result.SetVariables(
            set_variable_result=[_set_variable(self.station, item) for item in set_variable_data]
        )

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any) -> Any:
        station = self.station
        message = _TRIGGERS.get(requested_message)
        if message is None:
            return call_result.TriggerMessage(status="NotImplemented")
        evse_id = evse["id"] if evse else None
        if evse_id is not None and station.targets(evse_id) is None:
            return call_result.TriggerMessage(status="Rejected")
        self._then(lambda: station.trigger(message, evse_id))
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        entries = {e["id_token"]["id_token"]: e.get("id_token_info") for e in local_authorization_list or []}
        status = self.station.local_list.update(version=version_number, full=update_type == "Full", entries=entries)
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=self.station.local_list.version)

    @on(Action.reserve_now)
    def on_reserve_now(
        self, id: int, expiry_date_time: str, id_token: dict[str, Any], evse_id: int | None = None, **_: Any
    ) -> Any:
        station = self.station
        status = station.reserve(id, evse_id, id_token["id_token"], parse_time(expiry_date_time))
        connector = station.reserved_connector(id)
        if connector is not None:
            self._then(lambda: station.report([connector]))
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        station = self.station
        connector = station.cancel_reservation(reservation_id)
        if connector is not None:
            self._then(lambda: station.report([connector]))
        return call_result.CancelReservation(status=accepted(connector is not None))

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        return call_result.GetBaseReport(
            status=self._report(request_id, device_report.base_report(self.station, report_base))
        )

    @on(Action.get_report)
    def on_get_report(
        self,
        request_id: int,
        component_criteria: list[str] | None = None,
        component_variable: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        items = device_report.report(self.station, component_criteria, component_variable)
        return call_result.GetReport(status=self._report(request_id, items))

    def _report(self, request_id: int, items: list[dict[str, Any]]) -> str:
        """Accepted, and the report follows the answer in NotifyReport parts; EmptyResultSet when nothing matches."""
        if not items:
            return "EmptyResultSet"
        station = self.station
        limit = station.config.by_variable("DeviceDataCtrlr", "ItemsPerMessage")
        chunks = device_report.parts(items, int(limit.value) if limit else 32)

        def send_report() -> None:
            station.spawn(self._notify_report(request_id, chunks), f"report-{request_id}")

        self._then(send_report)
        return "Accepted"

    async def _notify_report(self, request_id: int, chunks: list[list[dict[str, Any]]]) -> None:
        generated_at = now_iso()
        for seq_no, chunk in enumerate(chunks):
            payload = {
                "requestId": request_id,
                "generatedAt": generated_at,
                "seqNo": seq_no,
                "tbc": seq_no < len(chunks) - 1,
                "reportData": snake_to_camel_case(chunk),  # the report is built in the handlers' snake_case
            }
            await self.request("NotifyReport", payload)  # type: ignore[attr-defined]  # Words201, mixed in beside

    # Effects run once the answer is sent.

    @after(Action.request_start_transaction)
    def after_request_start(self, **_: Any) -> None:
        self._answered()

    @after(Action.request_stop_transaction)
    def after_request_stop(self, **_: Any) -> None:
        self._answered()

    @after(Action.change_availability)
    def after_change_availability(self, **_: Any) -> None:
        self._answered()

    @after(Action.reset)
    def after_reset(self, **_: Any) -> None:
        self._answered()

    @after(Action.trigger_message)
    def after_trigger_message(self, **_: Any) -> None:
        self._answered()

    @after(Action.reserve_now)
    def after_reserve_now(self, **_: Any) -> None:
        self._answered()

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, **_: Any) -> None:
        self._answered()

    @after(Action.get_base_report)
    def after_get_base_report(self, **_: Any) -> None:
        self._answered()

    @after(Action.get_report)
    def after_get_report(self, **_: Any) -> None:
        self._answered()

    @on(Action.get_log)
    def on_get_log(self, log_type: str, request_id: int, log: dict[str, Any], **_: Any) -> Any:
        station = self.station
        filename, content = station.files.make(log_type)

        async def report(status: str) -> object:
            return await self.request(  # type: ignore[attr-defined]  # Words, mixed in beside
                "LogStatusNotification", {"status": status, "requestId": request_id}
            )

        def upload() -> None:
            station.spawn(
                station.files.deliver(log["remote_location"], filename, content, report, "UploadFailure"), "log-upload"
            )

        self._then(upload)
        return call_result.GetLog(status="Accepted", filename=filename)

    @after(Action.get_log)
    def after_get_log(self, **_: Any) -> None:
        self._answered()

    @on(Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        station = self.station

        async def report(status: str) -> object:
            return await self.request(  # type: ignore[attr-defined]  # Words, mixed in beside
                "FirmwareStatusNotification", {"status": status, "requestId": request_id}
            )

        words = SIGNED if firmware.get("signature") else PLAIN_16  # 2.0.1 says the same words as 1.6 here
        location, retrieve_at = firmware["location"], parse_time(firmware["retrieve_date_time"])

        def begin() -> None:  # once the answer is sent
            update = station.firmware.update(
                location=location, retrieve_at=retrieve_at, report=report, words=words, station=station
            )
            _start(station, update, "firmware-update")

        self._then(begin)
        return call_result.UpdateFirmware(status="Accepted")

    @after(Action.update_firmware)
    def after_update_firmware(self, **_: Any) -> None:
        self._answered()

    @on(Action.publish_firmware)
    def on_publish_firmware(self, location: str, checksum: str, request_id: int, **_: Any) -> Any:
        station = self.station

        async def report(status: str, served: str | None = None) -> object:
            payload: dict[str, Any] = {"status": status, "requestId": request_id}
            if served is not None:
                payload["location"] = [served]
            return await self.request("PublishFirmwareStatusNotification", payload)  # type: ignore[attr-defined]

        self._then(lambda: _start(station, station.firmware.publish(location, checksum, report), "publish"))
        return call_result.PublishFirmware(status="Accepted")

    @after(Action.publish_firmware)
    def after_publish_firmware(self, **_: Any) -> None:
        self._answered()

    @on(Action.unpublish_firmware)
    def on_unpublish_firmware(self, checksum: str, **_: Any) -> Any:
        found = self.station.firmware.unpublish(checksum)
        return call_result.UnpublishFirmware(status="Unpublished" if found else "NoFirmware")
