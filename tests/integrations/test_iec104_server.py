"""The IEC 60870-5-104 server with a c104 client over loopback: general interrogation returns the mapped objects of
a simulated station charging over a real socket, its power arrives spontaneously, a limit set-point acts through
the energy management and is confirmed, bad commands get a negative confirmation, strangers cannot connect
(issue 22).

No `from __future__ import annotations`: c104 checks the callbacks' annotations as objects."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import c104
import httpx
import pytest
from pydantic import ValidationError

from evscada.core.access.users import Role
from evscada.core.control.commands import RemoteStart
from evscada.core.model import IdToken, SiteId, StationId
from evscada.integrations.iec104 import mapping
from evscada.integrations.iec104.server import worth_sending
from evscada.integrations.iec104.settings import Iec104Settings
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.integrations.bridges import charging_station, free_port
from tests.support import Csms, eventually

COMMON_ADDRESS = 7
STRIDE = 10_000  # the default site_stride: site n's block starts at n * 10000
STATE_AVAILABLE, STATE_CHARGING = 1, 2


@contextlib.asynccontextmanager
async def csms_with_iec104(sqlite_url: str, **iec104: Any) -> AsyncIterator[Csms]:
    settings = {"enabled": True, "port": free_port(), "common_address": COMMON_ADDRESS, "limit_poll_seconds": 0.5}
    settings.update(iec104)
    running = start_csms(test_settings(sqlite_url, iec104=settings, load_management_interval_seconds=0.5))
    csms = await anext(running)
    try:
        yield csms
    finally:
        await running.aclose()


async def site_with_station(
    csms: Csms, name: str, station_id: str | None = None, *, capacity_kw: float | None
) -> SiteId:
    """A site (with a grid connection of capacity_kw: load-managed) and, if given, a station placed on it."""
    site = await csms.app.core.sites.create(
        name=name, grid_capacity_w=None if capacity_kw is None else capacity_kw * 1e3
    )
    if station_id is not None:
        await csms.add_station(station_id)
        await csms.app.core.sites.place_station(
            station_id=StationId(station_id), name=None, site_id=site.id, latitude=None, longitude=None
        )
    return site.id


class ControlCentre:
    """A c104 client: its points are declared up front (as a control centre's engineer configures them)."""

    def __init__(self, port: int, points: dict[int, c104.Type]) -> None:
        self.client = c104.Client(command_timeout_ms=15_000)
        connection = self.client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.MUTED)
        assert connection is not None
        self.connection = connection
        station = connection.add_station(common_address=COMMON_ADDRESS)
        assert station is not None
        self.station = station
        self.spontaneous: dict[int, list[Any]] = {}
        for ioa, kind in points.items():
            point = station.add_point(io_address=ioa, type=kind)
            assert point is not None
            if kind.name.startswith("M_"):
                point.on_receive(callable=self._received)

    def _received(
        self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        if message.cot == c104.Cot.SPONTANEOUS:
            self.spontaneous.setdefault(point.io_address, []).append(_plain(point.value))
        return c104.ResponseState.NONE

    def value(self, ioa: int) -> Any:
        point = self.station.get_point(io_address=ioa)
        assert point is not None
        return _plain(point.value)

    def quality_good(self, ioa: int) -> bool:
        point = self.station.get_point(io_address=ioa)
        assert point is not None and point.quality is not None
        return bool(point.quality.is_good())

    async def command(self, ioa: int, value: float | bool) -> bool:
        """Send a command; True on a positive activation confirmation (c104 waits for it, off the event loop)."""
        point = self.station.get_point(io_address=ioa)
        assert point is not None
        point.value = value
        return await asyncio.to_thread(point.transmit, c104.Cot.ACTIVATION)

    async def interrogate(self) -> bool:
        return await asyncio.to_thread(self.connection.interrogation, COMMON_ADDRESS)

    async def start_data_transfer(self) -> bool:
        """STARTDT, then a general interrogation, as a control centre does once connected. (c104's own init sends
        them without waiting for the server to accept the connection, and stays muted after a reconnect.)"""
        if not self.connection.is_connected:
            return False
        if self.connection.is_muted:
            await asyncio.to_thread(self.connection.unmute)
        return await self.interrogate()


@contextlib.contextmanager
def control_centre(port: int, points: dict[int, c104.Type]) -> Iterator[ControlCentre]:
    centre = ControlCentre(port, points)
    centre.client.start()
    try:
        yield centre
    finally:
        centre.client.stop()


def site_points(block: int) -> dict[int, c104.Type]:
    t = c104.Type
    return {
        block: t.M_ME_NC_1,
        block + 1: t.M_ME_NC_1,
        block + 2: t.M_SP_NA_1,
        block + 10: t.C_SE_NC_1,
        block + 11: t.C_SC_NA_1,
    }


def station_points(block: int, index: int) -> dict[int, c104.Type]:
    first = block + 100 + 10 * index
    return {first: c104.Type.M_ME_NB_1, first + 1: c104.Type.M_ME_NC_1, first + 2: c104.Type.M_SP_NA_1}


async def connected(centre: ControlCentre) -> None:
    # c104's client sometimes talks before the server has taken the connection: it is dropped, and the next
    # connection (after the client's reconnect delay) works.
    assert await eventually(centre.start_data_transfer, timeout=40), "no general interrogation was confirmed"


async def test_interrogation_spontaneous_power_and_a_limit_setpoint(sqlite_url: str) -> None:
    async with csms_with_iec104(sqlite_url, power_deadband_kw=1.0) as csms:
        site_id = await site_with_station(csms, "Depot North", "DC-104", capacity_kw=200)
        block = int(site_id) * STRIDE
        state, power, online = block + 100, block + 101, block + 102
        assert csms.app.iec104 is not None
        async with charging_station(csms, "DC-104"):
            with control_centre(csms.app.iec104.settings.port, site_points(block) | station_points(block, 0)) as cc:
                await connected(cc)

                async def interrogated() -> bool:
                    await cc.interrogate()
                    return (
                        cc.value(online) is True and cc.value(state) == STATE_AVAILABLE and cc.value(block + 1) == 200
                    )

                assert await eventually(interrogated, timeout=10), (
                    csms.app.iec104.point_list(),
                    {ioa: cc.value(ioa) for ioa in (state, power, online, block, block + 1)},
                )
                assert cc.value(power) == 0.0 and cc.value(block) == 0.0
                assert cc.value(block + 1) == 200.0 and cc.quality_good(block + 1)  # the connection's capacity
                assert cc.value(block + 2) is False

                outcome = await csms.app.core.commands.send(
                    station_id=StationId("DC-104"),
                    command=RemoteStart(id_token=IdToken("CARD-1", "ISO14443"), evse_id=1),
                    actor="test",
                    reason=None,
                )
                assert outcome.status == "Accepted"

                async def charging_power_arrived() -> bool:
                    return any(kw > 1.0 for kw in cc.spontaneous.get(power, []))

                assert await eventually(charging_power_arrived, timeout=15), cc.spontaneous
                assert STATE_CHARGING in cc.spontaneous.get(state, [])
                assert any(kw > 1.0 for kw in cc.spontaneous.get(block, []))  # the site's total follows

                assert await cc.command(block + 10, 80.0) is True
                manager = csms.app.load_manager
                assert manager is not None
                curtailment = manager.limits(site_id).curtailment
                assert curtailment is not None and curtailment.limit.watts == 80e3
                assert await eventually(lambda: _async(80.0 in cc.spontaneous.get(block + 1, [])), timeout=5)
                assert await eventually(lambda: _async(True in cc.spontaneous.get(block + 2, [])), timeout=5)

                assert await cc.command(block + 10, -5.0) is False  # out of range: negative confirmation
                assert await cc.command(block + 10, 5e6) is False  # above setpoint_max_kw
                still = manager.limits(site_id).curtailment
                assert still is not None and still.limit.watts == 80e3

        assert csms.app.http is not None
        base = f"http://127.0.0.1:{csms.app.http.port}"
        async with httpx.AsyncClient(base_url=base, headers=await key_for(csms, Role.VIEWER)) as api:
            limits = (await api.get(f"/api/v1/sites/{site_id}/limits")).json()
            assert limits["curtailment"]["max_kw"] == 80.0  # in force through the core, as the REST API shows it
            points = {p["ioa"]: p for p in (await api.get("/api/v1/iec104/points")).json()}
            assert points[power]["station_id"] == "DC-104" and points[power]["type"] == "M_ME_NC_1"
            assert points[block + 10]["direction"] == "command"
            (bridge,) = (await api.get("/api/v1/health")).json()["bridges"]
            assert (bridge["name"], bridge["state"], bridge["dropped"]) == ("iec104", "listening", 0)
            metrics = (await api.get("/metrics")).text
            assert 'evscada_bridge_up{bridge="iec104"} 1.0' in metrics
            assert 'evscada_bridge_commands_total{bridge="iec104"} 3.0' in metrics
        audit = await csms.rows("audit_log", action="site.curtail")
        assert [row["actor"] for row in audit] == ["iec104"]


async def test_curtailment_on_and_off_and_a_site_without_load_management(sqlite_url: str) -> None:
    async with csms_with_iec104(sqlite_url, curtailment_kw=5.0) as csms:
        managed = await site_with_station(csms, "Managed", capacity_kw=100)
        unmanaged = await site_with_station(csms, "Unmanaged", capacity_kw=None)
        assert csms.app.iec104 is not None and csms.app.load_manager is not None
        points = site_points(int(managed) * STRIDE) | site_points(int(unmanaged) * STRIDE)
        with control_centre(csms.app.iec104.settings.port, points) as cc:
            await connected(cc)
            block = int(managed) * STRIDE

            mapped = csms.app.iec104.points

            async def listed() -> bool:  # sites made after the start appear at the next poll of the limits
                return block + 11 in mapped and int(unmanaged) * STRIDE + 11 in mapped

            assert await eventually(listed, timeout=5)
            assert await cc.command(block + 11, True) is True
            curtailment = csms.app.load_manager.limits(managed).curtailment
            assert curtailment is not None and curtailment.limit.watts == 5e3
            assert await eventually(lambda: _async(5.0 in cc.spontaneous.get(block + 1, [])), timeout=5)
            assert await cc.command(block + 11, False) is True
            assert csms.app.load_manager.limits(managed).curtailment is None

            other = int(unmanaged) * STRIDE
            assert await cc.command(other + 11, True) is False  # not load-managed: refused
            assert await cc.command(other + 10, 50.0) is False
            assert csms.app.load_manager.limits(unmanaged).curtailment is None
            await cc.interrogate()
            assert not cc.quality_good(other + 1)  # no limit in kW: quality invalid


async def test_a_client_not_allowed_cannot_connect_nor_command(sqlite_url: str) -> None:
    async with csms_with_iec104(sqlite_url, allowed_clients=["10.20.30.0/24"]) as csms:
        site_id = await site_with_station(csms, "Depot", capacity_kw=100)
        block = int(site_id) * STRIDE
        assert csms.app.iec104 is not None and csms.app.load_manager is not None
        with control_centre(csms.app.iec104.settings.port, site_points(block)) as cc:
            # The TCP handshake completes before the server refuses: no data transfer ever starts.
            assert not await eventually(cc.start_data_transfer, timeout=3)
            assert await cc.command(block + 10, 10.0) is False
        assert csms.app.iec104.refused_clients >= 1
        assert csms.app.iec104.commands_received == 0
        assert csms.app.load_manager.limits(site_id).curtailment is None


def test_addresses_follow_the_site_id_and_the_station_rank() -> None:
    settings = Iec104Settings(site_base=1000, site_stride=500, station_offset=100, station_stride=10)
    site = {spec.quantity: spec.ioa for spec in mapping.site_points(settings, SiteId(3))}
    assert site[mapping.Quantity.SITE_POWER] == 2500 and site[mapping.Quantity.LIMIT_SETPOINT] == 2510
    third = mapping.station_points(settings, SiteId(3), 2, StationId("C"))
    assert [(p.ioa, p.asdu_type) for p in third] == [(2620, "M_ME_NB_1"), (2621, "M_ME_NC_1"), (2622, "M_SP_NA_1")]
    assert mapping.station_capacity(settings) == 40
    assert mapping.station_points(settings, SiteId(3), 40, StationId("X")) == []  # the block is full
    assert mapping.site_points(settings, SiteId(40_000)) == []  # beyond 3-octet addresses


def test_power_goes_out_beyond_the_deadband_and_states_on_any_change() -> None:
    (power,) = [p for p in mapping.site_points(Iec104Settings(), SiteId(1)) if p.quantity == "site_power"]
    (curtailed,) = [p for p in mapping.site_points(Iec104Settings(), SiteId(1)) if p.quantity == "site_curtailed"]
    assert not worth_sending(power, 10.0, 10.8, 1.0)
    assert worth_sending(power, 10.0, 11.5, 1.0)
    assert worth_sending(power, 0.5, 0.0, 1.0)  # reaching 0 always goes out
    assert worth_sending(curtailed, False, True, 1.0)


def test_settings_refuse_a_client_that_is_no_address() -> None:
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Iec104Settings(allowed_clients=["control-centre.example"])
    allowed = Iec104Settings(allowed_clients=["10.20.30.0/24", "192.0.2.7"])
    assert allowed.allows("10.20.30.44") and allowed.allows("192.0.2.7") and not allowed.allows("127.0.0.1")


def _plain(value: Any) -> Any:
    """A scaled value (c104.Int16) as an int; the rest as c104 gives it."""
    return int(value) if isinstance(value, c104.Int16) else value  # type: ignore[call-overload]


async def _async(value: Any) -> Any:
    return value
