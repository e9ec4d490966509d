"""SQL for station rows and the messages stations send about themselves."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import RegistrationStatus, SecurityProfile, Station, StationId, StationMessage, Supply
from evscada.storage import tables as t

# On the path every connecting station takes, built once: SQLAlchemy memoizes a statement's cache key, so a
# prebuilt statement skips rebuilding the expression and its key on every call (docs/performance.md).
_GET_STATION = select(t.stations).where(t.stations.c.id == bindparam("station_id"))


def station_from(row: Mapping[str, Any]) -> Station:
    return Station(
        id=StationId(row["id"]),
        registration=RegistrationStatus(row["registration"]),
        security_profile=SecurityProfile(row["security_profile"]),
        password_hash=row["password_hash"],
        ocpp_version=row["ocpp_version"],
        vendor=row["vendor"],
        model=row["model"],
        serial_number=row["serial_number"],
        firmware_version=row["firmware_version"],
        modem_iccid=row["modem_iccid"],
        modem_imsi=row["modem_imsi"],
        online=row["online"],
        connected_since=row["connected_since"],
        last_seen=row["last_seen"],
        last_boot=row["last_boot"],
        disconnect_reason=row["disconnect_reason"],
        name=row["name"],
        site_id=row["site_id"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        feeder_id=row["feeder_id"],
        max_power_w=row["max_power_w"],
        supply=None if row["supply"] is None else Supply(row["supply"]),
        phases=row["phases"],
    )


class SqlStations:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, *, station_id: StationId) -> Station | None:
        row = (await self._c.execute(_GET_STATION, {"station_id": station_id})).mappings().first()
        return None if row is None else station_from(row)

    async def delete(self, *, station_id: StationId) -> bool:
        result = await self._c.execute(t.stations.delete().where(t.stations.c.id == station_id))
        return bool(result.rowcount)

    async def list(self) -> list[Station]:
        result = await self._c.execute(select(t.stations).order_by(t.stations.c.id))
        return [station_from(row) for row in result.mappings()]

    async def add(self, *, station: Station) -> None:
        await self._c.execute(insert(t.stations).values(**self._values(station), created_at=func.now()))

    async def save(self, *, station: Station) -> None:
        await self._c.execute(update(t.stations).where(t.stations.c.id == station.id).values(**self._values(station)))

    @staticmethod
    def _values(station: Station) -> dict[str, Any]:
        return {
            "id": station.id,
            "registration": str(station.registration),
            "security_profile": int(station.security_profile),
            "password_hash": station.password_hash,
            "ocpp_version": station.ocpp_version,
            "vendor": station.vendor,
            "model": station.model,
            "serial_number": station.serial_number,
            "firmware_version": station.firmware_version,
            "modem_iccid": station.modem_iccid,
            "modem_imsi": station.modem_imsi,
            "online": station.online,
            "connected_since": station.connected_since,
            "last_seen": station.last_seen,
            "last_boot": station.last_boot,
            "disconnect_reason": station.disconnect_reason,
            "name": station.name,
            "site_id": station.site_id,
            "latitude": station.latitude,
            "longitude": station.longitude,
            "feeder_id": station.feeder_id,
            "max_power_w": station.max_power_w,
            "supply": None if station.supply is None else str(station.supply),
            "phases": station.phases,
        }


class SqlStationMessages:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, station_id: StationId, message: StationMessage, received_at: datetime) -> None:
        await self._c.execute(
            insert(t.station_messages).values(
                station_id=station_id,
                kind=message.kind,
                timestamp=message.timestamp,
                received_at=received_at,
                summary=(message.summary or "")[:500] or None,
                payload=message.payload,
            )
        )
