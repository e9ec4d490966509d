"""Many simulated stations, each on its own connection, reconnecting after drops like real stations do."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Sequence

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from evscada.simulator.ocpp16 import Link16
from evscada.simulator.ocpp201 import Link201
from evscada.simulator.station import SimulatedStation, StationSpec, Timing, cancel_quietly

log = logging.getLogger(__name__)

_LINKS: dict[str, tuple[str, type[Link16] | type[Link201]]] = {
    "1.6": ("ocpp1.6", Link16),
    "2.0.1": ("ocpp2.0.1", Link201),
}


async def run_station(base_url: str, spec: StationSpec, timing: Timing) -> None:
    """Keep one station connected and charging until cancelled; back off after failures, reboot after resets.

    The station outlives its connections: its configuration, availability and meter registers survive a
    reconnect, as they would in a real station's flash.
    """
    subprotocol, link_class = _LINKS[spec.version]
    headers = {}
    if spec.password is not None:
        credentials = base64.b64encode(f"{spec.station_id}:{spec.password}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
    station: SimulatedStation | None = None
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
                if station is None:
                    station = SimulatedStation(spec, link, timing)
                else:
                    station.attach(link)
                await _serve(station, link)
            pause = timing.reboot_seconds
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
            # One station's failure (e.g. a CALLERROR it did not expect) must not end the fleet: it reboots.
            pause, delay = _backoff(delay)
            log.exception("%s: simulated station failed; rebooting in %.0f s", spec.station_id, pause)
        await asyncio.sleep(pause)


def _backoff(delay: float) -> tuple[float, float]:
    """This pause (jittered so a fleet does not reconnect in step), and the next one's base."""
    return delay * random.uniform(0.5, 1.5), min(delay * 2, 60.0)


async def _serve(station: SimulatedStation, link: Link16 | Link201) -> None:
    """Read CALLs and run the station until either ends; returns normally only when a reset ends the run."""
    reader = asyncio.create_task(link.start(), name=f"{station.spec.station_id}-reader")
    runner = asyncio.create_task(station.run(), name=f"{station.spec.station_id}-run")
    try:
        done, _ = await asyncio.wait({reader, runner}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a lost connection or a failed station raises here
    finally:
        await cancel_quietly(reader)
        await cancel_quietly(runner)


async def run_fleet(
    base_url: str, specs: Sequence[StationSpec], timing: Timing, *, ramp_per_second: float = 50
) -> None:
    async with asyncio.TaskGroup() as group:
        for index, spec in enumerate(specs):
            group.create_task(run_station(base_url, spec, timing), name=f"sim-{spec.station_id}")
            if (index + 1) % max(1, int(ramp_per_second)) == 0:
                await asyncio.sleep(1.0)
