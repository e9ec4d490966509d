"""Charging profiles the CSMS sets: checked, stored, sent, and kept with the station's answer until they end.

A profile the station accepted is in force until it is cleared, replaced (an accepted profile with the same id, or
with the same stack level, purpose and EVSE, and for Tx the same transaction), or it lapses: its valid_to passes,
its transaction ends, or (a remote start's profile) no transaction took up the remote start in time. Lapses are
applied on read, in the same database transaction, as reservations expire: no timer to own, and every process
sees the same.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from evscada.core.charging.repositories import TransactionRepository
from evscada.core.charging.transactions import REMOTE_START_WINDOW
from evscada.core.control.commands import (
    ClearChargingProfile,
    CommandOutcome,
    CommandOutcomeKind,
    CommandRequest,
    CommandService,
    GetChargingProfiles,
    GetCompositeSchedule,
    RemoteStart,
    SetChargingProfile,
)
from evscada.core.energy.profiles import (
    KEYS_16,
    UNKNOWN_LIMITS,
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
    StationLimits,
    is_16,
    is_201,
    limits_from_keys,
    limits_from_variables,
    validate,
)
from evscada.core.errors import CommandNotSupported, DomainError, InvalidArgument, UnknownStation
from evscada.core.model import Station, StationId, TransactionState
from evscada.core.ports import Clock, Store
from evscada.core.stations.device_model import DeviceModelFilter, DeviceModelRepository
from evscada.core.stations.repositories import StationRepository

log = logging.getLogger(__name__)


class ProfileStatus(enum.StrEnum):
    PENDING = "pending"  # sent, no answer yet
    ACCEPTED = "accepted"  # in force
    REJECTED = "rejected"  # the station said no
    FAILED = "failed"  # no answer: offline, timeout, CALLERROR, or the version cannot express it
    CLEARED = "cleared"
    REPLACED = "replaced"
    EXPIRED = "expired"  # valid_to passed, its transaction ended, or its remote start was not taken up


class Via(enum.StrEnum):
    SET = "set"  # SetChargingProfile
    REMOTE_START = "remote_start"  # with a remote start (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction)


@dataclass(slots=True)
class StoredProfile:
    """A profile the CSMS sent a station, and what became of it."""

    id: int  # the record's; the station knows the profile by profile.id
    station_id: StationId
    evse_id: int | None  # 0: the station; None: a remote start's EVSE the station chooses, until it starts
    profile: ChargingProfile
    via: Via
    status: ProfileStatus
    set_by: str
    set_at: datetime
    reason: str | None = None
    transaction_id: str | None = None  # a Tx profile's; a remote start's once its transaction started
    answer: str | None = None  # the station's status word, or what happened instead (offline, timeout ...)
    command_id: int | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None

    @property
    def in_force(self) -> bool:
        return self.status is ProfileStatus.ACCEPTED


@dataclass(frozen=True, slots=True)
class ProfileMatch:
    """Which stored profiles a clear applies to; every criterion given must match."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None

    def matches(self, stored: StoredProfile) -> bool:
        p = stored.profile
        return (
            (self.profile_id is None or p.id == self.profile_id)
            and (self.evse_id is None or stored.evse_id == self.evse_id)
            and (self.purpose is None or p.purpose is self.purpose)
            and (self.stack_level is None or p.stack_level == self.stack_level)
        )


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    """What the station's profiles in force add up to on an EVSE, as it computed it."""

    evse_id: int
    start: datetime | None
    duration_s: int | None
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]


@dataclass(frozen=True, slots=True)
class ProfileSent:
    profile: StoredProfile
    outcome: CommandOutcome


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    """One profile of a batch (`ChargingProfileService.set_many`)."""

    station_id: StationId
    evse_id: int
    profile: ChargingProfile
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileEnd:
    """A profile in force that ended: replaced, cleared ... (`ChargingProfileRepository.end_many`)."""

    record_id: int
    status: ProfileStatus
    at: datetime
    by: str
    why: str


@dataclass(frozen=True, slots=True)
class ProfilesCleared:
    cleared: list[StoredProfile]
    outcome: CommandOutcome


@dataclass(frozen=True, slots=True)
class CompositeRead:
    schedule: CompositeSchedule | None  # None unless the station answered Accepted
    outcome: CommandOutcome


class ChargingProfileRepository(Protocol):
    async def add(self, *, profile: StoredProfile) -> StoredProfile:
        """Insert; assigns the id."""
        ...

    async def add_many(self, *, profiles: Sequence[StoredProfile]) -> None:
        """Insert them all at once; assigns each its id."""
        ...

    async def save(self, *, profile: StoredProfile) -> None: ...

    async def save_answers(self, *, profiles: Sequence[StoredProfile]) -> None:
        """Store each one's status, answer, command id and answered_at (what its send settled), at once."""
        ...

    async def get(self, *, record_id: int) -> StoredProfile | None: ...

    async def in_force(self, *, station_ids: Sequence[StationId]) -> dict[StationId, list[StoredProfile]]:
        """The profiles in force of each station (every one asked for has an entry), newest first."""
        ...

    async def list(self, *, station_id: StationId, in_force: bool | None, limit: int) -> list[StoredProfile]:
        """Newest first; in_force None: all."""
        ...

    async def end_lapsed(self, *, station_id: StationId, now: datetime, remote_start_since: datetime) -> None:
        """Expire the station's profiles in force whose valid_to passed or whose transaction ended, and remote start
        profiles set before `remote_start_since` that no transaction took up; a remote start profile whose transaction
        started gets its transaction id and EVSE."""
        ...

    async def end_lapsed_many(
        self, *, station_ids: Sequence[StationId], now: datetime, remote_start_since: datetime
    ) -> None:
        """`end_lapsed` for all these stations at once."""
        ...

    async def end(
        self, *, record_ids: Sequence[int], status: ProfileStatus, at: datetime, by: str, why: str
    ) -> None: ...

    async def end_many(self, *, ends: Sequence[ProfileEnd]) -> None:
        """End each one that is still in force, each with its own status and reason."""
        ...

    async def configuration_keys(
        self, *, station_id: StationId, keys: Sequence[str]
    ) -> tuple[dict[str, str | None], datetime | None]:
        """The newest value of each key a 1.6 station gave in an answer to GetConfiguration, and when that answer
        came (None: no key found)."""
        ...

    async def configuration_keys_many(
        self, *, station_ids: Sequence[StationId], keys: Sequence[str]
    ) -> dict[StationId, tuple[dict[str, str | None], datetime | None]]:
        """`configuration_keys` of each station (every one asked for has an entry), at once."""
        ...


class ProfileUnit(Protocol):
    charging_profiles: ChargingProfileRepository
    stations: StationRepository
    transactions: TransactionRepository  # a Tx profile limits a running transaction
    device_model: DeviceModelRepository  # a 2.0.1 station's SmartChargingCtrlr variables


_ANSWERED = {"Accepted": ProfileStatus.ACCEPTED}


class ChargingProfileService:
    def __init__(self, *, store: Store[ProfileUnit], clock: Clock, commands: CommandService) -> None:
        self._store = store
        self._clock = clock
        self._commands = commands

    async def set(
        self, *, station_id: StationId, evse_id: int, profile: ChargingProfile, actor: str, reason: str | None = None
    ) -> ProfileSent:
        """Check the profile against its version and the station, store it, send it, keep the answer.

        An Absolute profile without a start starts now."""
        [sent] = await self.set_many([ProfileRequest(station_id, evse_id, profile, reason)], actor=actor)
        if isinstance(sent, DomainError):
            raise sent
        return sent

    async def set_many(self, requests: Sequence[ProfileRequest], *, actor: str) -> list[ProfileSent | DomainError]:
        """`set` for many profiles at once (the load manager's recompute): one result per request, in order, a
        request that fails (unknown station, invalid profile, a version that cannot express it) failing alone.

        Three transactions and two for the command log, however many: check and store all as pending, send all
        at once (`CommandService.send_many`), then keep every answer and end what the accepted ones replaced. A
        request sees the requests before it in the batch for its station as installed, as it would one by one."""
        if not requests:
            return []
        now = self._clock.now()
        results: list[ProfileSent | DomainError | None] = [None] * len(requests)
        pending: list[tuple[int, StoredProfile]] = []  # (request index, its record)
        commands: list[CommandRequest] = []
        async with self._store.unit() as uow:
            stations = await self._stations(uow, {r.station_id for r in requests})
            known = list(stations)
            await uow.charging_profiles.end_lapsed_many(
                station_ids=known, now=now, remote_start_since=now - REMOTE_START_WINDOW
            )
            in_force = await uow.charging_profiles.in_force(station_ids=known)
            limits = await self._limits_many(uow, list(stations.values()))
            batch: dict[StationId, list[StoredProfile]] = {}  # the batch's records so far, per station
            for n, request in enumerate(requests):
                try:
                    record = await self._prepare(
                        uow,
                        request,
                        stations=stations,
                        in_force=in_force,
                        batch=batch,
                        limits=limits,
                        actor=actor,
                        now=now,
                    )
                except DomainError as exc:
                    results[n] = exc
                    continue
                batch.setdefault(request.station_id, []).append(record)
                pending.append((n, record))
                command = SetChargingProfile(evse_id=request.evse_id, profile=record.profile)
                commands.append(CommandRequest(record.station_id, command, request.reason))
            await uow.charging_profiles.add_many(profiles=[record for _, record in pending])
        outcomes = await self._commands.send_many(commands, actor=actor)
        sent = [(n, record, outcome) for (n, record), outcome in zip(pending, outcomes, strict=True)]
        for n, record, outcome in sent:
            if outcome.outcome == CommandOutcomeKind.NOT_SUPPORTED:  # logged, nothing set
                error = CommandNotSupported(outcome.error or f"{outcome.command} is not supported by this station")
                record.status, record.answer, record.answered_at = ProfileStatus.FAILED, error.code, outcome.finished_at
                record.command_id = outcome.command_id
                results[n] = error
            else:
                _answered(record, outcome)
                results[n] = ProfileSent(profile=record, outcome=outcome)
        await self._settle_many([(record, outcome) for _, record, outcome in sent])
        return [r for r in results if r is not None]

    async def _prepare(
        self,
        uow: ProfileUnit,
        request: ProfileRequest,
        *,
        stations: dict[StationId, Station],
        in_force: dict[StationId, list[StoredProfile]],
        batch: dict[StationId, list[StoredProfile]],
        limits: dict[StationId, StationLimits],
        actor: str,
        now: datetime,
    ) -> StoredProfile:
        """A request checked against its version and its station's limits and profiles, as a pending record."""
        station = stations.get(request.station_id)
        if station is None:
            raise UnknownStation(f"station {request.station_id} is not registered")
        profile, evse_id = request.profile, request.evse_id
        if profile.kind is ProfileKind.ABSOLUTE and profile.schedule.start is None:
            profile = replace(profile, schedule=replace(profile.schedule, start=now))
        installed = [*in_force.get(station.id, []), *batch.get(station.id, [])]
        validate(
            profile,
            evse_id=evse_id,
            version=station.ocpp_version,
            now=now,
            limits=limits[station.id],
            others_installed=sum(1 for p in installed if not _replaces(profile, evse_id, p)),
        )
        if profile.purpose is ProfilePurpose.TX:
            await self._check_transaction(uow, station.id, evse_id, profile.transaction_id)
        return StoredProfile(
            id=0,
            station_id=station.id,
            evse_id=evse_id,
            profile=profile,
            via=Via.SET,
            status=ProfileStatus.PENDING,
            set_by=actor,
            set_at=now,
            reason=request.reason,
            transaction_id=profile.transaction_id,
        )

    async def _settle_many(self, sent: Sequence[tuple[StoredProfile, CommandOutcome]]) -> None:
        """Keep every answer; each accepted profile replaces those in force it overwrites on the station, older
        ones only (a later profile of the batch replaces an earlier one, as one by one)."""
        if not sent:
            return
        async with self._store.unit() as uow:
            await uow.charging_profiles.save_answers(profiles=[record for record, _ in sent])
            accepted = [(r, o) for r, o in sent if r.in_force and r.evse_id is not None]
            in_force = await uow.charging_profiles.in_force(station_ids=list({r.station_id for r, _ in accepted}))
            ends = [
                ProfileEnd(
                    record_id=p.id,
                    status=ProfileStatus.REPLACED,
                    at=outcome.finished_at,
                    by=record.set_by,
                    why=f"replaced by profile {record.profile.id} (record {record.id})",
                )
                for record, outcome in accepted
                for p in in_force[record.station_id]
                if p.id < record.id and record.evse_id is not None and _replaces(record.profile, record.evse_id, p)
            ]
            await uow.charging_profiles.end_many(ends=ends)
        for record, _ in sent:
            log.info(
                "%s: charging profile %d on EVSE %s %s",
                record.station_id,
                record.profile.id,
                record.evse_id,
                record.status,
            )

    async def remote_start(
        self, *, station_id: StationId, command: RemoteStart, actor: str, reason: str | None = None
    ) -> CommandOutcome:
        """A remote start, with its Tx profile checked first and kept as the transaction's profile if accepted."""
        profile = command.charging_profile
        if profile is None:
            return await self._commands.send(station_id=station_id, command=command, actor=actor, reason=reason)
        now = self._clock.now()
        async with self._store.unit() as uow:
            station = await self._station(uow, station_id)
            limits = await self._limits(uow, station)
            validate(
                profile,
                evse_id=command.evse_id,
                version=station.ocpp_version,
                now=now,
                limits=limits,
                remote_start=True,
                root="charging_profile",
            )
            record = await uow.charging_profiles.add(
                profile=StoredProfile(
                    id=0,
                    station_id=station_id,
                    evse_id=command.evse_id,
                    profile=profile,
                    via=Via.REMOTE_START,
                    status=ProfileStatus.PENDING,
                    set_by=actor,
                    set_at=now,
                    reason=reason,
                )
            )
        outcome = await self._send(record, station_id, command, actor, reason)
        await self._settle(record, outcome)
        return outcome

    async def clear(
        self, *, station_id: StationId, match: ProfileMatch, actor: str, reason: str | None = None
    ) -> ProfilesCleared:
        """Send ClearChargingProfile; what the station cleared (or said it did not hold) is no longer in force."""
        if match.purpose is ProfilePurpose.EXTERNAL_CONSTRAINTS:
            raise InvalidArgument(
                "purpose: ChargingStationExternalConstraints belong to the station's energy manager", field="purpose"
            )
        async with self._store.unit() as uow:
            await self._station(uow, station_id)
        command = ClearChargingProfile(
            profile_id=match.profile_id, evse_id=match.evse_id, purpose=match.purpose, stack_level=match.stack_level
        )
        outcome = await self._commands.send(station_id=station_id, command=command, actor=actor, reason=reason)
        if outcome.outcome != CommandOutcomeKind.ANSWERED or outcome.status not in ("Accepted", "Unknown"):
            return ProfilesCleared(cleared=[], outcome=outcome)
        why = f"cleared (command {outcome.command_id})"
        if outcome.status == "Unknown":  # the station holds none that match: what is stored as in force is not
            why = f"the station held none such (command {outcome.command_id})"
        now = self._clock.now()
        async with self._store.unit() as uow:
            in_force = await uow.charging_profiles.list(station_id=station_id, in_force=True, limit=10_000)
            cleared = [p for p in in_force if match.matches(p)]
            ids = [p.id for p in cleared]
            await uow.charging_profiles.end(record_ids=ids, status=ProfileStatus.CLEARED, at=now, by=actor, why=why)
            cleared = [p for p in [await uow.charging_profiles.get(record_id=i) for i in ids] if p is not None]
        return ProfilesCleared(cleared=cleared, outcome=outcome)

    async def composite_schedule(
        self,
        *,
        station_id: StationId,
        evse_id: int,
        duration_s: int,
        unit: RateUnit | None = None,
        actor: str,
        reason: str | None = None,
    ) -> CompositeRead:
        """Ask the station what its profiles add up to on an EVSE (0: the station) over the next duration_s."""
        async with self._store.unit() as uow:
            await self._station(uow, station_id)
        command = GetCompositeSchedule(evse_id=evse_id, duration_s=duration_s, unit=unit)
        outcome = await self._commands.send(station_id=station_id, command=command, actor=actor, reason=reason)
        accepted = outcome.outcome == CommandOutcomeKind.ANSWERED and outcome.status == "Accepted"
        schedule = outcome.data.get("schedule") if accepted else None
        return CompositeRead(schedule=_composite(schedule) if schedule else None, outcome=outcome)

    async def request_report(
        self, *, station_id: StationId, command: GetChargingProfiles, actor: str, reason: str | None = None
    ) -> CommandOutcome:
        """2.0.1 GetChargingProfiles: the profiles follow in ReportChargingProfiles (core.energy.reports)."""
        async with self._store.unit() as uow:
            await self._station(uow, station_id)
        return await self._commands.send(station_id=station_id, command=command, actor=actor, reason=reason)

    async def profiles(
        self, *, station_id: StationId, in_force: bool | None = None, limit: int = 100
    ) -> list[StoredProfile]:
        """The profiles sent to the station, newest first; lapsed ones are ended first."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            await self._station(uow, station_id)
            await uow.charging_profiles.end_lapsed(
                station_id=station_id, now=now, remote_start_since=now - REMOTE_START_WINDOW
            )
            return await uow.charging_profiles.list(station_id=station_id, in_force=in_force, limit=limit)

    async def station_limits(self, *, station_id: StationId) -> StationLimits:
        """What the CSMS knows of the station's smart charging limits (what a profile is checked against)."""
        async with self._store.unit() as uow:
            return await self._limits(uow, await self._station(uow, station_id))

    async def _station(self, uow: ProfileUnit, station_id: StationId) -> Station:
        station = await uow.stations.get(station_id=station_id)
        if station is None:
            raise UnknownStation(f"station {station_id} is not registered")
        return station

    async def _stations(self, uow: ProfileUnit, station_ids: Collection[StationId]) -> dict[StationId, Station]:
        """The registered ones of these stations: one read for one, else one read of all."""
        if len(station_ids) == 1:
            station_id = next(iter(station_ids))
            station = await uow.stations.get(station_id=station_id)
            return {} if station is None else {station.id: station}
        return {s.id: s for s in await uow.stations.list() if s.id in station_ids}

    async def _limits_many(self, uow: ProfileUnit, stations: Sequence[Station]) -> dict[StationId, StationLimits]:
        """`_limits` of each: the 1.6 stations' configuration answers in one read."""
        v16 = [s.id for s in stations if is_16(s.ocpp_version)]
        if len(stations) == 1:
            return {stations[0].id: await self._limits(uow, stations[0])}
        found = await uow.charging_profiles.configuration_keys_many(station_ids=v16, keys=KEYS_16) if v16 else {}
        limits: dict[StationId, StationLimits] = {}
        for station in stations:
            if station.id in found:
                keys, at = found[station.id]
                limits[station.id] = (
                    limits_from_keys(keys, f"GetConfiguration answer of {at:%Y-%m-%d %H:%M} UTC")
                    if at
                    else UNKNOWN_LIMITS
                )
            else:
                limits[station.id] = await self._limits(uow, station)
        return limits

    async def _limits(self, uow: ProfileUnit, station: Station) -> StationLimits:
        """1.6: the keys of its last GetConfiguration answers; 2.0.1: its device model. Unread: nothing checked."""
        if is_16(station.ocpp_version):
            keys, at = await uow.charging_profiles.configuration_keys(station_id=station.id, keys=KEYS_16)
            return (
                limits_from_keys(keys, f"GetConfiguration answer of {at:%Y-%m-%d %H:%M} UTC") if at else UNKNOWN_LIMITS
            )
        if is_201(station.ocpp_version):
            where = DeviceModelFilter(component="SmartChargingCtrlr")
            return limits_from_variables(await uow.device_model.list(station_id=station.id, where=where))
        return UNKNOWN_LIMITS

    async def _check_transaction(
        self, uow: ProfileUnit, station_id: StationId, evse_id: int, transaction_id: str | None
    ) -> None:
        tx = await uow.transactions.find(station_id=station_id, station_transaction_id=transaction_id or "")
        if tx is None or tx.state != TransactionState.RUNNING or tx.evse.evse_id != evse_id:
            raise InvalidArgument(
                f"transaction_id: no transaction {transaction_id!r} running on EVSE {evse_id} of {station_id}",
                field="transaction_id",
            )

    async def _send(
        self, record: StoredProfile, station_id: StationId, command: Any, actor: str, reason: str | None
    ) -> CommandOutcome:
        try:
            return await self._commands.send(station_id=station_id, command=command, actor=actor, reason=reason)
        except DomainError as exc:  # the version cannot express it (CommandNotSupported): logged, nothing set
            record.status, record.answer, record.answered_at = ProfileStatus.FAILED, exc.code, self._clock.now()
            async with self._store.unit() as uow:
                await uow.charging_profiles.save(profile=record)
            raise

    async def _settle(self, record: StoredProfile, outcome: CommandOutcome) -> StoredProfile:
        """Keep the answer; an accepted profile replaces those in force it overwrites on the station."""
        _answered(record, outcome)
        async with self._store.unit() as uow:
            await uow.charging_profiles.save(profile=record)
            if record.in_force and record.evse_id is not None:
                in_force = await uow.charging_profiles.list(station_id=record.station_id, in_force=True, limit=10_000)
                replaced = [
                    p.id for p in in_force if p.id != record.id and _replaces(record.profile, record.evse_id, p)
                ]
                await uow.charging_profiles.end(
                    record_ids=replaced,
                    status=ProfileStatus.REPLACED,
                    at=outcome.finished_at,
                    by=record.set_by,
                    why=f"replaced by profile {record.profile.id} (record {record.id})",
                )
        log.info(
            "%s: charging profile %d on EVSE %s %s", record.station_id, record.profile.id, record.evse_id, record.status
        )
        return record


def _answered(record: StoredProfile, outcome: CommandOutcome) -> None:
    """The record as its command's outcome leaves it: accepted (in force), rejected, or failed (no answer)."""
    answered = outcome.outcome == CommandOutcomeKind.ANSWERED
    record.status = _ANSWERED.get(outcome.status or "", ProfileStatus.REJECTED) if answered else ProfileStatus.FAILED
    record.answer = outcome.status if answered else str(outcome.outcome)
    record.command_id = outcome.command_id
    record.answered_at = outcome.finished_at


def _replaces(new: ChargingProfile, evse_id: int, old: StoredProfile) -> bool:
    """A station overwrites the profile with the same id, or with the same stack level, purpose and EVSE (and, for
    Tx, transaction): 1.6 3.13.2, 2.0.1 K01.FR.05 and FR.06."""
    if old.profile.id == new.id:
        return True
    return (
        old.evse_id == evse_id
        and old.profile.stack_level == new.stack_level
        and old.profile.purpose is new.purpose
        and (new.purpose is not ProfilePurpose.TX or old.transaction_id == new.transaction_id)
    )


def _composite(data: dict[str, Any]) -> CompositeSchedule:
    """The gateway's version-neutral reading of a GetCompositeSchedule answer."""
    start = data.get("start")
    return CompositeSchedule(
        evse_id=int(data["evse_id"]),
        start=datetime.fromisoformat(start) if start else None,
        duration_s=data.get("duration_s"),
        unit=RateUnit(data["unit"]),
        periods=tuple(
            SchedulePeriod(
                start_s=int(p["start_s"]),
                limit=float(p["limit"]),
                phases=p.get("phases"),
                phase_to_use=p.get("phase_to_use"),
            )
            for p in data["periods"]
        ),
    )
