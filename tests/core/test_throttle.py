"""Back-off after repeated failures, on a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evscada.core.access.logins import network_of
from evscada.core.access.throttle import BackOff, BackOffRule

RULE = BackOffRule(failures=3, window=timedelta(minutes=15), first=timedelta(seconds=1), longest=timedelta(seconds=8))


class FakeClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def test_failures_below_the_threshold_cost_no_wait() -> None:
    backoff = BackOff(RULE, clock=FakeClock())
    assert not backoff.failed("k") and not backoff.failed("k")
    assert backoff.wait("k") == 0


def test_the_wait_doubles_with_each_failure_up_to_the_cap_and_ends() -> None:
    clock = FakeClock()
    backoff = BackOff(RULE, clock=clock)
    backoff.failed("k")
    backoff.failed("k")
    waits = []
    for _ in range(6):
        backoff.failed("k")
        waits.append(backoff.wait("k"))
        clock.advance(backoff.wait("k"))  # the caller tries again the moment it may
        assert backoff.wait("k") == 0
    assert waits == [1, 2, 4, 8, 8, 8]


def test_only_the_first_back_off_of_a_burst_is_reported() -> None:
    clock = FakeClock()
    backoff = BackOff(RULE, clock=clock)
    starts = [backoff.failed("k") for _ in range(5)]
    assert starts == [False, False, True, False, False]
    clock.advance(15 * 60 + 1)  # quiet for a window: the count and the wait start over
    starts = [backoff.failed("k") for _ in range(3)]
    assert starts == [False, False, True] and backoff.wait("k") == 1


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = FakeClock()
    backoff = BackOff(RULE, clock=clock)
    backoff.failed("k")
    backoff.failed("k")
    clock.advance(15 * 60)
    assert not backoff.failed("k")
    assert backoff.wait("k") == 0


def test_a_success_forgets_the_key_and_keys_are_apart() -> None:
    backoff = BackOff(RULE, clock=FakeClock())
    for _ in range(3):
        backoff.failed("a")
    assert backoff.wait("a") == 1 and backoff.wait("b") == 0
    backoff.succeeded("a")
    assert backoff.wait("a") == 0


def test_the_number_of_keys_is_bounded_least_recently_failed_first() -> None:
    clock = FakeClock()
    backoff = BackOff(RULE, clock=clock, max_keys=100)
    for _ in range(3):
        backoff.failed("attacked")
    for n in range(1000):
        backoff.failed(f"noise-{n}")
        if n % 50 == 0:
            backoff.failed("attacked")  # keeps failing: stays among the recent
    assert backoff.wait("attacked") > 0
    assert len(backoff) <= 100


def test_quiet_keys_are_forgotten_as_new_ones_come() -> None:
    clock = FakeClock()
    backoff = BackOff(RULE, clock=clock)
    for n in range(10):
        backoff.failed(f"old-{n}")
    clock.advance(16 * 60)
    for n in range(10):
        backoff.failed(f"new-{n}")
    assert len(backoff) == 10  # the new ones


def test_an_address_counts_as_itself_or_its_ipv6_64() -> None:
    assert network_of("198.51.100.7") == "198.51.100.7"
    assert network_of("2001:db8:1:2:aaaa::1") == network_of("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert network_of("::ffff:198.51.100.7") == "198.51.100.7"
    assert network_of("testclient") == "testclient"
