"""The full 1.6 link: the station's 1.6 words and answers over the `ocpp` package's ChargePoint."""

from __future__ import annotations

from ocpp.v16 import ChargePoint, call

from evscada.simulator.links.refusals import ChargePointRefusals
from evscada.simulator.links.words import OcppRequests
from evscada.simulator.ocpp16.commands import Commands16
from evscada.simulator.ocpp16.words import Words16


class Link16(Words16, Commands16, OcppRequests, ChargePointRefusals, ChargePoint):
    messages = call
