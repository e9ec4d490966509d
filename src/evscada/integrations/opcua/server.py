"""The OPC UA server: Sites, Stations (with their EVSEs) and Sessions as objects whose variables follow the core's
events, and methods on each station (RemoteStart, RemoteStop, ChangeAvailability, Reset) that send commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asyncua import Node, Server, ua

from evscada.bus import Bus
from evscada.core.control import commands as c
from evscada.core.model import IdToken, SiteId, StationId, TransactionPk
from evscada.core.services import Core
from evscada.integrations.bridge import commands
from evscada.integrations.bridge.backlog import Backlog, BridgeHealth, BridgeState, OverflowAlarm, cancelling, pump
from evscada.integrations.bridge.fleet import Change, EvseLive, FleetView, StationLive
from evscada.integrations.opcua.access import RoleRules, SettingsUsers, hide_methods_from_readers
from evscada.integrations.opcua.certificate import certificate_files
from evscada.integrations.opcua.settings import OpcUaSettings

log = logging.getLogger(__name__)

NAMESPACE = "urn:evscada:fleet"
ACTOR = "opcua"
_POLICIES = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Basic256Sha256_SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}
_UNITS_URI = "http://www.opcfoundation.org/UA/units/un/cefact"
# UNECE Recommendation 20 codes of the units the variables carry (OPC UA Part 8: EUInformation.UnitId).
_UNECE = {
    "W": ("WTT", "watt"),
    "Wh": ("WHR", "watt hour"),
    "A": ("AMP", "ampere"),
    "V": ("VLT", "volt"),
    "%": ("P1", "percent"),
}
_WAITING = ua.StatusCode(ua.UInt32(ua.StatusCodes.BadWaitingForInitialData))


def _unit(symbol: str) -> ua.EUInformation:
    code, name = _UNECE[symbol]
    unit_id = 0
    for ch in code:
        unit_id = (unit_id << 8) | ord(ch)
    return ua.EUInformation(
        NamespaceUri=_UNITS_URI,
        UnitId=unit_id,
        DisplayName=ua.LocalizedText(symbol),
        Description=ua.LocalizedText(name),
    )


@dataclass(slots=True)
class EvseNodes:
    node: Node
    variables: dict[str, Node]


@dataclass(slots=True)
class StationNodes:
    node: Node
    variables: dict[str, Node]
    evses: dict[int, EvseNodes] = field(default_factory=dict)
    site_id: SiteId | None = None


# Variables of each object: browse name -> (variant type, unit or None).
STATION_VARIABLES = {
    "State": (ua.VariantType.String, None),
    "Online": (ua.VariantType.Boolean, None),
    "Power": (ua.VariantType.Double, "W"),
    "ActiveAlarmCount": (ua.VariantType.UInt32, None),
    "OcppVersion": (ua.VariantType.String, None),
    "Site": (ua.VariantType.String, None),
}
EVSE_VARIABLES = {
    "State": (ua.VariantType.String, None),
    "ErrorCode": (ua.VariantType.String, None),
    "Power": (ua.VariantType.Double, "W"),
    "Energy": (ua.VariantType.Double, "Wh"),
    "Current": (ua.VariantType.Double, "A"),
    "Voltage": (ua.VariantType.Double, "V"),
    "SoC": (ua.VariantType.Double, "%"),
    "TransactionId": (ua.VariantType.String, None),
}
SESSION_VARIABLES = {
    "StationId": (ua.VariantType.String, None),
    "EvseId": (ua.VariantType.UInt32, None),
    "TransactionId": (ua.VariantType.String, None),
    "StartedAt": (ua.VariantType.DateTime, None),
    "Energy": (ua.VariantType.Double, "Wh"),
    "Power": (ua.VariantType.Double, "W"),
}
SITE_VARIABLES = {
    "Name": (ua.VariantType.String, None),
    "Power": (ua.VariantType.Double, "W"),
    "StationCount": (ua.VariantType.UInt32, None),
    "ActiveAlarmCount": (ua.VariantType.UInt32, None),
}


class OpcUaBridge:
    def __init__(self, *, core: Core, bus: Bus, settings: OpcUaSettings) -> None:
        self.settings = settings
        self._core = core
        self._bus = bus
        self.fleet = FleetView(core)
        self._alarm = OverflowAlarm(core, "opcua")
        self.backlog: Backlog[Change] = Backlog(settings.queue_size, on_overflow=self._alarm)
        self.server: Server | None = None
        self._ns = 0
        self._folders: dict[str, Node] = {}
        self._stations: dict[StationId, StationNodes] = {}
        self._sites: dict[SiteId, tuple[Node, dict[str, Node]]] = {}
        self._site_members: dict[SiteId, set[StationId]] = {}
        self._sessions: dict[TransactionPk, tuple[Node, dict[str, Node]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.state: BridgeState = "starting"
        self.detail: str | None = None
        self.written = 0
        self.commands_received = 0
        self.port: int | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except Exception as exc:
            self.state, self.detail = "failed", f"{type(exc).__name__}: {exc}"
            raise

    async def _start(self) -> None:
        s = self.settings
        server = Server(user_manager=SettingsUsers(s.users))
        await server.init()
        hide_methods_from_readers(server.iserver)
        server.set_endpoint(f"opc.tcp://{s.host}:{s.port}/evscada/")
        server.set_server_name("evscada")
        await server.set_application_uri(s.application_uri)
        if any(policy != "None" for policy in s.security_policies):
            certificate, key = await certificate_files(s)
            await server.load_certificate(str(certificate))
            await server.load_private_key(str(key))
        server.set_security_policy([_POLICIES[p] for p in s.security_policies], permission_ruleset=RoleRules())  # type: ignore[arg-type]  # any PermissionRuleset works
        server.set_identity_tokens([ua.UserNameIdentityToken])
        self._ns = await server.register_namespace(NAMESPACE)
        for name in ("Sites", "Stations", "Sessions"):
            self._folders[name] = await server.nodes.objects.add_folder(self._ns, name)
        await self.fleet.load()
        self.server = server
        for station in self.fleet.stations.values():
            await self._write_station(station)
        try:
            await server.start()
        except OSError as exc:
            raise RuntimeError(
                f"opcua: cannot listen on {s.host}:{s.port} ({exc}); set [opcua] host/port to a free address"
            ) from exc
        self.port = _bound_port(server) or s.port
        self.state, self.detail = "listening", f"opc.tcp://{s.host}:{self.port}/evscada/"
        log.info("opcua bridge: listening on %s", self.detail)
        self._tasks = [
            asyncio.create_task(pump(self._bus, self._on_event), name="opcua-feed"),
            asyncio.create_task(self._keep_writing(), name="opcua-writer"),
        ]

    async def stop(self) -> None:
        async with cancelling(*self._tasks):
            pass
        self._tasks = []
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.stop()
            self.server = None
        await self._alarm.close()

    def health(self) -> BridgeHealth:
        return BridgeHealth(
            name="opcua",
            state=self.state,
            detail=self.detail,
            queued=len(self.backlog),
            dropped=self.backlog.dropped,
            published=self.written,
            commands=self.commands_received,
        )

    # --- events to values -----------------------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        self.backlog.put_all(self.fleet.apply(event))

    async def _keep_writing(self) -> None:
        while True:
            change = await self.backlog.get()
            try:
                await self._write(change)
                if self.backlog.resync_due():
                    for station in list(self.fleet.stations.values()):
                        await self._write_station(station)
                    await self._prune_sessions()
            except Exception:  # one bad value must not stop the server's updates
                log.exception("opcua bridge: could not update %s", change.station.station_id)

    async def _write(self, change: Change) -> None:
        station = change.station
        if station.station_id not in self._stations or change.kind in ("station", "site"):
            if change.kind != "station" or station.station_id not in self._stations:
                with contextlib.suppress(Exception):
                    for moved in await self.fleet.refresh(station.station_id):
                        station = moved.station
            await self._write_station(station)
            return
        if change.kind == "session":
            await self._prune_sessions()
        if change.evse is not None:
            await self._write_session(station, change.evse)
            await self._write_evse(station, change.evse)
        await self._write_station_values(station)

    async def _set(self, variable: Node, value: Any, variant: ua.VariantType) -> None:
        if value is None:
            await variable.write_value(ua.DataValue(StatusCode=_WAITING))
        else:
            await variable.write_value(ua.DataValue(ua.Variant(value, variant)))
        self.written += 1

    async def _object(
        self, parent: Node, name: str, variables: dict[str, tuple[ua.VariantType, str | None]]
    ) -> tuple[Node, dict[str, Node]]:
        node = await parent.add_object(self._ns, name)
        made = {}
        for var_name, (variant, unit) in variables.items():
            var = await node.add_variable(self._ns, var_name, ua.get_default_value(variant), varianttype=variant)
            await var.write_value(ua.DataValue(StatusCode=_WAITING))  # typed, not yet known
            if unit is not None:
                await var.add_property(0, "EngineeringUnits", _unit(unit))
            made[var_name] = var
        return node, made

    async def _write_station(self, station: StationLive) -> None:
        nodes = self._stations.get(station.station_id)
        if nodes is None:
            node, variables = await self._object(self._folders["Stations"], station.station_id, STATION_VARIABLES)
            nodes = self._stations[station.station_id] = StationNodes(node, variables)
            await self._add_methods(node, station.station_id)
        if nodes.site_id != station.site_id:
            await self._place(station, nodes)
        for evse in station.evses.values():
            await self._write_session(station, evse)  # first: it learns the session's transaction id
            await self._write_evse(station, evse)
        await self._write_station_values(station)

    async def _place(self, station: StationLive, nodes: StationNodes) -> None:
        """The site organises the station (an Organizes reference from the site's object)."""
        if nodes.site_id is not None and nodes.site_id in self._sites:
            self._site_members.get(nodes.site_id, set()).discard(station.station_id)
            with contextlib.suppress(Exception):
                await self._sites[nodes.site_id][0].delete_reference(nodes.node, ua.ObjectIds.Organizes)
        nodes.site_id = station.site_id
        if station.site_id is None:
            return
        if station.site_id not in self._sites:
            label = station.site_name or f"Site {station.site_id}"
            self._sites[station.site_id] = await self._object(self._folders["Sites"], label, SITE_VARIABLES)
        await self._sites[station.site_id][0].add_reference(nodes.node, ua.ObjectIds.Organizes)
        self._site_members.setdefault(station.site_id, set()).add(station.station_id)

    async def _write_station_values(self, station: StationLive) -> None:
        v = self._stations[station.station_id].variables
        await self._set(v["State"], station.state, ua.VariantType.String)
        await self._set(v["Online"], station.online, ua.VariantType.Boolean)
        await self._set(v["Power"], station.power_w(), ua.VariantType.Double)
        await self._set(v["ActiveAlarmCount"], len(station.active_alarms), ua.VariantType.UInt32)
        await self._set(v["OcppVersion"], station.ocpp_version, ua.VariantType.String)
        await self._set(v["Site"], station.site_name, ua.VariantType.String)
        if station.site_id is not None and station.site_id in self._sites:
            await self._write_site(station.site_id, station.site_name)

    async def _write_site(self, site_id: SiteId, name: str | None) -> None:
        stations = self.fleet.stations
        members = [stations[sid] for sid in self._site_members.get(site_id, ()) if sid in stations]
        v = self._sites[site_id][1]
        await self._set(v["Name"], name, ua.VariantType.String)
        await self._set(v["Power"], sum(s.power_w() for s in members), ua.VariantType.Double)
        await self._set(v["StationCount"], len(members), ua.VariantType.UInt32)
        await self._set(v["ActiveAlarmCount"], sum(len(s.active_alarms) for s in members), ua.VariantType.UInt32)

    async def _write_evse(self, station: StationLive, evse: EvseLive) -> None:
        nodes = self._stations[station.station_id]
        found = nodes.evses.get(evse.evse_id)
        if found is None:
            node, variables = await self._object(nodes.node, f"EVSE {evse.evse_id}", EVSE_VARIABLES)
            found = nodes.evses[evse.evse_id] = EvseNodes(node, variables)
        v = found.variables
        await self._set(v["State"], evse.status, ua.VariantType.String)
        await self._set(v["ErrorCode"], evse.error_code, ua.VariantType.String)
        await self._set(v["Power"], evse.power_w, ua.VariantType.Double)
        await self._set(v["Energy"], evse.energy_wh, ua.VariantType.Double)
        await self._set(v["Current"], evse.current_a, ua.VariantType.Double)
        await self._set(v["Voltage"], evse.voltage_v, ua.VariantType.Double)
        await self._set(v["SoC"], evse.soc_pct, ua.VariantType.Double)
        transaction = evse.session.station_transaction_id if evse.session else None
        await self._set(v["TransactionId"], transaction, ua.VariantType.String)

    async def _write_session(self, station: StationLive, evse: EvseLive) -> None:
        """A running session has an object under Sessions (`_prune_sessions` removes it when the session ends)."""
        session = evse.session
        if session is None:
            return
        if session.transaction_pk not in self._sessions:
            if session.station_transaction_id is None:
                session.station_transaction_id = await self.fleet.session_id(station.station_id, session.transaction_pk)
            self._sessions[session.transaction_pk] = await self._object(
                self._folders["Sessions"], f"Session {session.transaction_pk}", SESSION_VARIABLES
            )
        v = self._sessions[session.transaction_pk][1]
        await self._set(v["StationId"], station.station_id, ua.VariantType.String)
        await self._set(v["EvseId"], evse.evse_id, ua.VariantType.UInt32)
        await self._set(v["TransactionId"], session.station_transaction_id, ua.VariantType.String)
        await self._set(v["StartedAt"], session.started_at, ua.VariantType.DateTime)
        await self._set(v["Energy"], session.energy_wh, ua.VariantType.Double)
        await self._set(v["Power"], evse.power_w, ua.VariantType.Double)

    async def _prune_sessions(self) -> None:
        """Remove the objects of sessions that ended."""
        live = {e.session.transaction_pk for s in self.fleet.stations.values() for e in s.evses.values() if e.session}
        for pk in [pk for pk in self._sessions if pk not in live]:
            node, _ = self._sessions.pop(pk)
            with contextlib.suppress(Exception):
                await self.server.delete_nodes([node], recursive=True)  # type: ignore[union-attr]

    # --- methods --------------------------------------------------------------------------------------------------

    async def _add_methods(self, node: Node, station_id: StationId) -> None:
        string, uint, boolean = ua.VariantType.String, ua.VariantType.UInt32, ua.VariantType.Boolean
        answers = [_argument("Outcome", string), _argument("Status", string), _argument("Error", string)]

        def method(build: Callable[..., c.Command]) -> Callable[..., Awaitable[list[ua.Variant]]]:
            async def call(parent: ua.NodeId, *arguments: ua.Variant) -> list[ua.Variant]:
                return await self._call(station_id, build, [a.Value for a in arguments])

            return call

        await node.add_method(
            self._ns,
            "RemoteStart",
            method(lambda token, evse: c.RemoteStart(id_token=IdToken(token, "ISO14443"), evse_id=evse or None)),
            [_argument("IdToken", string), _argument("EvseId", uint, "0: the station chooses")],
            answers,
        )
        await node.add_method(
            self._ns,
            "RemoteStop",
            method(lambda evse: self.fleet.stop_command(station_id, evse)),
            [_argument("EvseId", uint, "the EVSE whose running session stops")],
            answers,
        )
        await node.add_method(
            self._ns,
            "ChangeAvailability",
            method(lambda evse, operative: c.ChangeAvailability(operative=operative, evse_id=evse)),
            [_argument("EvseId", uint, "0: the whole station"), _argument("Operative", boolean)],
            answers,
        )
        await node.add_method(
            self._ns,
            "Reset",
            method(lambda kind: c.Reset(kind=_reset_kind(kind))),
            [_argument("Kind", string, "Soft (waits for sessions to end) or Hard")],
            answers,
        )

    async def _call(
        self, station_id: StationId, build: Callable[..., c.Command], arguments: list[Any]
    ) -> list[ua.Variant]:
        self.commands_received += 1
        try:
            command = build(*arguments)
        except commands.CommandRefused as refusal:
            answer = commands.refused(station_id, "command", str(refusal))
        except (TypeError, ValueError) as exc:
            answer = commands.refused(station_id, "command", f"bad arguments: {exc}")
        else:
            answer = await commands.send(self._core, station_id=station_id, command=command, actor=ACTOR, reason=None)
        return [
            ua.Variant(answer["outcome"], ua.VariantType.String),
            ua.Variant(answer.get("status") or "", ua.VariantType.String),
            ua.Variant(answer.get("error") or "", ua.VariantType.String),
        ]


def _reset_kind(kind: str) -> c.ResetKind:
    try:
        return c.ResetKind(kind.lower())
    except ValueError:
        raise commands.CommandRefused(f"Reset Kind must be Soft or Hard, not {kind!r}") from None


def _argument(name: str, variant: ua.VariantType, description: str = "") -> ua.Argument:
    argument = ua.Argument()
    argument.Name = name
    argument.DataType = ua.NodeId(ua.Int32(variant.value))
    argument.ValueRank = -1
    argument.Description = ua.LocalizedText(description)
    return argument


def _bound_port(server: Server) -> int | None:
    """The port the server listens on (the settings may say 0: any free one)."""
    with contextlib.suppress(Exception):
        sockets = server.bserver._server.sockets  # type: ignore[union-attr]
        return int(sockets[0].getsockname()[1])
    return None
