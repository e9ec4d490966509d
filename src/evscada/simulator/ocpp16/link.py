"""The full 1.6 link: the station's 1.6 words and answers over the `ocpp` package's ChargePoint."""

from __future__ import annotations

from ocpp.v16 import ChargePoint, call

from evscada.simulator.commands16 import Commands16
from evscada.simulator.refusals import ChargePointRefusals
from evscada.simulator.words import OcppRequests
from evscada.simulator.words16 import Words16


class Link16(Words16, Commands16, OcppRequests, ChargePointRefusals, ChargePoint):
    messages = call
