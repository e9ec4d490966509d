"""The full 2.0.1 link: the station's 2.0.1 words and answers over the `ocpp` package's ChargePoint."""

from __future__ import annotations

from ocpp.v201 import ChargePoint, call

from evscada.simulator.links.refusals import ChargePointRefusals
from evscada.simulator.links.words import OcppRequests
from evscada.simulator.ocpp201.commands import Commands201
from evscada.simulator.ocpp201.words import Words201


class Link201(Words201, Commands201, OcppRequests, ChargePointRefusals, ChargePoint):
    messages = call
