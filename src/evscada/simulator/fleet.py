"""Many simulated stations, each on its own connection, reconnecting after drops like real stations do."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
from collections.abc import Sequence

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from evscada.simulator.faults import FaultKind, PlannedFault
from evscada.simulator.ocpp16 import Link16
from evscada.simulator.ocpp201 import Link201
from evscada.simulator.station import Leave, SimulatedStation, StationSpec, Timing, cancel_quietly

log = logging.getLogger(__name__)

_LINKS: dict[str, tuple[str, type[Link16] | type[Link201]]] = {
    "1.6": ("ocpp1.6", Link16),
    "2.0.1": ("ocpp2.0.1", Link201),
}


class Fleet:
    """Many stations, each on its own connection; faults can be injected into any of them while they run."""

    def __init__(self, base_url: str, specs: Sequence[StationSpec], timing: Timing) -> None:
        self.base_url = base_url
        self.timing = timing
        self.stations = {spec.station_id: SimulatedStation(spec, None, timing) for spec in specs}

    def station(self, station_id: str) -> SimulatedStation:
        """The running station with this id (KeyError if there is none)."""
        return self.stations[station_id]

    def pick(self, *, station: str | None = None, share: float | None = None) -> list[SimulatedStation]:
        """One station by id, or this share of the fleet chosen at random (at least one)."""
        if station is not None:
            return [self.stations[station]] if station in self.stations else []
        everyone = list(self.stations.values())
        count = max(1, round(len(everyone) * (share or 0.0))) if share else 0
        return random.sample(everyone, min(count, len(everyone)))

    def inject(
        self,
        kind: FaultKind,
        *,
        station: str | None = None,
        share: float | None = None,
        connector: int | None = None,
        duration: float | None = None,
    ) -> list[str]:
        """The ids of the stations that took the fault."""
        return [
            s.spec.station_id
            for s in self.pick(station=station, share=share)
            if s.inject(kind, connector=connector, duration=duration)
        ]

    def clear(self, kind: FaultKind | None = None, *, station: str | None = None) -> list[str]:
        """Clear a fault (None: every fault) on one station or, with no station, on all; the ids cleared."""
        chosen = [self.stations[station]] if station in self.stations else [] if station else self.stations.values()
        return [s.spec.station_id for s in chosen if s.clear(kind)]

    async def run(self, *, ramp_per_second: float = 50, plan: Sequence[PlannedFault] = ()) -> None:
        """Run every station until cancelled, starting `ramp_per_second` of them a second; follow the plan."""
        async with asyncio.TaskGroup() as group:
            if plan:
                group.create_task(self._follow(plan), name="fault-plan")
            for index, station in enumerate(self.stations.values()):
                group.create_task(run_station(self.base_url, station), name=f"sim-{station.spec.station_id}")
                if (index + 1) % max(1, int(ramp_per_second)) == 0:
                    await asyncio.sleep(1.0)

    async def _follow(self, plan: Sequence[PlannedFault]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for fault in sorted(plan, key=lambda f: f.at):
            await asyncio.sleep(max(0.0, started + fault.at - loop.time()))
            hit = self.inject(
                fault.kind,
                station=fault.station,
                share=fault.share,
                connector=fault.connector,
                duration=fault.duration,
            )
            log.info("fault plan: %s on %d station(s) %s", fault.kind, len(hit), ", ".join(hit[:5]))


async def run_station(base_url: str, station: SimulatedStation | StationSpec, timing: Timing | None = None) -> None:
    """Keep one station alive and connected until cancelled; back off after failures, reboot after resets.

    The station outlives its connections: its sessions, configuration, availability and meter registers
    survive a reconnect, as they would in a real station, and what it could not send waits in its queue.
    """
    if isinstance(station, StationSpec):
        station = SimulatedStation(station, None, timing or Timing())
    life = asyncio.create_task(station.live(), name=f"{station.spec.station_id}-life")
    try:
        await _connect_forever(base_url, station)
    finally:
        await cancel_quietly(life)


async def _connect_forever(base_url: str, station: SimulatedStation) -> None:
    spec = station.spec
    subprotocol, link_class = _LINKS[spec.version]
    headers = {}
    if spec.password is not None:
        credentials = base64.b64encode(f"{spec.station_id}:{spec.password}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
    delay = 1.0
    while True:
        try:
            async with connect(
                f"{base_url.rstrip('/')}/{spec.station_id}",
                subprotocols=[subprotocol],  # type: ignore[list-item]
                additional_headers=headers,
                open_timeout=30,
            ) as ws:
                link = link_class(spec.station_id, ws, response_timeout=30)
                delay = 1.0
                leave = await _serve(station, link)
                if leave.abort:
                    ws.transport.abort()  # gone without a goodbye, as a cut cable or a crashed modem
            pause = leave.pause
        except InvalidStatus as exc:
            pause, delay = _backoff(delay)
            log.error(
                "%s: the CSMS refused the connection (HTTP %s); retrying in %.0f s",
                spec.station_id,
                exc.response.status_code,
                pause,
            )
        except (OSError, WebSocketException, TimeoutError) as exc:
            pause, delay = _backoff(delay)
            log.info("%s: connection lost (%s); reconnecting in %.0f s", spec.station_id, exc, pause)
        except Exception:
            # One station's failure (e.g. a CALLERROR it did not expect) must not end the fleet: it reconnects.
            pause, delay = _backoff(delay)
            log.exception("%s: simulated station failed; reconnecting in %.0f s", spec.station_id, pause)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(pause):
                await station.reconnect_now.wait()
        station.reconnect_now.clear()


def _backoff(delay: float) -> tuple[float, float]:
    """This pause (jittered so a fleet does not reconnect in step), and the next one's base."""
    return delay * random.uniform(0.5, 1.5), min(delay * 2, 60.0)


async def _serve(station: SimulatedStation, link: Link16 | Link201) -> Leave:
    """Read CALLs and serve the connection until either ends; returns how the station chose to leave."""
    reader = asyncio.create_task(link.start(), name=f"{station.spec.station_id}-reader")
    runner = asyncio.create_task(station.connected(link), name=f"{station.spec.station_id}-connected")
    try:
        done, _ = await asyncio.wait({reader, runner}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            return runner.result()
        reader.result()  # a lost connection raises here
        raise ConnectionError("the CSMS closed the connection")
    finally:
        await cancel_quietly(reader)
        await cancel_quietly(runner)


async def run_fleet(
    base_url: str,
    specs: Sequence[StationSpec],
    timing: Timing,
    *,
    ramp_per_second: float = 50,
    plan: Sequence[PlannedFault] = (),
) -> None:
    await Fleet(base_url, specs, timing).run(ramp_per_second=ramp_per_second, plan=plan)
