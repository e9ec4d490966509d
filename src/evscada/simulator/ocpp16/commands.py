"""How a simulated 1.6 station answers the CSMS's commands: map in, ask the station, map out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.datatypes import KeyValue
from ocpp.v16.enums import Action

from evscada.simulator.charging_limits import Purpose
from evscada.simulator.config import Change
from evscada.simulator.links.answering import Answering, accepted, parse_time
from evscada.simulator.model import Trigger
from evscada.simulator.ocpp16.security import Security16
from evscada.simulator.ocpp16.smart_charging import PURPOSES, SmartCharging16, profile16
from evscada.simulator.station_firmware import PLAIN_16, SIGNED, Report, Words
from evscada.simulator.station_firmware import start as _start

_TRIGGERS = {
    "BootNotification": Trigger.BOOT,
    "Heartbeat": Trigger.HEARTBEAT,
    "StatusNotification": Trigger.STATUS,
    "MeterValues": Trigger.METER,
    "FirmwareStatusNotification": Trigger.FIRMWARE,
    "DiagnosticsStatusNotification": Trigger.DIAGNOSTICS,
}

_CHANGE = {Change.ACCEPTED: "Accepted", Change.REJECTED: "Rejected", Change.UNKNOWN: "NotSupported"}


class Commands16(SmartCharging16, Security16, Answering):
    version: ClassVar[str] = "1.6"

    @on(Action.remote_start_transaction)
    def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        station = self.station
        if charging_profile is not None and PURPOSES[charging_profile["charging_profile_purpose"]] is not Purpose.TX:
            return call_result.RemoteStartTransaction(status="Rejected")  # 1.6 5.11: only a TxProfile
        connector = station.claim(connector_id, id_tag)
        if connector is not None and charging_profile is not None:
            profile = profile16(connector, charging_profile, datetime.now(UTC))
            if not station.install_profile(profile, remote_start=True):
                station.release(connector)
                return call_result.RemoteStartTransaction(status="Rejected")
        if connector is not None:
            self._then(lambda: station.start_session(connector))
        return call_result.RemoteStartTransaction(status=accepted(connector is not None))

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        station = self.station
        session = station.find_transaction(str(transaction_id))
        if session is not None:
            self._then(lambda: station.stop_session(session, "Remote"))
        return call_result.RemoteStopTransaction(status=accepted(session is not None))

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        station = self.station
        connectors = station.targets(connector_id)
        if connectors is None:
            return call_result.ChangeAvailability(status="Rejected")
        status = station.change_availability(connectors, operative=type == "Operative")
        self._then(lambda: station.report(connectors))
        return call_result.ChangeAvailability(status=status)

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:
        station = self.station
        self._then(lambda: station.reset("HardReset" if type == "Hard" else "SoftReset"))
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        station = self.station
        state = station.connectors.get(connector_id)
        if state is None:
            return call_result.UnlockConnector(status="NotSupported")
        session = state.session
        if session is not None:  # 1.6: unlocking a connector ends its session
            self._then(lambda: station.stop_session(session, "UnlockCommand"))
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        known, unknown = self.station.config.select(key)
        return call_result.GetConfiguration(
            configuration_key=[KeyValue(key=s.key or "", readonly=s.readonly, value=s.value) for s in known],
            unknown_key=unknown or None,
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        station = self.station
        if key == "AuthorizationKey":  # the security whitepaper sends the password hex-encoded
            try:
                value = bytes.fromhex(value).decode()
            except ValueError:
                return call_result.ChangeConfiguration(status="Rejected")
        change = station.change_setting(station.config.by_key(key), value)
        return call_result.ChangeConfiguration(status=_CHANGE[change])

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None, **_: Any) -> Any:
        station = self.station
        message = _TRIGGERS.get(requested_message)
        if message is None:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and station.targets(connector_id) is None:
            return call_result.TriggerMessage(status="Rejected")
        self._then(lambda: station.trigger(message, connector_id))
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        entries = {entry["id_tag"]: entry.get("id_tag_info") for entry in local_authorization_list or []}
        status = self.station.local_list.update(version=list_version, full=update_type == "Full", entries=entries)
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self.station.local_list.version)

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any) -> Any:
        station = self.station
        status = station.reserve(reservation_id, connector_id, id_tag, parse_time(expiry_date))
        connector = station.reserved_connector(reservation_id)
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

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any) -> Any:
        station = self.station
        filename, content = station.files.make("diagnostics")

        async def report(status: str) -> object:
            return await self.request(  # type: ignore[attr-defined]  # Words, mixed in beside
                "DiagnosticsStatusNotification", {"status": status}
            )

        def upload() -> None:
            station.spawn(
                station.files.deliver(location, filename, content, report, "UploadFailed"), "diagnostics-upload"
            )

        self._then(upload)
        return call_result.GetDiagnostics(file_name=filename)

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

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> Any:
        async def report(status: str) -> object:
            return await self.request("FirmwareStatusNotification", {"status": status})  # type: ignore[attr-defined]

        self._firmware(location, retrieve_date, report, PLAIN_16)
        return call_result.UpdateFirmware()

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        async def report(status: str) -> object:
            return await self.request(  # type: ignore[attr-defined]  # Words, mixed in beside
                "SignedFirmwareStatusNotification", {"status": status, "requestId": request_id}
            )

        self._firmware(firmware["location"], firmware["retrieve_date_time"], report, SIGNED)
        return call_result.SignedUpdateFirmware(status="Accepted")

    def _firmware(self, location: str, retrieve: str, report: Report, words: Words) -> None:
        station, retrieve_at = self.station, parse_time(retrieve)

        def begin() -> None:  # once the answer is sent
            update = station.firmware.update(
                location=location, retrieve_at=retrieve_at, report=report, words=words, station=station
            )
            _start(station, update, "firmware-update")

        self._then(begin)

    # Effects run once the answer is sent.

    @after(Action.remote_start_transaction)
    def after_remote_start(self, **_: Any) -> None:
        self._answered()

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, **_: Any) -> None:
        self._answered()

    @after(Action.change_availability)
    def after_change_availability(self, **_: Any) -> None:
        self._answered()

    @after(Action.reset)
    def after_reset(self, **_: Any) -> None:
        self._answered()

    @after(Action.unlock_connector)
    def after_unlock_connector(self, **_: Any) -> None:
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

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, **_: Any) -> None:
        self._answered()

    @after(Action.get_log)
    def after_get_log(self, **_: Any) -> None:
        self._answered()

    @after(Action.update_firmware)
    def after_update_firmware(self, **_: Any) -> None:
        self._answered()

    @after(Action.signed_update_firmware)
    def after_signed_update_firmware(self, **_: Any) -> None:
        self._answered()
