"""Who may open an OCPP session, and how fast a wrong password may be tried again.

Failed handshakes back off per station at one address, per station, and per address (docs/ocpp.md, "Wrong
passwords"). The rule never locks a station out: an address that has not failed for a station is not slowed down
by what others do to it, and the password a station was last admitted with is always checked (that costs no hash).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections import Counter
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from evscada.core.access.logins import network_of
from evscada.core.access.throttle import BackOff, BackOffRule
from evscada.core.errors import AuthenticationFailed, UnknownStation
from evscada.core.model import Station, StationId
from evscada.core.stations.service import Credentials
from evscada.gateway.services import StationServices

log = logging.getLogger(__name__)

BACK_OFF_EVENT = "AuthenticationBackOff"  # the security event of a burst: one per burst, not one per failure


class StationBackOffSettings(BaseModel):
    """[station_backoff]: wrong station credentials slow further tries down instead of costing a hash each."""

    model_config = ConfigDict(extra="forbid")

    failures: int = Field(5, ge=1, description="failed handshakes of one station from one address before back-off")
    station_failures: int = Field(
        20, ge=1, description="failed handshakes of one station from any addresses; then addresses that failed wait"
    )
    address_stations: int = Field(
        10, ge=1, description="stations one address failed for; then every handshake from that address waits"
    )
    window_seconds: float = Field(900.0, gt=0, description="failures older than this are forgotten")
    first_seconds: float = Field(1.0, gt=0, description="the first wait; each further failure doubles it ...")
    max_seconds: float = Field(60.0, gt=0, description="... up to this for a station at one address")
    wide_max_seconds: float = Field(900.0, gt=0, description="... up to this for a station or an address as a whole")

    def rule(self, failures: int, longest: float) -> BackOffRule:
        return BackOffRule(
            failures=failures,
            window=timedelta(seconds=self.window_seconds),
            first=timedelta(seconds=self.first_seconds),
            longest=timedelta(seconds=longest),
        )


class BackingOff(Exception):
    """Refused without a check: too many recent failures; `retry_after` seconds until the next one is checked."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed connections; try again in {retry_after} s")
        self.message = str(self)
        self.retry_after = retry_after


class Admission:
    """Admits stations through the core, counting failures; the counts live in memory, per gateway process."""

    def __init__(self, *, services: StationServices, settings: StationBackOffSettings, refusals: Counter[str]) -> None:
        self._stations = services.stations
        self._upgrades = services.security_profiles  # a profile upgrade's new credentials, beside the old ones
        clock = services.clock
        self._pairs = BackOff(settings.rule(settings.failures, settings.max_seconds), clock=clock)
        self._by_station = BackOff(settings.rule(settings.station_failures, settings.wide_max_seconds), clock=clock)
        self._by_address = BackOff(settings.rule(settings.address_stations, settings.wide_max_seconds), clock=clock)
        # Keyed digests of the password each station was last admitted with (never the password itself).
        self._digest_key = secrets.token_bytes(32)
        self._admitted: dict[StationId, bytes] = {}
        self._refusals = refusals  # reason -> handshakes refused, shown by /metrics

    async def admit(
        self, *, station_id: StationId, address: str, credentials: Credentials, header_problem: str | None
    ) -> Station:
        """The station, or UnknownStation, AuthenticationFailed or BackingOff; a wrong Authorization header fails."""
        where = network_of(address)
        pair = (station_id, where)
        wait = self._by_address.wait(where)
        if self._pairs.failures(pair):  # this address failed for this station lately: it waits for both
            wait = max(wait, self._pairs.wait(pair), self._by_station.wait(station_id))
        try:
            if wait > 0 and not self._known_password(station_id, credentials.password):
                await self._stations.registration(station_id=station_id)  # an unknown id is told so all the same
                self._refusals["backing_off"] += 1
                raise BackingOff(math.ceil(wait))
            if header_problem is not None:
                await self._stations.registration(station_id=station_id)
                await self._stations.record_security_event(
                    station_id=station_id, kind="InvalidAuthorizationHeader", detail=header_problem
                )
                raise AuthenticationFailed(header_problem)
            station = await self._upgrades.admit(station_id=station_id, credentials=credentials)
            if station is None:
                station = await self._stations.admit(station_id=station_id, credentials=credentials)
        except UnknownStation:  # no security event, nothing to acknowledge: only counted
            self._refusals["unknown_station"] += 1
            raise
        except AuthenticationFailed:
            self._refusals["authentication_failed"] += 1
            await self._failed(station_id, where, pair)
            raise
        self._pairs.succeeded(pair)
        if credentials.password is not None:
            self._admitted[station_id] = self._digest(credentials.password)
        return station

    def _known_password(self, station_id: StationId, password: str | None) -> bool:
        """The password the station was last admitted with: checked even while backing off (the core's cache
        spares the hash), so a station reconnecting during an attack on its id is not kept out."""
        admitted = self._admitted.get(station_id)
        return admitted is not None and password is not None and hmac.compare_digest(admitted, self._digest(password))

    def _digest(self, password: str) -> bytes:
        return hashlib.blake2b(password.encode(), key=self._digest_key, digest_size=16).digest()

    async def _failed(self, station_id: StationId, where: str, pair: tuple[StationId, str]) -> None:
        """Count a failure; the start of a burst is one security event (and so one alarm), its repeats are not."""
        first_for_pair = not self._pairs.failures(pair)
        bursts = []
        if self._pairs.failed(pair):
            bursts.append(f"{self._pairs.rule.failures} failed connections from {where}")
        if self._by_station.failed(station_id):
            bursts.append(f"{self._by_station.rule.failures} failed connections from several addresses")
        # An address counts the stations it failed for: one misconfigured station behind a site's router must not
        # slow its neighbours down, but an address trying many station ids is guessing.
        if first_for_pair and self._by_address.failed(where):
            bursts.append(f"{where} failed for {self._by_address.rule.failures} stations")
        if bursts:
            detail = "; ".join(bursts) + "; further attempts wait before they are checked"
            log.warning("%s: %s", station_id, detail)
            await self._stations.record_security_event(station_id=station_id, kind=BACK_OFF_EVENT, detail=detail)
