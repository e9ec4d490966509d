"""Many simulated stations, each on its own connection, reconnecting after drops like real stations do."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence

from ocpp.exceptions import OCPPError

from evscada.simulator.faults import FaultKind, PlannedFault
from evscada.simulator.links.dial import Connection, Dial, Refused, dial_ocpp
from evscada.simulator.model import Leave
from evscada.simulator.station import SimulatedStation, StationSpec, Timing, cancel_quietly
from evscada.simulator.uplink import CONNECTION_ERRORS

log = logging.getLogger(__name__)


class Fleet:
    """Many stations, each on its own connection; faults can be injected into any of them while they run."""

    def __init__(self, base_url: str, specs: Sequence[StationSpec], timing: Timing, *, dial: Dial = dial_ocpp) -> None:
        self.base_url = base_url
        self.timing = timing
        self.dial = dial  # full stations by default; the load mode's are lean
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

    async def end_sessions(self, reason: str, *, grace: float) -> int:
        """The simulation is ending: no driver starts a new session, and every station stops its sessions with this
        reason, all at once; how many sessions there were."""
        for station in self.stations.values():
            station.closing = True
        ended = await asyncio.gather(*(s.end_sessions(reason, grace=grace) for s in self.stations.values()))
        return sum(ended)

    async def run(self, *, ramp_per_second: float = 50, plan: Sequence[PlannedFault] = ()) -> None:
        """Run every station until cancelled (or, with a session cap, until all retire), starting
        `ramp_per_second` of them a second, evenly spread; follow the plan."""
        loop = asyncio.get_running_loop()
        step, began = 1.0 / max(ramp_per_second, 1e-3), loop.time()
        async with asyncio.TaskGroup() as group:
            plan_task = group.create_task(self._follow(plan), name="fault-plan") if plan else None
            stations = []
            for index, station in enumerate(self.stations.values()):
                name = f"sim-{station.spec.station_id}"
                stations.append(group.create_task(run_station(self.base_url, station, dial=self.dial), name=name))
                await asyncio.sleep(max(0.0, began + (index + 1) * step - loop.time()))
            await asyncio.wait(stations)
            if plan_task is not None:  # every station retired: nobody is left to suffer the rest of the plan
                plan_task.cancel()

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


async def run_station(
    base_url: str,
    station: SimulatedStation | StationSpec,
    timing: Timing | None = None,
    *,
    dial: Dial = dial_ocpp,
) -> None:
    """Keep one station alive and connected until cancelled or retired; back off after failures, reboot after resets.

    The station outlives its connections: its sessions, configuration, availability and meter registers
    survive a reconnect, as they would in a real station, and what it could not send waits in its queue.
    """
    if isinstance(station, StationSpec):
        station = SimulatedStation(station, None, timing or Timing())
    life = asyncio.create_task(station.live(), name=f"{station.spec.station_id}-life")
    connecting = asyncio.create_task(_connect_forever(base_url, station, dial), name=f"{station.spec.station_id}-net")
    retired = asyncio.create_task(station.retired.wait(), name=f"{station.spec.station_id}-retired")
    try:
        await asyncio.wait({connecting, retired}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_quietly(retired, connecting, life)


async def _connect_forever(base_url: str, station: SimulatedStation, dial: Dial) -> None:
    spec = station.spec
    delay = 1.0
    while True:
        try:
            async with dial(base_url, station.spec) as connection:  # its password may have changed
                delay = 1.0
                leave = await _serve(station, connection)
                if leave.abort:
                    connection.abort()  # gone without a goodbye, as a cut cable or a crashed modem
            pause = leave.pause
        except Refused as exc:
            pause, delay = _backoff(delay)
            log.error("%s: the CSMS refused the connection (%s); retrying in %.0f s", spec.station_id, exc, pause)
        except CONNECTION_ERRORS as exc:
            pause, delay = _backoff(delay)
            log.info("%s: connection lost (%s); reconnecting in %.0f s", spec.station_id, exc, pause)
        except OCPPError as exc:  # e.g. a CALLERROR to its BootNotification
            pause, delay = _backoff(delay)
            log.warning("%s: the CSMS refused (%s); reconnecting in %.0f s", spec.station_id, exc, pause)
        except Exception:
            # One station's failure must not end the fleet: it reconnects.
            pause, delay = _backoff(delay)
            log.exception("%s: simulated station failed; reconnecting in %.0f s", spec.station_id, pause)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(pause):
                await station.reconnect_now.wait()
        station.reconnect_now.clear()


def _backoff(delay: float) -> tuple[float, float]:
    """This pause (jittered so a fleet does not reconnect in step), and the next one's base."""
    return delay * random.uniform(0.5, 1.5), min(delay * 2, 60.0)


async def _serve(station: SimulatedStation, connection: Connection) -> Leave:
    """Serve the CSMS's calls and the station's life on this connection until either ends; how the station left."""
    reader = asyncio.create_task(connection.serve(), name=f"{station.spec.station_id}-reader")
    runner = asyncio.create_task(station.connected(connection.link), name=f"{station.spec.station_id}-connected")
    try:
        done, _ = await asyncio.wait({reader, runner}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            return runner.result()
        reader.result()  # a lost connection raises here
        raise ConnectionError("the CSMS closed the connection")
    finally:
        await cancel_quietly(reader, runner)


async def run_fleet(
    base_url: str,
    specs: Sequence[StationSpec],
    timing: Timing,
    *,
    ramp_per_second: float = 50,
    plan: Sequence[PlannedFault] = (),
    dial: Dial = dial_ocpp,
) -> None:
    await Fleet(base_url, specs, timing, dial=dial).run(ramp_per_second=ramp_per_second, plan=plan)
