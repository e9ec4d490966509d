"""SQL for device models: the variables 2.0.1 stations report, one row per attribute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import StationId
from evscada.core.stations.device_model import DeviceModelFilter, DeviceVariable
from evscada.storage import tables as t

_KEY = (
    "component",
    "component_instance",
    "evse_id",
    "connector_id",
    "variable",
    "variable_instance",
    "attribute_type",
)


def _variable_row(station_id: StationId, v: DeviceVariable, now: datetime) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "component": v.component,
        "component_instance": v.component_instance or "",
        "evse_id": v.evse_id or 0,
        "connector_id": v.connector_id or 0,
        "variable": v.variable,
        "variable_instance": v.variable_instance or "",
        "attribute_type": v.attribute_type,
        "value": v.value,
        "mutability": v.mutability,
        "persistent": v.persistent,
        "constant": v.constant,
        "data_type": v.data_type,
        "unit": v.unit,
        "min_limit": v.min_limit,
        "max_limit": v.max_limit,
        "values_list": v.values_list,
        "supports_monitoring": v.supports_monitoring,
        "request_id": v.request_id,
        "reported_at": v.reported_at,
        "updated_at": now,
    }


def _variable_from(row: Mapping[str, Any]) -> DeviceVariable:
    return DeviceVariable(
        component=row["component"],
        component_instance=row["component_instance"] or None,
        evse_id=row["evse_id"] or None,
        connector_id=row["connector_id"] or None,
        variable=row["variable"],
        variable_instance=row["variable_instance"] or None,
        attribute_type=row["attribute_type"],
        value=row["value"],
        mutability=row["mutability"],
        persistent=row["persistent"],
        constant=row["constant"],
        data_type=row["data_type"],
        unit=row["unit"],
        min_limit=row["min_limit"],
        max_limit=row["max_limit"],
        values_list=row["values_list"],
        supports_monitoring=row["supports_monitoring"],
        request_id=row["request_id"],
        reported_at=row["reported_at"],
    )


class SqlDeviceModel:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def upsert(self, *, station_id: StationId, variables: Sequence[DeviceVariable]) -> None:
        if not variables:
            return
        now = datetime.now(UTC)
        # One row per key: a report naming an attribute twice keeps the later one.
        rows = {tuple(row[k] for k in _KEY): row for row in (_variable_row(station_id, v, now) for v in variables)}
        insert_ = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        statement = insert_(t.device_variables)
        replaced = {
            column.name: statement.excluded[column.name]
            for column in t.device_variables.columns
            if column.name not in _KEY and column.name != "station_id"
        }
        await self._c.execute(
            statement.on_conflict_do_update(index_elements=["station_id", *_KEY], set_=replaced),
            list(rows.values()),
        )

    async def list(self, *, station_id: StationId, where: DeviceModelFilter) -> list[DeviceVariable]:
        c = t.device_variables.c
        statement = (
            select(t.device_variables)
            .where(c.station_id == station_id)
            .order_by(*(c[k] for k in _KEY))
            .limit(where.limit)
            .offset(where.offset)
        )
        if where.component is not None:
            statement = statement.where(c.component == where.component)
        if where.variable is not None:
            statement = statement.where(c.variable == where.variable)
        if where.evse_id is not None:
            statement = statement.where(c.evse_id == where.evse_id)
        if where.attribute_type is not None:
            statement = statement.where(c.attribute_type == where.attribute_type)
        return [_variable_from(row) for row in (await self._c.execute(statement)).mappings()]
