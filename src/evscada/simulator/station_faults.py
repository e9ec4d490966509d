"""How a simulated station suffers a fault and recovers: what it stops, what it reports, when it reconnects."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from evscada.simulator.faults import SYMPTOMS, FaultKind
from evscada.simulator.model import ConnectorState, Leave, StationSpec, Timing, now_iso

if TYPE_CHECKING:
    from evscada.simulator.uplink import Uplink

log = logging.getLogger(__name__)
_event_ids = itertools.count(1)  # 2.0.1 eventId


class StationFaults:
    """Mixed into SimulatedStation: `inject` and `clear`, for tests, the control surface and fault plans."""

    spec: StationSpec
    timing: Timing
    connectors: dict[int, ConnectorState]
    uplink: Uplink
    _boot_reason: str | None
    reconnect_now: asyncio.Event

    if TYPE_CHECKING:  # provided by SimulatedStation

        def targets(self, connector: int | None) -> list[int] | None: ...
        def _spawn(self, work: Coroutine[Any, Any, None], name: str, *, guard: bool = True) -> bool: ...
        async def _send_status(self, connector: int, status: str) -> None: ...
        def _status(self, connector: int) -> str: ...
        def leave(self, how: Leave) -> bool: ...

    def faults(self) -> dict[int, FaultKind]:
        """The hardware faults connectors suffer now."""
        return {n: s.fault for n, s in self.connectors.items() if s.fault is not None}

    def inject(self, kind: FaultKind, *, connector: int | None = None, duration: float | None = None) -> bool:
        """Suffer this fault now (connector None: the whole station); it clears after `duration` seconds, or
        when cleared (a dropped connection comes back after `duration`, or the reboot pause). False if the
        station cannot: no such connector, or not running."""
        if not kind.hardware:
            pause = duration if duration is not None else max(self.timing.reboot_seconds, 1.0)
            return self._spawn(self._drop(kind, pause), f"fault-{kind}")
        targets = list(self.connectors) if kind is FaultKind.POWER_LOSS else self.targets(connector)
        if targets is None or not self._spawn(self._fail(kind, targets), f"fault-{kind}"):
            return False
        if duration is not None:
            self._spawn(self._clear_later(kind, targets, duration), f"clear-{kind}")
        return True

    def clear(self, kind: FaultKind | None = None, *, connector: int | None = None) -> bool:
        """Recover from this fault (None: every fault); a dropped connection reconnects at once. False if there
        was nothing to clear."""
        targets = self.targets(connector) or []
        faulted = [n for n in targets if (fault := self.connectors[n].fault) is not None and kind in (None, fault)]
        reconnecting = kind in (None, FaultKind.CONNECTION_DROP, FaultKind.REBOOT) and not self.uplink.online
        if reconnecting:
            self.reconnect_now.set()
        if faulted:
            self._spawn(self._recover(faulted), "recover")
        return bool(faulted) or reconnecting

    async def _fail(self, kind: FaultKind, targets: list[int]) -> None:
        symptom = SYMPTOMS[kind]
        at = now_iso()
        log.info("%s: %s on connector(s) %s", self.spec.station_id, kind, targets)
        for n in targets:
            state = self.connectors[n]
            if state.fault is not None:  # one fault at a time: the first one is what the station reports
                continue
            state.fault = kind
            await self._tell(n, kind, cleared=False, at=at)
            await self._send_status(n, "Faulted")
            if state.session is not None:  # it ends and reports its stop; the connector stays Faulted
                state.session.request_stop(symptom.stop_reason)

    async def _recover(self, targets: list[int]) -> None:
        at = now_iso()
        for n in targets:
            kind = self.connectors[n].fault
            if kind is None:
                continue
            self.connectors[n].fault = None
            log.info("%s: %s on connector %d cleared", self.spec.station_id, kind, n)
            await self._tell(n, kind, cleared=True, at=at)
            await self._send_status(n, self._status(n))

    async def _tell(self, connector: int, kind: FaultKind, *, cleared: bool, at: str) -> None:
        """The 2.0.1 event report (1.6 has none); kept while offline, like transaction messages. Its eventId and
        message id are fixed now: a resend after a connection died under it is the same message."""
        event_id, message_id = next(_event_ids), uuid.uuid4().hex
        await self.uplink.keep(
            lambda link: link.problem(connector, kind, cleared=cleared, at=at, event_id=event_id, message_id=message_id)
        )

    async def _clear_later(self, kind: FaultKind, targets: list[int], duration: float) -> None:
        await asyncio.sleep(duration)
        await self._recover([n for n in targets if self.connectors[n].fault is kind])

    async def _drop(self, kind: FaultKind, pause: float) -> None:
        """The connection dies without a close frame; the station charges on and queues what it must say."""
        if not self.uplink.online:
            return
        log.info("%s: %s; back in %.0f s", self.spec.station_id, kind, pause)
        await self.uplink.go_offline()  # calls already on the wire get their answers: a planned drop loses none
        if kind is FaultKind.REBOOT:
            self._boot_reason = "Watchdog"
        self.reconnect_now.clear()
        self.leave(Leave(pause, abort=True))
