"""The OPC UA server with the asyncua client: browse to a station, watch its power change while a simulated
station charges, start a session with the RemoteStart method; a read-only user sees and calls no method (issue 22)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asyncua import Client, Node, ua
from asyncua.ua.uaerrors import BadUserAccessDenied

from evscada.integrations.opcua.certificate import certificate_files
from evscada.integrations.opcua.settings import OpcUaSettings
from tests.conftest import start_csms, test_settings
from tests.integrations.bridges import charging_station, free_port, on_site
from tests.support import Csms, eventually

OPERATOR = {"username": "ignition", "password": "operator-pass", "role": "operator"}
READER = {"username": "wallboard", "password": "reader-pass", "role": "read_only"}
NAMESPACE = "urn:evscada:fleet"
CLIENT_URI = "urn:evscada:test-client"


@contextlib.asynccontextmanager
async def csms_with_opcua(database_url: str, tmp_path: Path, *policies: str) -> AsyncIterator[Csms]:
    settings = {
        "enabled": True,
        "port": free_port(),
        "users": [OPERATOR, READER],
        "security_policies": list(policies or ["None"]),
        "certificate_folder": str(tmp_path / "opcua"),
    }
    running = start_csms(test_settings(database_url, opcua=settings))
    csms = await anext(running)
    try:
        yield csms
    finally:
        await running.aclose()


@contextlib.asynccontextmanager
async def connected(csms: Csms, user: dict[str, str], security: str | None = None) -> AsyncIterator[Client]:
    assert csms.app.opcua is not None
    client = Client(f"opc.tcp://127.0.0.1:{csms.app.opcua.port}/evscada/", timeout=10)
    client.set_user(user["username"])
    client.set_password(user["password"])
    if security is not None:
        client.application_uri = CLIENT_URI  # as in the client's certificate
        await client.set_security_string(security)
    async with client:
        yield client


async def station_node(client: Client, station_id: str) -> tuple[Node, int]:
    ns = await client.get_namespace_index(NAMESPACE)
    return await client.nodes.objects.get_child([f"{ns}:Stations", f"{ns}:{station_id}"]), ns


class Changes:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def datachange_notification(self, node: Node, value: Any, data: Any) -> None:
        self.values.append(value)


async def _async(value: Any) -> Any:
    return value


async def test_a_scada_browses_watches_power_and_starts_a_session(database_url: str, tmp_path: Path) -> None:
    async with csms_with_opcua(database_url, tmp_path) as csms:
        await on_site(csms, "DC-UA", "Depot South")
        async with charging_station(csms, "DC-UA"), connected(csms, OPERATOR) as client:
            station, ns = await station_node(client, "DC-UA")
            assert await (await station.get_child(f"{ns}:State")).read_value() == "Available"
            assert await (await station.get_child(f"{ns}:Site")).read_value() == "Depot South"
            site = await client.nodes.objects.get_child([f"{ns}:Sites", f"{ns}:Depot South"])
            organised = await site.get_referenced_nodes(ua.ObjectIds.Organizes)
            assert station in organised
            names = {(await n.read_browse_name()).Name for n in await station.get_children()}
            assert {"RemoteStart", "RemoteStop", "ChangeAvailability", "Reset", "EVSE 1", "Power"} <= names

            power = await station.get_child([f"{ns}:EVSE 1", f"{ns}:Power"])
            watched = Changes()
            subscription = await client.create_subscription(100, watched)
            await subscription.subscribe_data_change(power)

            outcome, status, error = await station.call_method(
                f"{ns}:RemoteStart", ua.Variant("CARD-1", ua.VariantType.String), ua.Variant(1, ua.VariantType.UInt32)
            )
            assert (outcome, status, error) == ("answered", "Accepted", "")

            async def running() -> list[dict[str, Any]]:
                return await csms.rows("transactions", station_id="DC-UA", state="running")

            assert await eventually(running, timeout=10)
            assert await eventually(lambda: _async(any(v and v > 1000 for v in watched.values)), timeout=10)
            evse = await station.get_child(f"{ns}:EVSE 1")
            for name, unit in (("Energy", "Wh"), ("Current", "A"), ("Voltage", "V"), ("SoC", "%")):
                variable = await evse.get_child(f"{ns}:{name}")
                units = await (await variable.get_child("0:EngineeringUnits")).read_value()
                assert units.DisplayName.Text == unit
            assert 0 < await (await evse.get_child(f"{ns}:SoC")).read_value() <= 100
            sessions = await (await client.nodes.objects.get_child(f"{ns}:Sessions")).get_children()
            assert len(sessions) == 1
            (logged,) = await csms.rows("command_log", station_id="DC-UA")
            assert logged["actor"] == "opcua"
        assert csms.app.http is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}", timeout=30) as api:
            (bridge,) = (await api.get("/api/v1/health")).json()["bridges"]
            assert (bridge["name"], bridge["state"], bridge["dropped"]) == ("opcua", "listening", 0)
            assert 'evscada_bridge_up{bridge="opcua"} 1.0' in (await api.get("/metrics")).text


async def test_a_read_only_user_sees_no_method_and_cannot_call_one(sqlite_url: str, tmp_path: Path) -> None:
    async with csms_with_opcua(sqlite_url, tmp_path) as csms:
        await csms.add_station("DC-RO")
        async with charging_station(csms, "DC-RO"), connected(csms, READER) as client:
            station, _ = await station_node(client, "DC-RO")
            names = {(await n.read_browse_name()).Name for n in await station.get_children()}
            assert "EVSE 1" in names and "State" in names
            assert not names & {"RemoteStart", "RemoteStop", "ChangeAvailability", "Reset"}
            method = await _method_id(csms, "DC-RO")  # known from elsewhere: the reader's browse hides it
            with pytest.raises(BadUserAccessDenied):
                await station.call_method(
                    method, ua.Variant("CARD-1", ua.VariantType.String), ua.Variant(1, ua.VariantType.UInt32)
                )
        assert await csms.rows("command_log", station_id="DC-RO") == []


async def test_wrong_credentials_are_refused(sqlite_url: str, tmp_path: Path) -> None:
    async with csms_with_opcua(sqlite_url, tmp_path) as csms:
        with pytest.raises(ua.UaError):
            async with connected(csms, {"username": "ignition", "password": "not-the-password"}):
                pass


async def test_basic256sha256_sign_and_encrypt_with_a_generated_certificate(sqlite_url: str, tmp_path: Path) -> None:
    async with csms_with_opcua(sqlite_url, tmp_path, "Basic256Sha256_SignAndEncrypt") as csms:
        await csms.add_station("DC-SEC")  # it appears in the address space when it connects
        client_settings = OpcUaSettings(application_uri=CLIENT_URI, certificate_folder=str(tmp_path / "client"))
        certificate, key = await certificate_files(client_settings)
        assert (tmp_path / "opcua" / "server-certificate.der").is_file()  # the server made its own
        security = f"Basic256Sha256,SignAndEncrypt,{certificate},{key}"
        async with charging_station(csms, "DC-SEC"), connected(csms, READER, security) as client:
            station, ns = await station_node(client, "DC-SEC")
            assert await (await station.get_child(f"{ns}:Online")).read_value() is True
        with pytest.raises(Exception):  # noqa: B017  # the server offers no unencrypted endpoint
            async with connected(csms, READER):
                pass


async def _method_id(csms: Csms, station_id: str) -> ua.NodeId:
    """The RemoteStart method's node id, read from the server itself."""
    assert csms.app.opcua is not None and csms.app.opcua.server is not None
    server = csms.app.opcua.server
    ns = await server.get_namespace_index(NAMESPACE)
    node = await server.nodes.objects.get_child([f"{ns}:Stations", f"{ns}:{station_id}", f"{ns}:RemoteStart"])
    return node.nodeid
