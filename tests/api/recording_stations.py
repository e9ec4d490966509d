"""Real `ocpp`-library stations that answer the local-list, reservation and report commands and remember them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201

from tests.support import Csms, Recording, connected_station


class Station16(Recording, ChargePoint16):  # type: ignore[misc]
    @on("SendLocalList")
    def send_local_list(self, **p: Any) -> Any:
        status = self.got("SendLocalList", p)
        if status == "Accepted":
            self.list_version = p["list_version"]
        return result16.SendLocalList(status=status)

    @on("GetLocalListVersion")
    def get_local_list_version(self, **p: Any) -> Any:
        self.got("GetLocalListVersion", p)
        return result16.GetLocalListVersion(list_version=self.list_version)

    @on("ReserveNow")
    def reserve_now(self, **p: Any) -> Any:
        return result16.ReserveNow(status=self.got("ReserveNow", p))

    @on("CancelReservation")
    def cancel_reservation(self, **p: Any) -> Any:
        return result16.CancelReservation(status=self.got("CancelReservation", p))


class Station201(Recording, ChargePoint201):  # type: ignore[misc]
    @on("SendLocalList")
    def send_local_list(self, **p: Any) -> Any:
        status = self.got("SendLocalList", p)
        if status == "Accepted":
            self.list_version = p["version_number"]
        return result201.SendLocalList(status=status)

    @on("GetLocalListVersion")
    def get_local_list_version(self, **p: Any) -> Any:
        self.got("GetLocalListVersion", p)
        return result201.GetLocalListVersion(version_number=self.list_version)

    @on("ReserveNow")
    def reserve_now(self, **p: Any) -> Any:
        return result201.ReserveNow(status=self.got("ReserveNow", p))

    @on("CancelReservation")
    def cancel_reservation(self, **p: Any) -> Any:
        return result201.CancelReservation(status=self.got("CancelReservation", p))

    @on("GetBaseReport")
    def get_base_report(self, **p: Any) -> Any:
        return result201.GetBaseReport(status=self.got("GetBaseReport", p))

    @on("GetReport")
    def get_report(self, **p: Any) -> Any:
        return result201.GetReport(status=self.got("GetReport", p))


STATIONS: dict[str, tuple[str, type[Recording]]] = {"1.6": ("ocpp1.6", Station16), "2.0.1": ("ocpp2.0.1", Station201)}


@contextlib.asynccontextmanager
async def recording_station(csms: Csms, station_id: str, version: str) -> AsyncIterator[Any]:
    """A registered, connected station of that version; answers Accepted unless told otherwise in `answers`."""
    await csms.add_station(station_id)
    subprotocol, cls = STATIONS[version]
    async with connected_station(cls, subprotocol, csms, station_id, response_timeout=5, until_registered=True) as st:
        yield st
