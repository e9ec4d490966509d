"""When an allocation becomes a profile: material changes only, a rate limit per station, safety decreases at once."""

from __future__ import annotations

from datetime import timedelta

from evscada.core.energy.allocation import Allocation, Reason
from evscada.core.energy.grid import Curtailment, Limit, Node, SiteGrid
from evscada.core.energy.sending import is_material, should_send, to_send
from tests.core.energy.builders import AT, flat_site, sid

SECOND = timedelta(seconds=1)
LONG_AGO = AT - timedelta(hours=1)


def ac(amps: float, session: str = "a", reason: Reason = Reason.EQUAL_SHARE) -> Allocation:
    return Allocation(session, sid(session.upper()), amps * 690, amps, (1, 2, 3), reason)


def dc(watts: float, session: str = "d") -> Allocation:
    return Allocation(session, sid(session.upper()), watts, None, (), Reason.EQUAL_SHARE)


def test_the_first_limit_is_always_sent() -> None:
    assert should_send(None, ac(16), None, AT)


def test_a_change_is_material_from_1_a_or_5_percent_whichever_is_larger() -> None:
    assert not is_material(ac(16), ac(16.9)) and is_material(ac(16), ac(17))
    assert not is_material(ac(32), ac(30.5)) and is_material(ac(32), ac(30.4))  # 5 % of 32 A is 1.6 A
    assert not is_material(dc(50_000), dc(52_000)) and is_material(dc(50_000), dc(47_500))


def test_pausing_and_resuming_are_always_material() -> None:
    assert is_material(ac(0.5), ac(0)) and is_material(ac(0), ac(0.5))


def test_a_material_change_waits_for_the_rate_limit() -> None:
    assert not should_send(ac(16), ac(20), AT - 10 * SECOND, AT)
    assert should_send(ac(16), ac(20), AT - 30 * SECOND, AT)
    assert not should_send(ac(16), ac(16.5), LONG_AGO, AT)
    assert not should_send(ac(16), ac(16), LONG_AGO, AT)


def test_a_required_decrease_goes_at_once_however_small() -> None:
    assert should_send(ac(16), ac(15.9), AT - SECOND, AT, required=True)
    assert not should_send(ac(16), ac(16.5), AT - SECOND, AT, required=True)  # required applies to decreases


def test_oscillating_allocations_do_not_chatter() -> None:
    in_force, sent_at, sends = ac(16), LONG_AGO, 0
    for n in range(120):
        now = AT + n * 5 * SECOND
        new = ac(16 + (0.4 if n % 2 else -0.4))
        if should_send(in_force, new, sent_at, now):
            in_force, sent_at, sends = new, now, sends + 1
    assert sends == 0


def test_small_decreases_needed_to_stay_within_the_connection_are_forced() -> None:
    site = flat_site(amps=32, stations=["A", "B"])
    in_force = {"a": ac(16, "a"), "b": ac(16, "b")}
    new = [ac(17.5, "a"), ac(14.5, "b")]  # a's raise is material; b was sent a limit a moment ago
    last = {sid("A"): LONG_AGO, sid("B"): AT - 5 * SECOND}
    assert to_send(site, new, in_force, last, AT) == new
    held = [ac(16.5, "a"), ac(15.5, "b")]  # neither material: nothing moves, the limits in force still fit
    assert to_send(site, held, in_force, last, AT) == []


def test_a_curtailment_forces_every_decrease_under_it_at_once() -> None:
    curtailed = Node("site", Limit(amps=63), curtailment=Curtailment(Limit(amps=31), AT + timedelta(hours=1)))
    site = SiteGrid(curtailed)
    in_force = {"a": ac(16, "a"), "b": ac(16, "b")}
    new = [ac(15.5, "a"), ac(15.5, "b")]
    just_sent = {sid("A"): AT - SECOND, sid("B"): AT - SECOND}
    assert to_send(site, new, in_force, just_sent, AT) == new


def test_reserves_are_counted_but_never_sent() -> None:
    site = flat_site(amps=32, stations=["A", "R"])
    rogue = ac(20, "r", Reason.UNCONTROLLED_RESERVE)
    in_force = {"a": ac(16, "a")}
    new = [ac(11.5, "a"), rogue]  # 16 A in force next to the 20 A reserve would be 36 A
    assert to_send(site, new, in_force, {sid("A"): AT - SECOND}, AT) == [new[0]]


def test_a_new_session_gets_its_first_limit_and_forces_the_small_decrease_that_makes_room() -> None:
    site = flat_site(amps=32, stations=["A", "B"])
    new = [ac(16, "a"), ac(16, "b")]
    assert to_send(site, new, {"a": ac(16.5, "a")}, {sid("A"): AT - SECOND}, AT) == new  # 16.5 + 16 > 32
    roomy = flat_site(amps=40, stations=["A", "B"])
    assert to_send(roomy, new, {"a": ac(16.5, "a")}, {}, AT) == [new[1]]  # a's 0.5 A less is not material
