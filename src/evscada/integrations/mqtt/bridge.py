"""The MQTT bridge's runtime: one connection to the broker, kept up with back-off; publications from a bounded
backlog fed by the bus; commands from the command topic answered on a reply topic."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import ssl
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from evscada.bus import Bus
from evscada.core import events
from evscada.core.model import StationId
from evscada.core.services import Core
from evscada.integrations.bridge import commands
from evscada.integrations.bridge.backlog import Backlog, BridgeHealth, BridgeState, OverflowAlarm, cancelling, pump
from evscada.integrations.bridge.fleet import Change, FleetView
from evscada.integrations.mqtt.settings import MqttSettings
from evscada.integrations.mqtt.topics import Publication, Topics

log = logging.getLogger(__name__)

COMMANDS_AT_ONCE = 16  # commands in flight from MQTT; more wait (each waits at most the call timeout)
ACTOR = "mqtt"  # who the command log and audit trail say sent a command that came in over MQTT


class MqttBridge:
    def __init__(self, *, core: Core, bus: Bus, settings: MqttSettings) -> None:
        self.settings = settings
        self.topics = Topics(settings)
        self._core = core
        self._bus = bus
        self.fleet = FleetView(core)
        self._alarm = OverflowAlarm(core, "mqtt")
        self.backlog: Backlog[Publication] = Backlog(settings.queue_size, on_overflow=self._alarm)
        self._retained: dict[str, Publication] = {}  # the latest of each retained topic: republished on reconnect
        self._resync = False  # a retained publication was dropped: publish them all once the backlog is empty
        self._lookups: set[StationId] = set()  # stations whose site or session id must be read again
        self._looked_up = asyncio.Event()
        self._commands = asyncio.Semaphore(COMMANDS_AT_ONCE)
        self._command_tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False  # stop() was called: the connection loop ends instead of reconnecting
        self._connection_tasks: set[asyncio.Task[None]] = set()  # publishing and listening on the connection now
        # Clients of past connection attempts: a broker that wakes up may still answer one (see _forget_disconnection).
        self._past: collections.deque[aiomqtt.Client] = collections.deque(maxlen=64)
        self.state: BridgeState = "starting"
        self.detail: str | None = None
        self.published = 0
        self.commands_received = 0
        self.connections = 0

    # --- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the fleet (so the first connection publishes every station's state), then run in the background."""
        await self.fleet.load()
        for station in self.fleet.stations.values():
            for publication in self.topics.everything(station):
                self._retained[publication.topic] = publication
        self._task = asyncio.create_task(self._run(), name="mqtt-bridge")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            # Cancelled until it ends: a cancel arriving while aiomqtt disconnects can be swallowed by the client's
            # exit, and the loop would connect again (seen as a shutdown that never ended).
            while not self._task.done():
                self._task.cancel()
                # The connection's own tasks too: a task group cancels them once only, and aiomqtt's publish can
                # swallow that cancel, after which the task waits for the next publication forever.
                for child in list(self._connection_tasks):
                    child.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for past in self._past:
            _forget_disconnection(past)
        for task in list(self._command_tasks):
            task.cancel()
        await self._alarm.close()

    def health(self) -> BridgeHealth:
        return BridgeHealth(
            name="mqtt",
            state=self.state,
            detail=self.detail,
            queued=len(self.backlog),
            dropped=self.backlog.dropped,
            published=self.published,
            commands=self.commands_received,
        )

    async def _run(self) -> None:
        feeding = asyncio.create_task(pump(self._bus, self._on_event), name="mqtt-bridge-feed")
        lookups = asyncio.create_task(self._keep_looking_up(), name="mqtt-bridge-lookups")
        async with cancelling(feeding, lookups):
            await self._stay_connected()

    # --- events in ------------------------------------------------------------------------------------------------

    def _on_event(self, event: events.Event) -> None:
        """On the bus's pace: update the view, queue what changed. Never awaits."""
        if isinstance(event, events.StationConnected | events.StationBooted | events.TransactionStarted):
            self._lookups.add(event.station_id)
            self._looked_up.set()
        self._queue(self.fleet.apply(event))

    def _queue(self, changes: list[Change]) -> None:
        for change in changes:
            if change.kind == "site":
                for publication in self.topics.cleared(change.station, change.previous_site):
                    self._retained.pop(publication.topic, None)
                    self._put(publication)
            for publication in self.topics.render(change):
                if publication.retain:
                    self._retained[publication.topic] = publication
                self._put(publication)

    def _put(self, publication: Publication) -> None:
        dropped = self.backlog.dropped
        self.backlog.put(publication)
        if (
            self.backlog.dropped != dropped
            and self.backlog.dropped_last is not None
            and self.backlog.dropped_last.retain
        ):
            self._resync = True

    async def _keep_looking_up(self) -> None:
        """Read what events do not carry: a (new) station's site, a session's transaction id."""
        while True:
            await self._looked_up.wait()
            self._looked_up.clear()
            while self._lookups:
                station_id = self._lookups.pop()
                try:
                    changes = await self.fleet.refresh(station_id)
                    station = self.fleet.stations.get(station_id)
                    if station is not None:
                        for evse in station.evses.values():
                            if evse.session is not None and evse.session.station_transaction_id is None:
                                evse.session.station_transaction_id = await self.fleet.session_id(
                                    station_id, evse.session.transaction_pk
                                )
                                changes.append(Change("evse", station, evse))
                        changes.append(Change("station", station))
                    self._queue(changes)
                except Exception:  # the database may be away a moment: the next event of the station asks again
                    log.exception("mqtt bridge: could not read station %s", station_id)

    # --- the connection -------------------------------------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        tls = ssl.create_default_context(cafile=str(s.tls_ca_file) if s.tls_ca_file else None) if s.tls else None
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            identifier=s.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(self.topics.status, b"offline", qos=1, retain=True),
            keepalive=s.keepalive,
            timeout=s.publish_timeout,
            tls_context=tls,
        )

    async def _stay_connected(self) -> None:
        delay = self.settings.reconnect_initial
        while not self._stopping:
            client = self._client()
            self._past.append(client)
            try:
                async with client:
                    self.connections += 1
                    self.state, self.detail = "connected", f"{self.settings.host}:{self.settings.port}"
                    delay = self.settings.reconnect_initial
                    log.info("mqtt bridge: connected to %s", self.detail)
                    await client.subscribe(self.topics.commands, qos=1)
                    await client.publish(self.topics.status, b"online", qos=1, retain=True)
                    await self._republish(client)
                    async with asyncio.TaskGroup() as group:
                        for work in (self._publish_backlog(client), self._listen(client)):
                            task = group.create_task(work)
                            self._connection_tasks.add(task)
                            task.add_done_callback(self._connection_tasks.discard)
            except* aiomqtt.MqttError as errors:
                reason = "; ".join(str(e) for e in errors.exceptions)
                self.state, self.detail = "reconnecting", f"{reason} (retry in {delay:.1f} s)"
                log.warning("mqtt bridge: broker %s:%s: %s", self.settings.host, self.settings.port, self.detail)
            await asyncio.sleep(delay)
            for past in self._past:
                _forget_disconnection(past)
            delay = min(delay * 2, self.settings.reconnect_max)

    async def _send(
        self, client: aiomqtt.Client, publication: Publication, properties: Properties | None = None
    ) -> None:
        await client.publish(
            publication.topic,
            publication.payload,
            qos=publication.qos,
            retain=publication.retain,
            properties=properties,
            timeout=self.settings.publish_timeout,
        )
        self.published += 1

    async def _republish(self, client: aiomqtt.Client) -> None:
        """Every retained state as it is now: the broker may have restarted without them, or missed changes."""
        self._resync = False
        for publication in list(self._retained.values()):
            await self._send(client, publication)

    async def _publish_backlog(self, client: aiomqtt.Client) -> None:
        while True:
            publication = await self.backlog.get()
            try:
                await self._send(client, publication)
            except aiomqtt.MqttError:
                self.backlog.push_front(publication)  # sent again first after the reconnect
                raise
            if self._resync and not len(self.backlog):
                await self._republish(client)

    # --- commands in ----------------------------------------------------------------------------------------------

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            target = self.topics.command_of(message.topic.value)
            if target is None:
                continue
            self.commands_received += 1
            task = asyncio.create_task(self._command(client, message, *target))
            self._command_tasks.add(task)
            task.add_done_callback(self._command_tasks.discard)

    async def _command(self, client: aiomqtt.Client, message: aiomqtt.Message, station_id: str, action: str) -> None:
        response_topic = getattr(message.properties, "ResponseTopic", None) if message.properties else None
        correlation = getattr(message.properties, "CorrelationData", None) if message.properties else None
        body, reply_topic, request_id = self._body(message.payload, response_topic)
        async with self._commands:
            answer = await self._outcome(station_id, action, body)
        if request_id is not None:
            answer["request_id"] = request_id
        if reply_topic is None:
            log.warning("mqtt bridge: %s for %s answered %s but asked for no reply", action, station_id, answer)
            return
        properties = None
        if correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = correlation
        reply = Publication(reply_topic, json.dumps(answer).encode(), self.settings.qos_event, False)
        with contextlib.suppress(aiomqtt.MqttError):  # the connection went: the client asks again
            await self._send(client, reply, properties)

    def _body(self, payload: Any, response_topic: str | None) -> tuple[Any, str | None, str | None]:
        """The command's JSON body without its reply fields; where to answer; the client's request id."""
        try:
            body = json.loads(payload or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None, response_topic, None
        if not isinstance(body, dict):
            return body, response_topic, None
        client, request_id = body.pop("client", None), body.pop("request_id", None)
        request_id = str(request_id) if request_id is not None else None
        if response_topic is None and client is not None and request_id is not None:
            response_topic = self.topics.reply(str(client), request_id)
        return body, response_topic, request_id

    async def _outcome(self, station_id: str, action: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            return commands.refused(station_id, action, 'the body must be a JSON object, e.g. {"id_token": "CARD-1"}')
        try:
            command, parsed = commands.parse(action, body, allowed=frozenset(self.settings.command_actions))
            if command is None:  # a remote stop of the session running on an EVSE
                command = self.fleet.stop_command(station_id, getattr(parsed, "evse_id", None))
        except commands.CommandRefused as refusal:
            log.info("mqtt bridge: refused %s for %s: %s", action, station_id, refusal)
            return commands.refused(station_id, action, str(refusal))
        return await commands.send(
            self._core, station_id=station_id, command=command, actor=ACTOR, reason=parsed.reason
        )


def _forget_disconnection(client: aiomqtt.Client) -> None:
    """aiomqtt keeps the reason of a lost connection in a future nobody awaits once the client is left (a connection
    attempt given up on, answered by the broker later); reading it spares the log an "exception was never
    retrieved" (the outage itself is logged when it happens)."""
    lost = getattr(client, "_disconnected", None)
    if isinstance(lost, asyncio.Future) and lost.done() and not lost.cancelled():
        lost.exception()
