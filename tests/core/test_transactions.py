"""The transaction and authorization rules, through the core services on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from evscada.app import build_core
from evscada.bus.local import LocalBus
from evscada.core import events
from evscada.core.charging.meter_values import to_base_unit
from evscada.core.charging.transactions import event_digest
from evscada.core.historian.monitoring import reading_of
from evscada.core.model import (
    AuthorizationStatus,
    EvseRef,
    IdToken,
    MeterSample,
    StationId,
    Token,
    Transaction,
    TransactionEventKind,
    TransactionPk,
    TransactionReport,
    TransactionState,
    energy_between,
)
from evscada.core.services import Core
from evscada.storage.db import Database
from evscada.storage.store import SqlStore
from tests.conftest import _truncate, test_settings

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SID = StationId("CP-1")


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@pytest.fixture
async def core(database_url: str) -> AsyncIterator[tuple[Core, LocalBus]]:
    database = Database(database_url)
    await database.migrate()
    if database.engine.dialect.name == "postgresql":
        await _truncate(database)
    bus = LocalBus()
    built = build_core(test_settings(database_url), SqlStore(database), bus, FixedClock(NOW))
    await built.stations.register(station_id=SID)
    yield built, bus
    await database.close()


def started(at: datetime, token: str = "CARD", evse: int = 1, **fields: object) -> TransactionReport:
    return TransactionReport(
        kind=TransactionEventKind.STARTED, timestamp=at, evse=EvseRef(evse, 1), id_token=IdToken(token), **fields
    )  # type: ignore[arg-type]


async def test_unknown_token_starts_a_transaction_answered_invalid(core: tuple[Core, LocalBus]) -> None:
    svc, _ = core
    outcome = await svc.transactions.report(station_id=SID, report=started(NOW, meter_value=0.0))
    assert outcome.authorization is not None and outcome.authorization.status == AuthorizationStatus.INVALID
    assert outcome.transaction.state == TransactionState.RUNNING  # the station started it: it is recorded


async def test_expired_and_blocked_tokens_are_refused(core: tuple[Core, LocalBus]) -> None:
    svc, _ = core
    await svc.authorization.save_token(token=Token(value="OLD", expires_at=NOW - timedelta(days=1)))
    await svc.authorization.save_token(token=Token(value="BAD", status=AuthorizationStatus.BLOCKED))
    await svc.authorization.save_token(token=Token(value="OK", expires_at=NOW + timedelta(days=1), group_id="G"))
    old = await svc.authorization.authorize(station_id=SID, id_token=IdToken("OLD"))
    bad = await svc.authorization.authorize(station_id=SID, id_token=IdToken("BAD"))
    ok = await svc.authorization.authorize(station_id=SID, id_token=IdToken("OK"))
    assert (old.status, bad.status, ok.status) == ("Expired", "Blocked", "Accepted")
    assert ok.group_id == "G" and ok.expires_at == NOW + timedelta(days=1)


async def test_a_token_already_charging_gets_concurrent_tx_on_a_second_start(core: tuple[Core, LocalBus]) -> None:
    svc, _ = core
    await svc.authorization.save_token(token=Token(value="CARD"))
    first = await svc.transactions.report(station_id=SID, report=started(NOW, evse=1))
    second = await svc.transactions.report(station_id=SID, report=started(NOW + timedelta(minutes=1), evse=2))
    assert first.authorization is not None and first.authorization.status == "Accepted"
    assert second.authorization is not None and second.authorization.status == "ConcurrentTx"


async def test_energy_comes_from_register_samples_when_no_meter_start_is_given(core: tuple[Core, LocalBus]) -> None:
    svc, bus = core

    def register(at: datetime, wh: float, context: str) -> MeterSample:
        return MeterSample(timestamp=at, value=wh, unit="Wh", context=context)

    async with bus.subscribe() as queue:
        await svc.transactions.report(
            station_id=SID,
            report=TransactionReport(
                kind=TransactionEventKind.STARTED,
                timestamp=NOW,
                station_transaction_id="tx-9",
                evse=EvseRef(1, 1),
                seq_no=0,
                samples=(register(NOW, 5000, "Transaction.Begin"),),
            ),
        )
        end = NOW + timedelta(hours=1)
        outcome = await svc.transactions.report(
            station_id=SID,
            report=TransactionReport(
                kind=TransactionEventKind.ENDED,
                timestamp=end,
                station_transaction_id="tx-9",
                seq_no=1,
                stop_reason="EVDisconnected",
                samples=(register(end, 16000, "Transaction.End"),),
            ),
        )
        published = [queue.get_nowait() for _ in range(queue.qsize())]
    tx = outcome.transaction
    assert (tx.meter_start, tx.meter_stop, tx.energy_wh) == (5000, 16000, 11000)
    assert [type(e) for e in published] == [events.TransactionStarted, events.TransactionEnded]
    ended = published[1]
    assert isinstance(ended, events.TransactionEnded) and ended.energy_wh == 11000


async def test_events_arriving_out_of_order_keep_the_end(core: tuple[Core, LocalBus]) -> None:
    """Stations send queued events after a reconnect; an Updated that arrives after Ended must not reopen it."""
    svc, _ = core
    base = TransactionReport(
        kind=TransactionEventKind.STARTED, timestamp=NOW, station_transaction_id="tx-7", evse=EvseRef(1, 1), seq_no=0
    )
    await svc.transactions.report(station_id=SID, report=base)
    await svc.transactions.report(
        station_id=SID,
        report=TransactionReport(
            kind=TransactionEventKind.ENDED,
            timestamp=NOW + timedelta(minutes=30),
            station_transaction_id="tx-7",
            seq_no=2,
            stop_reason="Local",
        ),
    )
    late = await svc.transactions.report(
        station_id=SID,
        report=TransactionReport(
            kind=TransactionEventKind.UPDATED,
            timestamp=NOW + timedelta(minutes=10),
            station_transaction_id="tx-7",
            seq_no=1,
            offline=True,
            charging_state="Charging",
        ),
    )
    assert late.transaction.state == TransactionState.ENDED
    assert late.transaction.ended_at == NOW + timedelta(minutes=30)
    assert late.transaction.offline is True


def test_energy_is_never_negative_and_keeps_the_meters_digits_without_float_noise() -> None:
    assert energy_between(1004.9999999999999, 3015.0) == 2010.0  # 1.005 kWh as binary floating point scales it
    assert repr(energy_between(12000.1, 12345.6)) == "345.5"  # not 345.5000000000018
    assert energy_between(12345.006, 12345.0) == 0.0  # a start a hair above the stop: no energy, not -0.006 Wh
    # The console's live reading follows the same rule.
    tx = Transaction(TransactionPk(1), SID, "1", EvseRef(1, 1), TransactionState.RUNNING, meter_start=12345.006)
    assert reading_of(tx, [MeterSample(NOW, 12345.0, "Energy.Active.Import.Register", unit="Wh")]).energy_wh == 0.0


def test_scaled_units_are_a_decimal_shift() -> None:
    assert to_base_unit(1.005, "kWh", "Energy.Active.Import.Register") == (1005.0, "Wh")  # not 1004.9999999999999
    assert to_base_unit(5, "Wh", "Energy.Active.Import.Register", -6) == (5e-06, "Wh")


def test_an_event_is_itself_by_what_it_says_not_by_its_seq_no() -> None:
    event = started(NOW, station_transaction_id="T-1", seq_no=0)
    assert event_digest(event) == event_digest(replace(event, seq_no=7))  # re-sent with another seqNo: a repeat
    assert event_digest(event) == event_digest(replace(event, timestamp=NOW.astimezone(timezone(timedelta(hours=1)))))
    for different in (
        replace(event, kind=TransactionEventKind.UPDATED),
        replace(event, timestamp=NOW + timedelta(seconds=1)),
        replace(event, trigger_reason="MeterValuePeriodic"),
        replace(event, samples=(MeterSample(NOW, 1.0, "Energy.Active.Import.Register", unit="Wh"),)),
    ):
        assert event_digest(different) != event_digest(event)
