"""The charging limit a simulated station honours, from the profiles the CSMS installed (OCPP smart charging)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evscada.simulator.charging_limits import ChargingLimits, Kind, Period, Profile, Purpose

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def profile(
    profile_id: int,
    limit: float,
    *,
    connector: int = 0,
    purpose: Purpose = Purpose.TX_DEFAULT,
    stack_level: int = 0,
    unit: str = "W",
    kind: Kind = Kind.ABSOLUTE,
    periods: tuple[Period, ...] | None = None,
    **fields: object,
) -> Profile:
    return Profile(
        profile_id=profile_id,
        connector=connector,
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        unit=unit,
        periods=periods or (Period(0, limit),),
        start_schedule=fields.pop("start_schedule", T0 if kind is not Kind.RELATIVE else None),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def limits(*profiles: Profile, phases: int = 3) -> ChargingLimits:
    store = ChargingLimits(phases=phases)
    for p in profiles:
        store.install(p)
    return store


def test_no_profile_sets_no_limit() -> None:
    assert limits().limit_w(1, T0, transaction=True) is None


def test_the_highest_valid_stack_level_wins() -> None:
    store = limits(
        profile(1, 11_000, stack_level=0),
        profile(2, 4_000, stack_level=1, valid_to=T0 + timedelta(hours=1)),
    )
    assert store.limit_w(1, T0, transaction=True) == 4_000
    assert store.limit_w(1, T0 + timedelta(hours=2), transaction=True) == 11_000  # the higher one expired
    assert store.limit_w(1, T0 - timedelta(hours=1), transaction=True) is None  # before the schedule starts


def test_a_profile_not_yet_valid_does_not_count() -> None:
    store = limits(profile(1, 11_000), profile(2, 3_000, stack_level=2, valid_from=T0 + timedelta(minutes=5)))
    assert store.limit_w(1, T0, transaction=True) == 11_000
    assert store.limit_w(1, T0 + timedelta(minutes=6), transaction=True) == 3_000


def test_a_tx_profile_overrides_tx_default_only_during_a_transaction() -> None:
    store = limits(
        profile(1, 3_000, stack_level=5),
        profile(2, 9_000, connector=1, purpose=Purpose.TX),
    )
    assert store.limit_w(1, T0, transaction=True) == 9_000
    assert store.limit_w(1, T0, transaction=False) == 3_000
    assert store.limit_w(2, T0, transaction=True) == 3_000
    store.transaction_ended(1)
    assert store.limit_w(1, T0, transaction=True) == 3_000


def test_a_connectors_own_default_overrides_the_station_wide_one() -> None:
    store = limits(profile(1, 3_000, stack_level=9), profile(2, 7_000, connector=2))
    assert store.limit_w(2, T0, transaction=True) == 7_000
    assert store.limit_w(1, T0, transaction=True) == 3_000


def test_the_station_maximum_caps_every_transaction_limit() -> None:
    store = limits(
        profile(1, 5_000, purpose=Purpose.STATION_MAX),
        profile(2, 9_000, connector=1, purpose=Purpose.TX),
    )
    assert store.limit_w(1, T0, transaction=True) == 5_000
    store.install(profile(3, 2_000, connector=1, purpose=Purpose.TX, stack_level=1))
    assert store.limit_w(1, T0, transaction=True) == 2_000


def test_amperes_count_230_volts_on_the_periods_phases_capped_by_the_stations() -> None:
    assert limits(profile(1, 10, unit="A")).limit_w(1, T0, transaction=True) == 6_900
    one_phase = profile(1, 16, unit="A", periods=(Period(0, 16, phases=1),))
    assert limits(one_phase).limit_w(1, T0, transaction=True) == 3_680
    assert limits(profile(1, 10, unit="A"), phases=1).limit_w(1, T0, transaction=True) == 2_300


def test_a_relative_schedule_runs_from_the_transaction_start() -> None:
    periods = (Period(0, 11_000), Period(600, 4_000))
    store = limits(profile(1, 0, kind=Kind.RELATIVE, periods=periods, duration_s=1800))
    start = T0 + timedelta(hours=3)
    assert store.limit_w(1, start + timedelta(minutes=5), transaction=True, tx_start=start) == 11_000
    assert store.limit_w(1, start + timedelta(minutes=15), transaction=True, tx_start=start) == 4_000
    assert store.limit_w(1, start + timedelta(minutes=31), transaction=True, tx_start=start) is None  # over
    assert store.limit_w(1, start, transaction=False) is None  # no transaction: no start


def test_a_daily_schedule_recurs() -> None:
    night = (Period(0, 11_000), Period(8 * 3600, 3_000), Period(18 * 3600, 11_000))  # from midnight
    midnight = T0.replace(hour=0)
    store = limits(profile(1, 0, kind=Kind.RECURRING, recurrency="Daily", periods=night, start_schedule=midnight))
    assert store.limit_w(1, midnight + timedelta(days=3, hours=2), transaction=True) == 11_000
    assert store.limit_w(1, midnight + timedelta(days=3, hours=9), transaction=True) == 3_000
    assert store.limit_w(1, midnight - timedelta(hours=1), transaction=True) is None  # before it began


def test_a_new_profile_replaces_its_id_and_its_stack_level_and_purpose() -> None:
    store = limits(profile(1, 11_000), profile(1, 6_000, stack_level=3))
    assert [p.limit for p in store.profiles()[0].periods] == [6_000]
    store.install(profile(2, 5_000, stack_level=3))  # same connector, purpose, stack level
    assert [p.profile_id for p in store.profiles()] == [2]
    store.install(profile(3, 4_000, stack_level=3, connector=1))  # another connector: kept beside it
    assert sorted(p.profile_id for p in store.profiles()) == [2, 3]


def test_clearing_by_id_or_by_criteria_says_whether_anything_went() -> None:
    store = limits(
        profile(1, 11_000),
        profile(2, 6_000, stack_level=2),
        profile(3, 5_000, purpose=Purpose.STATION_MAX),
        profile(4, 4_000, connector=1),
    )
    assert store.clear(profile_id=9) is False
    assert store.clear(profile_id=1) is True
    assert store.clear(connector=0, purpose=Purpose.TX_DEFAULT, stack_level=7) is False
    assert store.clear(connector=0, purpose=Purpose.TX_DEFAULT) is True
    assert sorted(p.profile_id for p in store.profiles()) == [3, 4]
    assert store.clear() is True
    assert store.profiles() == []


def test_the_composite_schedule_lists_where_the_limit_changes() -> None:
    periods = (Period(0, 11_000), Period(600, 4_000), Period(1200, 30_000))
    store = limits(profile(1, 0, periods=periods), profile(2, 8_000, purpose=Purpose.STATION_MAX))
    at = T0 + timedelta(minutes=5)
    assert store.composite(1, at, 3600, unit="W", ceiling_w=22_000, transaction=True) == [
        (0, 8_000),
        (300, 4_000),
        (900, 8_000),
    ]
    assert store.composite(1, at, 200, unit="A", ceiling_w=22_000, transaction=True) == [(0, 11.6)]
    assert limits().composite(1, at, 60, unit="W", ceiling_w=22_000, transaction=False) == [(0, 22_000)]


def test_the_composite_schedule_follows_a_recurring_profile_into_its_next_day() -> None:
    day = (Period(0, 3_000), Period(3600, 7_000))
    store = limits(profile(1, 0, kind=Kind.RECURRING, recurrency="Daily", periods=day))
    at = T0 + timedelta(hours=23)
    assert store.composite(1, at, 7200, unit="W", ceiling_w=22_000, transaction=True) == [
        (0, 7_000),
        (3600, 3_000),
    ]
