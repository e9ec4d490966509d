"""The MQTT bridge against a real Mosquitto (its own, with credentials): retained states, telemetry with units,
commands answered on reply topics, reconnection after a broker restart, and a blocked broker that costs the bridge
its backlog but never the stations' messages (issue 22)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import httpx
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from evscada.core.model import StationId
from evscada.integrations.mqtt.bridge import MqttBridge
from tests.conftest import start_csms, test_settings
from tests.integrations.bridges import BROKER_PASSWORD, BROKER_USER, Broker, broker, charging_station, on_site
from tests.simulator.helpers import remote_start, send
from tests.support import Csms, eventually

__all__ = ["broker"]  # the fixture, used by name


@contextlib.asynccontextmanager
async def csms_with_mqtt(database_url: str, broker: Broker, **mqtt: Any) -> AsyncIterator[Csms]:
    settings = {
        "enabled": True,
        "port": broker.port,
        "username": BROKER_USER,
        "password": BROKER_PASSWORD,
        "client_id": "evscada-test",
        "command_actions": ["remote_start", "remote_stop"],
        "reconnect_initial": 0.2,
        "reconnect_max": 1.0,
        "publish_timeout": 1.0,
        "keepalive": 5,
        **mqtt,
    }
    running = start_csms(test_settings(database_url, mqtt=settings))
    csms = await anext(running)
    try:
        yield csms
    finally:
        await running.aclose()


class Watcher:
    """A SCADA's MQTT client: what it received, by topic."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[aiomqtt.Message] = []

    async def run(self) -> None:
        async for message in self.client.messages:
            self.messages.append(message)

    def on(self, topic: str) -> list[aiomqtt.Message]:
        return [m for m in self.messages if m.topic.value == topic]

    def last(self, topic: str) -> dict[str, Any] | None:
        found = self.on(topic)
        return json.loads(found[-1].payload) if found and found[-1].payload else None  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def watching(broker: Broker, *topics: str) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=BROKER_USER,
        password=BROKER_PASSWORD,
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        watcher = Watcher(client)
        for topic in topics:
            await client.subscribe(topic, qos=1)
        reader = asyncio.create_task(watcher.run())
        try:
            yield watcher
        finally:
            # Cancelled until it ends: aiomqtt's message iterator can swallow a cancel (seen as a hung test).
            while not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def bridge_of(csms: Csms) -> MqttBridge:
    assert csms.app.mqtt is not None
    return csms.app.mqtt


async def health(csms: Csms) -> dict[str, Any]:
    assert csms.app.http is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}", timeout=30) as client:
        body: dict[str, Any] = (await client.get("/api/v1/health")).json()
        return body


async def metrics(csms: Csms) -> str:
    assert csms.app.http is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.app.http.port}", timeout=30) as client:
        return (await client.get("/metrics")).text


async def test_a_booted_station_has_its_state_retained_under_its_site(broker: Broker, database_url: str) -> None:
    async with csms_with_mqtt(database_url, broker) as csms:
        site = await on_site(csms, "DC-1", "Depot North")
        async with charging_station(csms, "DC-1"):
            base = f"evscada/site/{site}/station/DC-1"
            bridge = bridge_of(csms)
            assert await eventually(lambda: _async(bridge.published and not len(bridge.backlog)), timeout=10)
            # A SCADA connecting afterwards learns the state from the broker's retained messages alone.
            async with watching(broker, "evscada/#") as scada:

                async def retained_available() -> bool:
                    state, evse = scada.last(f"{base}/state"), scada.last(f"{base}/evse/1/state")
                    return bool(state and evse and state["state"] == "Available" and evse["status"] == "Available")

                assert await eventually(retained_available, timeout=10), [m.topic.value for m in scada.messages]
                state = scada.last(f"{base}/state")
                assert state is not None
                assert (state["online"], state["site"], state["ocpp_version"]) == (True, "Depot North", "1.6")
                # Delivered from the broker's store (later changes arrive live, without the retain flag).
                assert scada.on(f"{base}/state")[0].retain and scada.on(f"{base}/evse/1/state")[0].retain
                assert scada.on("evscada/status")[-1].payload == b"online"
        (bridge,) = (await health(csms))["bridges"]
        assert bridge["name"] == "mqtt" and bridge["state"] == "connected" and bridge["dropped"] == 0


async def test_a_remote_start_over_mqtt_charges_and_telemetry_carries_units(broker: Broker, database_url: str) -> None:
    async with (
        csms_with_mqtt(database_url, broker) as csms,
        watching(broker, "evscada/#", "scada/replies/#") as scada,
    ):
        await csms.add_station("DC-2")  # at no site: the station tree without a site level
        async with charging_station(csms, "DC-2"):
            asked = Properties(PacketTypes.PUBLISH)
            asked.ResponseTopic, asked.CorrelationData = "scada/replies/start", b"corr-42"
            body = json.dumps({"id_token": "CARD-1", "evse_id": 1, "reason": "dispatcher request"})
            await scada.client.publish("evscada/command/DC-2/remote_start", body, qos=1, properties=asked)

            assert await eventually(lambda: _async(scada.on("scada/replies/start")), timeout=10)
            reply = scada.on("scada/replies/start")[0]
            assert reply.properties is not None and reply.properties.CorrelationData == b"corr-42"
            answer = json.loads(reply.payload)  # type: ignore[arg-type]
            assert (answer["outcome"], answer["status"], answer["command"]) == ("answered", "Accepted", "remote_start")
            (logged,) = await csms.rows("command_log", station_id="DC-2")
            assert (logged["actor"], logged["reason"]) == ("mqtt", "dispatcher request")

            telemetry = "evscada/station/DC-2/evse/1/telemetry"

            async def charging() -> bool:
                last = scada.last(telemetry)
                return bool(last and last["power"] and last["power"]["value"] > 1000)

            assert await eventually(charging, timeout=10), scada.last(telemetry)
            last = scada.last(telemetry)
            assert last is not None
            units = {name: last[name]["unit"] for name in ("power", "energy", "current", "voltage", "soc")}
            assert units == {"power": "W", "energy": "Wh", "current": "A", "voltage": "V", "soc": "%"}
            assert 0 < last["soc"]["value"] <= 100 and last["voltage"]["value"] > 100
            assert not scada.on(telemetry)[-1].retain

            # The EVSE's retained state names the session; a stop by EVSE answers on the fallback reply topic.
            evse_state = "evscada/station/DC-2/evse/1/state"

            async def session_named() -> bool:
                state = scada.last(evse_state)
                return bool(state and state["session"] and state["session"]["transaction_id"])

            assert await eventually(session_named, timeout=10), scada.last(evse_state)
            stop = {"evse_id": 1, "client": "scada-7", "request_id": "r1"}
            await scada.client.publish("evscada/command/DC-2/remote_stop", json.dumps(stop), qos=1)
            assert await eventually(lambda: _async(scada.last("evscada/reply/scada-7/r1")), timeout=10)
            stopped = scada.last("evscada/reply/scada-7/r1")
            assert stopped is not None and (stopped["outcome"], stopped["status"]) == ("answered", "Accepted")
            assert stopped["request_id"] == "r1"


async def test_an_action_not_allowed_is_refused_with_a_reply(broker: Broker, sqlite_url: str) -> None:
    async with (
        csms_with_mqtt(sqlite_url, broker) as csms,
        watching(broker, "evscada/reply/#") as scada,
    ):
        await csms.add_station("DC-3")
        async with charging_station(csms, "DC-3"):
            reset = {"kind": "hard", "client": "ops", "request_id": "1"}
            await scada.client.publish("evscada/command/DC-3/reset", json.dumps(reset), qos=1)
            bad_start = {"evse_id": 1, "client": "ops", "request_id": "2"}  # no id_token
            await scada.client.publish("evscada/command/DC-3/remote_start", json.dumps(bad_start), qos=1)
            await scada.client.publish("evscada/command/DC-3/remote_start", b"not json{", qos=1)  # no reply possible
            assert await eventually(lambda: _async(scada.last("evscada/reply/ops/2")), timeout=10)
            refused = scada.last("evscada/reply/ops/1")
            assert refused is not None and refused["outcome"] == "refused"
            assert "not allowed" in refused["error"] and "command_actions" in refused["error"]
            malformed = scada.last("evscada/reply/ops/2")
            assert malformed is not None and malformed["outcome"] == "refused"
            assert "id_token" in malformed["error"]
            assert await csms.rows("command_log", station_id="DC-3") == []  # nothing reached the station

        # The broker's credentials are the first gate: a client without them does not even connect.
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port, username=BROKER_USER, password="wrong"):
                pass


async def test_after_a_broker_restart_the_retained_state_is_published_again(broker: Broker, sqlite_url: str) -> None:
    async with csms_with_mqtt(sqlite_url, broker) as csms:
        await csms.add_station("DC-4")
        async with charging_station(csms, "DC-4"):
            bridge = bridge_of(csms)
            await broker.kill()  # the broker forgets every retained message (no persistence)

            async def reconnecting() -> bool:
                return (await health(csms))["bridges"][0]["state"] == "reconnecting"

            assert await eventually(reconnecting, timeout=10)
            await broker.start()
            assert await eventually(lambda: _async(bridge.state == "connected" and bridge.connections >= 2), timeout=10)
            async with watching(broker, "evscada/#") as scada:

                async def republished() -> bool:
                    state = scada.last("evscada/station/DC-4/state")
                    return bool(state and state["online"] and scada.last("evscada/station/DC-4/evse/1/state"))

                assert await eventually(republished, timeout=10), [m.topic.value for m in scada.messages]


async def test_a_blocked_broker_costs_the_bridge_its_backlog_not_the_stations_messages(
    broker: Broker, database_url: str
) -> None:
    async with csms_with_mqtt(database_url, broker, queue_size=10) as csms:
        await csms.add_station("DC-5")
        async with charging_station(csms, "DC-5"):
            await send(csms, remote_start(), station_id="DC-5")
            bridge = bridge_of(csms)
            assert await eventually(lambda: _async(bridge.published > 5), timeout=10)
            broker.freeze()  # the broker takes connections and reads nothing: publications pile up
            try:
                before = len(await csms.rows("meter_samples", station_id="DC-5"))
                assert await eventually(lambda: _async(bridge.backlog.dropped > 10), timeout=20)
                assert len(bridge.backlog) <= 10
                after = len(await csms.rows("meter_samples", station_id="DC-5"))
                assert after > before  # the station's readings kept being stored meanwhile
                (alarm,) = await eventually(lambda: csms.rows("alarms", source="bridge"), timeout=5)
                assert alarm["state"] == "active" and "mqtt" in alarm["message"]
                text = await metrics(csms)
                dropped = next(line for line in text.splitlines() if line.startswith("evscada_bridge_dropped_total"))
                assert 'bridge="mqtt"' in dropped and float(dropped.split()[-1]) > 10
                (entry,) = (await health(csms))["bridges"]  # the same count in the health entry
                assert entry["name"] == "mqtt" and entry["dropped"] > 10 and entry["queued"] <= 10
            finally:
                broker.thaw()
            assert await eventually(lambda: _async(bridge.state == "connected" and not len(bridge.backlog)), timeout=15)
            assert len(await csms.rows("alarms", source="bridge")) == 1  # raised once for the whole episode


async def _async(value: Any) -> Any:
    return value


async def test_a_station_moved_to_another_site_leaves_no_retained_state_behind(
    broker: Broker, database_url: str
) -> None:
    async with csms_with_mqtt(database_url, broker) as csms:
        north = await on_site(csms, "DC-6", "North")
        south = await csms.app.core.sites.create(name="South")
        async with charging_station(csms, "DC-6"):
            pass
        await csms.app.core.sites.place_station(
            station_id=StationId("DC-6"), name=None, site_id=south.id, latitude=None, longitude=None
        )
        async with charging_station(csms, "DC-6"), watching(broker, "evscada/#") as scada:
            # Connecting again, the bridge reads its new site: the state moves there, the old place is emptied.
            async def moved() -> bool:
                state = scada.last(f"evscada/site/{south.id}/station/DC-6/state")
                return bool(state and state["site"] == "South" and state["online"])

            assert await eventually(moved, timeout=10), [m.topic.value for m in scada.messages]
        assert await eventually(lambda: _async(bridge_of(csms).published and not len(bridge_of(csms).backlog)))
        async with watching(broker, f"evscada/site/{north}/#") as late:
            await asyncio.sleep(0.5)  # a retained message would arrive at once
            assert [m.topic.value for m in late.messages if m.payload] == []


async def test_stop_ends_even_when_a_publish_swallows_its_cancel(broker: Broker, sqlite_url: str) -> None:
    """aiomqtt's publish can swallow a cancel (seen in CI: a shutdown that never ended). The task group around the
    connection cancels its tasks once only, so stop() cancels them itself until the bridge has ended."""
    async with csms_with_mqtt(sqlite_url, broker) as csms:
        bridge = csms.app.mqtt
        assert bridge is not None
        assert await eventually(lambda: _async(bridge.state == "connected"), timeout=10)
        real_send = bridge._send
        publishing = asyncio.Event()

        async def send_swallowing_a_cancel(*args: Any, **kwargs: Any) -> None:
            publishing.set()
            with contextlib.suppress(asyncio.CancelledError):  # swallowed, as aiomqtt can
                await asyncio.sleep(3600)  # a publish whose acknowledgement does not come
            await real_send(*args, **kwargs)

        bridge._send = send_swallowing_a_cancel  # type: ignore[method-assign]
        await csms.add_station("CP-SWALLOW")  # an event, so a publication goes out
        await csms.app.core.stations.connected(station_id=StationId("CP-SWALLOW"), ocpp_version="1.6")
        await asyncio.wait_for(publishing.wait(), timeout=10)
        await asyncio.wait_for(bridge.stop(), timeout=15)  # before the change: waited forever
        assert bridge._task is None
