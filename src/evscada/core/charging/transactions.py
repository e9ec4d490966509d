"""Charging sessions: one service for 1.6 Start/StopTransaction and 2.0.1 TransactionEvent."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from evscada.core import events
from evscada.core.charging.authorization import AuthorizationService
from evscada.core.charging.meter_values import recorded
from evscada.core.charging.repositories import MeterSampleRepository, TokenRepository, TransactionRepository
from evscada.core.charging.reservations import ReservationRepository
from evscada.core.control.commands import CommandLogRepository
from evscada.core.model import (
    STATION_WIDE,
    AuthorizationResult,
    MeterSample,
    StationId,
    Transaction,
    TransactionEventKind,
    TransactionPk,
    TransactionReport,
    TransactionState,
)
from evscada.core.notifications import webhooks
from evscada.core.notifications.webhooks import OutboxRepository
from evscada.core.ports import Clock, EventBus, Store

log = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"
# How long after a remote start the station's start still answers it (1.6 ConnectionTimeOut is often 1-3 minutes).
REMOTE_START_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class TransactionOutcome:
    transaction: Transaction
    authorization: AuthorizationResult | None
    duplicate: bool = False


class TransactionUnit(Protocol):
    transactions: TransactionRepository
    tokens: TokenRepository  # authorization checks the token in the same unit
    meter_samples: MeterSampleRepository  # samples 2.0.1 carries in TransactionEvent
    reservations: ReservationRepository  # a start uses its reservation
    commands: CommandLogRepository  # a 1.6 start answers a remote start
    outbox: OutboxRepository  # webhook events commit with the change


class TransactionService:
    def __init__(
        self, *, store: Store[TransactionUnit], bus: EventBus, clock: Clock, authorization: AuthorizationService
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._authorization = authorization

    async def report(self, *, station_id: StationId, report: TransactionReport) -> TransactionOutcome:
        """Apply one report; a repeat (the same event re-sent after a reconnect) is recognised and changes nothing."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            transaction, is_new = await self._find_or_create(uow, station_id, report)
            if not await self._record_event(uow, transaction.pk, report, now):
                return TransactionOutcome(transaction=transaction, authorization=None, duplicate=True)
            if not is_new:
                _warn_if_out_of_order(station_id, transaction, report)
            authorization = await self._authorize(uow, transaction, report, is_new)
            was_running = transaction.state == TransactionState.RUNNING
            _apply(transaction, report)
            if report.reservation_id is not None and (is_new or transaction.reservation_id != report.reservation_id):
                # The holder has arrived (2.0.1 may say so in a later event than Started): the reservation is used.
                transaction.reservation_id = report.reservation_id
                await uow.reservations.mark_used(
                    station_id=station_id, reservation_id=report.reservation_id, transaction_pk=transaction.pk, at=now
                )
            if authorization is not None:
                transaction.auth_status = authorization.status
            await uow.transactions.save(transaction=transaction)
            if report.samples:
                # A transaction first seen at its end may not say where it ran: keep its samples all the same.
                evse = transaction.evse or STATION_WIDE
                await uow.meter_samples.add(
                    station_id=station_id,
                    evse=evse,
                    transaction_pk=transaction.pk,
                    samples=report.samples,
                    # Stations often repeat readings already sent (Transaction.Begin, the last periodic) at the end.
                    skip_stored=report.kind == TransactionEventKind.ENDED,
                )
            await _record_for_webhooks(uow, transaction, report, is_new, was_running)
        self._publish(station_id, transaction, report, is_new, was_running)
        return TransactionOutcome(transaction=transaction, authorization=authorization)

    async def _find_or_create(
        self, uow: TransactionUnit, station_id: StationId, report: TransactionReport
    ) -> tuple[Transaction, bool]:
        existing: Transaction | None = None
        if report.station_transaction_id is not None:
            existing = await uow.transactions.find(
                station_id=station_id, station_transaction_id=report.station_transaction_id
            )
        elif report.kind == TransactionEventKind.STARTED and report.evse is not None:
            # 1.6 has no station-side id: a re-sent StartTransaction is recognised by where, when and who.
            existing = await uow.transactions.find_start(
                station_id=station_id,
                evse=report.evse,
                started_at=report.timestamp,
                id_token=report.id_token.value if report.id_token else None,
            )
        if existing is not None and _reuses_id(existing, report):
            # A station whose numbering restarted (a reboot, a reset) names a new session like an old one.
            log.warning(
                "%s: transaction %s started again at %s (the one stored started at %s): recorded as a new session",
                station_id,
                report.station_transaction_id,
                report.timestamp.isoformat(),
                existing.started_at.isoformat() if existing.started_at else None,
            )
            await uow.transactions.release_number(pk=existing.pk)
            existing = None
        if existing is not None:
            return existing, False
        if report.kind != TransactionEventKind.STARTED:
            log.warning(
                "%s: %s for transaction %s the CSMS never saw start; recording it",
                station_id,
                report.kind,
                report.station_transaction_id,
            )
        created = await uow.transactions.add(
            transaction=Transaction(
                pk=TransactionPk(0),
                station_id=station_id,
                station_transaction_id=report.station_transaction_id or "",
                evse=report.evse,
                state=TransactionState.RUNNING,
                started_at=report.timestamp if report.kind == TransactionEventKind.STARTED else None,
                reservation_id=report.reservation_id,
                remote_start_command_id=report.remote_start_id or await self._asked_by(uow, station_id, report),
            )
        )
        return created, True

    async def _asked_by(self, uow: TransactionUnit, station_id: StationId, report: TransactionReport) -> int | None:
        """1.6 has no remoteStartId: a start is the answer to the earliest unclaimed remote start for the same token
        (and EVSE, if one was named) within the last few minutes that the station accepted or has not answered yet:
        a station may start before its answer is stored, or even before it answers (the command is logged before it
        is sent; one the station then refuses gives the link up, storage.control.command_log)."""
        if report.kind != TransactionEventKind.STARTED or report.id_token is None:
            return None
        since = self._clock.now() - REMOTE_START_WINDOW
        for command_id, arguments in await uow.commands.open_remote_starts(station_id=station_id, since=since):
            token = (arguments.get("id_token") or {}).get("value")
            evse = arguments.get("evse_id")
            if token == report.id_token.value and (evse is None or report.evse is None or evse == report.evse.evse_id):
                return command_id
        return None

    async def _record_event(
        self, uow: TransactionUnit, pk: TransactionPk, report: TransactionReport, now: datetime
    ) -> bool:
        """Keep the event by what it says; False when the very same event is stored already (a repeat)."""
        return await uow.transactions.add_event(
            transaction_pk=pk,
            digest=event_digest(report),
            seq_no=report.seq_no,
            event_type=report.kind,
            trigger_reason=report.trigger_reason,
            timestamp=report.timestamp,
            received_at=now,
        )

    async def _authorize(
        self, uow: TransactionUnit, transaction: Transaction, report: TransactionReport, is_new: bool
    ) -> AuthorizationResult | None:
        if report.id_token is None:
            return None
        if transaction.id_token not in (None, report.id_token.value):
            # 2.0.1 sends the token again at stop (a different card may end the session): check it, keep the first.
            return await self._authorization.check(uow, id_token=report.id_token, starting=False)
        starting = is_new and report.kind == TransactionEventKind.STARTED
        first_seen = transaction.id_token is None
        transaction.id_token = report.id_token.value
        transaction.token_type = report.id_token.type
        result = await self._authorization.check(uow, id_token=report.id_token, starting=starting)
        if first_seen:
            # The vehicle of the token when the session began: linking the token later does not rewrite history.
            transaction.vehicle_id = result.vehicle_id
        return result

    def _publish(
        self,
        station_id: StationId,
        transaction: Transaction,
        report: TransactionReport,
        is_new: bool,
        was_running: bool,
    ) -> None:
        if is_new:
            self._bus.publish(
                events.TransactionStarted(
                    station_id=station_id,
                    at=report.timestamp,
                    transaction_pk=transaction.pk,
                    evse=transaction.evse,
                    id_token=transaction.id_token,
                )
            )
        if was_running and transaction.state == TransactionState.ENDED:
            self._bus.publish(
                events.TransactionEnded(
                    station_id=station_id,
                    at=report.timestamp,
                    transaction_pk=transaction.pk,
                    stop_reason=transaction.stop_reason,
                    energy_wh=transaction.energy_wh,
                    evse=transaction.evse,
                )
            )
        elif report.samples and not is_new and transaction.state == TransactionState.RUNNING:
            # 2.0.1 carries a running session's meter values in TransactionEvent(Updated): the same news as MeterValues.
            self._bus.publish(recorded(station_id, transaction.evse, transaction.pk, report.samples))


async def _record_for_webhooks(
    uow: TransactionUnit, transaction: Transaction, report: TransactionReport, is_new: bool, was_running: bool
) -> None:
    """Outbox rows in the same commit as the change: webhooks lose no event to a full bus queue or a crash."""
    kinds = []
    if is_new:
        kinds.append(webhooks.TRANSACTION_STARTED)
    if was_running and transaction.state == TransactionState.ENDED:
        kinds.append(webhooks.TRANSACTION_ENDED)
    for kind in kinds:
        await uow.outbox.add(
            event_type=kind,
            station_id=transaction.station_id,
            transaction_pk=transaction.pk,
            occurred_at=report.timestamp,
        )


def event_digest(report: TransactionReport) -> str:
    """What makes an event itself: everything it reports but its seqNo, times as instants. A repeat is the same event
    again; an event that differs in anything (type, trigger, time, meter values ...) is new, whatever its seqNo says
    (some stations send seqNo 0 every time, or count again after a reboot)."""
    content = [_instant(value) for value in _REPORT_FIELDS(report)]
    content.extend(tuple(_instant(value) for value in _SAMPLE_FIELDS(sample)) for sample in report.samples)
    return hashlib.blake2b(repr(content).encode(), digest_size=16).hexdigest()


# Every field, so that one added later counts too (a field left out would make events that differ in it repeats).
_REPORT_FIELDS = operator.attrgetter(
    *(f.name for f in dataclasses.fields(TransactionReport) if f.name not in ("seq_no", "samples"))
)
_SAMPLE_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(MeterSample)))


def _instant(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _reuses_id(existing: Transaction, report: TransactionReport) -> bool:
    """A Started naming an ended session that began at another time is a new session under a reused id."""
    return (
        report.kind == TransactionEventKind.STARTED
        and report.station_transaction_id is not None
        and existing.state == TransactionState.ENDED
        and existing.started_at is not None
        and existing.started_at != report.timestamp
    )


def _warn_if_out_of_order(station_id: StationId, transaction: Transaction, report: TransactionReport) -> None:
    """A new event the rules say cannot come (a seqNo not counting up, a second start or end) is kept all the same,
    and said so: nothing a station reports vanishes without a trace."""
    if report.seq_no is not None and transaction.last_seq_no is not None and report.seq_no <= transaction.last_seq_no:
        problem = f"seqNo {report.seq_no} after {transaction.last_seq_no}"
    elif report.kind == TransactionEventKind.STARTED and transaction.started_at is not None:
        problem = "a second start"
    elif report.kind == TransactionEventKind.ENDED and transaction.state == TransactionState.ENDED:
        problem = "a second end"
    else:
        return
    log.warning(
        "%s: %s event of transaction %s at %s breaks the rules (%s); stored, as it differs from every event stored",
        station_id,
        report.kind,
        transaction.station_transaction_id,
        report.timestamp.isoformat(),
        problem,
    )


def _apply(transaction: Transaction, report: TransactionReport) -> None:
    """Fold one report into the transaction record."""
    if report.evse is not None and (transaction.evse is None or transaction.evse.evse_id == 0):
        transaction.evse = report.evse
    if report.charging_state is not None:
        transaction.charging_state = report.charging_state
    if report.offline:
        transaction.offline = True
    if report.seq_no is not None:
        transaction.last_seq_no = max(report.seq_no, transaction.last_seq_no or 0)
    if report.kind == TransactionEventKind.STARTED and transaction.started_at is None:
        transaction.started_at = report.timestamp
    _fold_energy(transaction, report)
    if report.kind == TransactionEventKind.ENDED:
        transaction.state = TransactionState.ENDED
        transaction.ended_at = report.timestamp
        transaction.stop_reason = report.stop_reason or transaction.stop_reason


def _fold_energy(transaction: Transaction, report: TransactionReport) -> None:
    """Meter start/stop from 1.6 meterStart/meterStop, or from the energy register samples 2.0.1 carries."""
    registers = _energy_registers(report.samples)
    if report.kind == TransactionEventKind.STARTED and report.meter_value is not None:
        transaction.meter_start = report.meter_value
    if registers:
        if transaction.meter_start is None:
            begin = [s for s in registers if s.context == "Transaction.Begin"] or registers
            transaction.meter_start = begin[0].value
        transaction.meter_stop = registers[-1].value
    if report.kind == TransactionEventKind.ENDED and report.meter_value is not None:
        transaction.meter_stop = report.meter_value


def _energy_registers(samples: Sequence[MeterSample]) -> list[MeterSample]:
    registers = [
        s
        for s in samples
        if s.measurand == ENERGY_REGISTER
        and s.value is not None
        and math.isfinite(s.value)
        and s.phase is None
        and s.location in (None, "Outlet")
    ]
    registers.sort(key=lambda s: s.timestamp)
    return registers
