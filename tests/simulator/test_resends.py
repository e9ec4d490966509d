"""A transaction message whose connection died before its answer came is sent again after the reconnect as the very
same message: the CSMS may have stored it already, and it can only tell a repeat by the repeat being identical."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from evscada.simulator.faults import FaultKind
from evscada.simulator.links.answering import Answering
from evscada.simulator.links.words import Payload
from evscada.simulator.model import Reading, now_iso
from evscada.simulator.ocpp201.words import Words201
from evscada.simulator.station import SimulatedStation, StationSpec
from tests.simulator.helpers import QUIET

READING = Reading(energy_wh=1234.5, power_w=7360.0, current_a=32.0, voltage_v=230.0, soc=41.0, phases=1)


class Wire(Answering, Words201):
    """The far end of a 2.0.1 station's connection: keeps every frame the station wrote; the first `cuts` die after
    they went out, before their answer came (what a CSMS cutting the connection mid-call looks like to a station)."""

    fails_when_lost = True

    def __init__(self, cuts: int = 0) -> None:
        self.cuts = cuts
        self.frames: list[tuple[str | None, str, Payload]] = []  # unique id, action, payload

    async def request(self, action: str, payload: Payload, *, message_id: str | None = None) -> Payload:
        self.frames.append((message_id, action, json.loads(json.dumps(payload))))
        if self.cuts:
            self.cuts -= 1
            raise ConnectionError("the connection died before the answer came")
        return {}


def _station(link: Wire | None) -> SimulatedStation:
    return SimulatedStation(StationSpec(station_id="RESEND", version="2.0.1", connectors=1), link, QUIET)


async def _reconnect(station: SimulatedStation, wire: Wire) -> None:
    """What the station does first on a new connection (it has booted before): send what it owes."""
    station.attach(wire)
    await station.uplink.drain(wire)


async def _sample(station: SimulatedStation) -> None:
    await station._send_meter(1, "TX-1", READING, at=time.time())


async def _end(station: SimulatedStation) -> None:
    await station._stop(1, "TX-1", "CARD-1", READING, "Local")


async def _fault(station: SimulatedStation) -> None:
    await station._tell(1, FaultKind.OVER_TEMPERATURE, cleared=False, at=now_iso())


MESSAGES = pytest.mark.parametrize("say", [_sample, _end], ids=["periodic sample", "transaction end"])


@pytest.mark.parametrize("say", [_sample, _end, _fault], ids=["periodic sample", "transaction end", "fault event"])
async def test_a_message_cut_off_mid_call_is_resent_identical(say: Any) -> None:
    wire = Wire(cuts=1)
    station = _station(wire)

    await say(station)  # sent live; its connection dies under it
    assert station.uplink.queue, "a message without an answer is kept for the next connection"
    next_connection = Wire()
    await _reconnect(station, next_connection)
    assert not station.uplink.queue and station.uplink.live

    ((first_id, action, first), (again_id, _, again)) = [*wire.frames, *next_connection.frames]
    assert first_id is not None
    assert (again_id, again) == (first_id, first)  # the same frame: same id, seqNo, offline flag, eventId
    if action == "TransactionEvent":
        assert "offline" not in first  # it happened while the station was online


@MESSAGES
async def test_a_message_that_happened_offline_says_so_however_often_it_is_sent(say: Any) -> None:
    station = _station(None)  # offline: kept for the next connection
    await say(station)
    first, second = Wire(cuts=1), Wire()

    with pytest.raises(ConnectionError):
        await _reconnect(station, first)  # the first reconnect dies before the answer
    station.uplink.connection_lost()
    await _reconnect(station, second)

    ((first_id, _, sent), (again_id, _, again)) = [*first.frames, *second.frames]
    assert sent["offline"] is True
    assert (again_id, again) == (first_id, sent)


async def test_a_sample_resent_after_a_cut_is_counted_once() -> None:
    station = _station(Wire(cuts=1))
    await _sample(station)
    await _reconnect(station, Wire())
    assert station.transaction_samples == 1
