"""The IEC 60870-5-104 server with a c104 client over loopback: general interrogation returns the mapped objects of
a simulated station charging over a real socket, its power arrives spontaneously, a limit set-point acts through
the energy management and is confirmed, bad commands get a negative confirmation, strangers cannot connect;
over IEC 62351-3 TLS only a control centre with a certificate of the configured CA gets a session (issue 22). The
storage-dependent tests run on SQLite and on PostgreSQL.

No `from __future__ import annotations`: c104 checks the callbacks' annotations as objects."""

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import c104
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
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
async def csms_with_iec104(database_url: str, **iec104: Any) -> AsyncIterator[Csms]:
    settings = {"enabled": True, "port": free_port(), "common_address": COMMON_ADDRESS, "limit_poll_seconds": 0.5}
    settings.update(iec104)
    running = start_csms(test_settings(database_url, iec104=settings, load_management_interval_seconds=0.5))
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
        return await asyncio.to_thread(_transmit, point)

    async def interrogate(self) -> bool:
        return await asyncio.to_thread(_interrogate, self.connection)

    async def start_data_transfer(self) -> bool:
        """STARTDT, then a general interrogation, as a control centre does once connected. (c104's own init sends
        them without waiting for the server to accept the connection, and stays muted after a reconnect.)"""
        if not self.connection.is_connected:
            return False
        if self.connection.is_muted:
            await asyncio.to_thread(_unmute, self.connection)
        return await self.interrogate()


# c104's blocking calls run in threads through these, so that a crash inside c104 names the call in the trace.
def _transmit(point: c104.Point) -> bool:
    return bool(point.transmit(c104.Cot.ACTIVATION))


def _interrogate(connection: c104.Connection) -> bool:
    return bool(connection.interrogation(COMMON_ADDRESS))


def _unmute(connection: c104.Connection) -> bool:
    return bool(connection.unmute())


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


async def test_interrogation_spontaneous_power_and_a_limit_setpoint(database_url: str) -> None:
    async with csms_with_iec104(database_url, power_deadband_kw=1.0) as csms:
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
        async with httpx.AsyncClient(base_url=base, headers=await key_for(csms, Role.VIEWER), timeout=30) as api:
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


async def test_curtailment_on_and_off_and_a_site_without_load_management(database_url: str) -> None:
    async with csms_with_iec104(database_url, curtailment_kw=5.0) as csms:
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
        port = csms.app.iec104.settings.port
        # Raw frames, not c104's client: c104 crashes the process when it unmutes a connection the server is closing.
        # The TCP handshake completes before the server refuses: no data transfer ever starts.
        assert await interrogate_raw(port) is None
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # a set-point without asking first
        writer.write(setpoint_frame(block + 10, 10.0))
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(64), timeout=10) == b""  # closed, nothing confirmed
        writer.close()
        assert csms.app.iec104.refused_clients >= 2
        assert csms.app.iec104.commands_received == 0
        assert csms.app.load_manager.limits(site_id).curtailment is None


class Pki:
    """A CA with a server and a control centre certificate, and a stranger's CA with its own control centre, as PEM
    files in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        ca, ca_key = _issue(folder, "ca", "Grid Operator CA")
        _issue(folder, "server", "evscada", ca=(ca, ca_key), usage=ExtendedKeyUsageOID.SERVER_AUTH)
        _issue(folder, "centre", "control centre", ca=(ca, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        stranger, stranger_key = _issue(folder, "stranger-ca", "Somebody Else CA")
        _issue(folder, "stranger", "control centre", ca=(stranger, stranger_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH)

    def path(self, name: str) -> str:
        return str(self.folder / name)

    def client(self, name: str | None) -> ssl.SSLContext:
        """A control centre's TLS context: it checks the server's certificate (and its address) against our CA."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.path("ca.crt"))
        if name is not None:
            context.load_cert_chain(self.path(f"{name}.crt"), self.path(f"{name}.key"))
        return context


def _issue(
    folder: Path,
    name: str,
    common_name: str,
    *,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate and key written to name.crt / name.key: a CA when ca is None, else a leaf it signs."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if ca is None else ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
    certificate = builder.sign(key if ca is None else ca[1], hashes.SHA256())
    (folder / f"{name}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certificate, key


STARTDT_ACT, STARTDT_CON = bytes.fromhex("680407000000"), bytes.fromhex("68040b000000")
C_IC_NA_1, C_SE_NC_1, COT_ACT, COT_ACTTERM, COT_INROGEN = 100, 50, 6, 10, 20
ELEMENT_SIZE = {1: 1, 11: 3, 13: 5}  # M_SP_NA_1: SIQ; M_ME_NB_1: int16 + QDS; M_ME_NC_1: float32 + QDS


async def read_apdu(reader: asyncio.StreamReader) -> bytes:
    start, length = await reader.readexactly(2)
    assert start == 0x68, f"not an APDU start octet: {start:#x}"
    return await reader.readexactly(length)


def setpoint_frame(ioa: int, value: float) -> bytes:
    """An I-frame with a C_SE_NC_1 (short float set-point) activation."""
    asdu = bytes([C_SE_NC_1, 1, COT_ACT, 0]) + struct.pack("<H", COMMON_ADDRESS)
    asdu += ioa.to_bytes(3, "little") + struct.pack("<f", value) + b"\x00"
    return bytes([0x68, 4 + len(asdu), 0, 0, 0, 0]) + asdu


async def interrogate_raw(port: int, context: ssl.SSLContext | None = None) -> dict[int, Any] | None:
    """STARTDT, then a general interrogation, as raw IEC 104 frames, over Python's TLS (OpenSSL) when a context is
    given. (c104's own client cannot do TLS here: its Mbed TLS refuses to check a server without a host name, and
    c104 cannot set one.) The values interrogated by address; None when the server ends the connection before a
    session starts."""
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1" if context is not None else None
        )
    except (ssl.SSLError, ConnectionError):
        return None
    try:
        writer.write(STARTDT_ACT)
        await writer.drain()
        if await asyncio.wait_for(read_apdu(reader), timeout=5) != STARTDT_CON[2:]:
            return None
        ca = struct.pack("<H", COMMON_ADDRESS)
        asdu = bytes([C_IC_NA_1, 1, COT_ACT, 0]) + ca + b"\x00\x00\x00" + bytes([COT_INROGEN])
        writer.write(bytes([0x68, 4 + len(asdu), 0, 0, 0, 0]) + asdu)
        await writer.drain()
        values: dict[int, Any] = {}
        while True:
            apdu = await asyncio.wait_for(read_apdu(reader), timeout=5)
            if apdu[0] & 1:  # an S- or U-frame
                continue
            kind, count, cot = apdu[4], apdu[5] & 0x7F, apdu[6] & 0x3F
            if kind == C_IC_NA_1:
                assert not apdu[6] & 0x40, "the general interrogation was refused"
                if cot == COT_ACTTERM:
                    return values
                continue
            size = ELEMENT_SIZE.get(kind)
            if size is not None:
                values.update(_objects(apdu[10:], kind, size, count, sequence=bool(apdu[5] & 0x80)))
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


def _objects(body: bytes, kind: int, size: int, count: int, *, sequence: bool) -> dict[int, Any]:
    """An ASDU's information objects by address: each with its address, or (a sequence) the first address only."""
    found: dict[int, Any] = {}
    at, ioa = 0, 0
    for index in range(count):
        if index == 0 or not sequence:
            ioa = int.from_bytes(body[at : at + 3], "little")
            at += 3
        else:
            ioa += 1
        element = body[at : at + size]
        found[ioa] = struct.unpack("<f", element[:4])[0] if kind == 13 else element[0] & 1 if kind == 1 else element
        at += size
    return found


async def test_over_tls_only_a_control_centre_with_a_certificate_of_our_ca_gets_a_session(
    sqlite_url: str, tmp_path: Path
) -> None:
    pki = Pki(tmp_path)
    tls = {
        "tls": True,
        "tls_certificate": pki.path("server.crt"),
        "tls_private_key": pki.path("server.key"),
        "tls_client_ca": pki.path("ca.crt"),
    }
    async with csms_with_iec104(sqlite_url, **tls) as csms:
        site_id = await site_with_station(csms, "Depot Secure", capacity_kw=150)
        block = int(site_id) * STRIDE
        assert csms.app.iec104 is not None
        port = csms.app.iec104.settings.port

        async def interrogated() -> dict[int, Any] | None:
            values = await interrogate_raw(port, pki.client("centre"))
            return values if values and block + 1 in values else None

        values = await eventually(interrogated, timeout=20)  # sites made after the start appear at the next poll
        assert values, "the control centre with a certificate of the configured CA got no general interrogation"
        assert values[block + 1] == 150.0 and values[block + 2] == 0  # the limit in kW, not curtailed

        assert await interrogate_raw(port, pki.client(None)) is None  # no certificate
        assert await interrogate_raw(port, pki.client("stranger")) is None  # a certificate of another CA
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # no TLS at all
        writer.write(STARTDT_ACT)
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(64), timeout=10) == b""  # closed without a confirmation
        writer.close()
        assert "TLS" in (csms.app.iec104.health().detail or "")


def test_tls_settings_name_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="tls = true needs tls_private_key, tls_client_ca"):
        Iec104Settings(tls=True, tls_certificate="server.crt")  # type: ignore[arg-type]
    assert not Iec104Settings().tls  # off by default


async def test_a_tls_file_that_cannot_be_read_stops_the_start_with_its_setting_named(
    sqlite_url: str, tmp_path: Path
) -> None:
    pki = Pki(tmp_path)
    tls = {
        "tls": True,
        "tls_certificate": pki.path("server.crt"),
        "tls_private_key": pki.path("server.key"),
        "tls_client_ca": pki.path("missing-ca.crt"),
    }
    with pytest.raises(RuntimeError, match=r"tls_client_ca .*missing-ca\.crt is not a readable file"):
        async with csms_with_iec104(sqlite_url, **tls):
            pass


async def test_a_stalled_server_drops_its_own_backlog_counted_and_alarmed(sqlite_url: str) -> None:
    async with csms_with_iec104(sqlite_url, queue_size=10) as csms:
        await site_with_station(csms, "Depot Busy", "DC-STALL", capacity_kw=200)
        bridge = csms.app.iec104
        assert bridge is not None
        async with charging_station(csms, "DC-STALL"):
            outcome = await csms.app.core.commands.send(
                station_id=StationId("DC-STALL"),
                command=RemoteStart(id_token=IdToken("CARD-1", "ISO14443"), evse_id=1),
                actor="test",
                reason=None,
            )
            assert outcome.status == "Accepted"
            # c104 stalls (its locks held, as by a command callback waiting): every write to it waits behind this.
            gate = threading.Event()
            bridge._worker.submit(gate.wait, 60)
            try:
                before = len(await csms.rows("meter_samples", station_id="DC-STALL"))
                assert await eventually(lambda: _async(bridge.backlog.dropped > 10), timeout=30)
                assert len(bridge.backlog) <= 10
                assert len(await csms.rows("meter_samples", station_id="DC-STALL")) > before  # stations unaffected
                (alarm,) = await eventually(lambda: csms.rows("alarms", source="bridge"), timeout=10)
                assert alarm["state"] == "active" and "iec104" in alarm["message"]
                assert csms.app.http is not None
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}", timeout=30) as api:
                    (entry,) = (await api.get("/api/v1/health")).json()["bridges"]
                    assert entry["name"] == "iec104" and entry["dropped"] > 10
                    metrics = (await api.get("/metrics")).text
                dropped = next(line for line in metrics.splitlines() if line.startswith("evscada_bridge_dropped_total"))
                assert 'bridge="iec104"' in dropped and float(dropped.split()[-1]) > 10
            finally:
                gate.set()
            assert await eventually(lambda: _async(not len(bridge.backlog)), timeout=15)  # it catches up
            assert len(await csms.rows("alarms", source="bridge")) == 1  # raised once for the whole episode


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
