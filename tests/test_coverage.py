"""TeamCalendar: tentative reservations under the cover rule, confirm, cancel, state round trip, check()."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from actors.coverage import ReserveResult, TeamCalendar
from cluster._state import encode_parts

MON, TUE, WED = date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)
MEMBERS = ("ann", "ben", "cai", "dee")


@pytest.fixture
def calendar() -> TeamCalendar:
    """Four members, two must stay on duty: at most two off on any day."""
    return TeamCalendar("t0", MEMBERS, min_on_duty=2)


def reserved_days(calendar: TeamCalendar) -> dict[date, set[str]]:
    """Who is off, by day, over a few weeks around the test dates."""
    days = (MON + timedelta(days=i) for i in range(-7, 21))
    return {day: off for day in days if (off := calendar.off_on(day))}


# --- reserve --------------------------------------------------------------------------------------
def test_capacity_is_size_minus_minimum_on_duty(calendar: TeamCalendar) -> None:
    assert calendar.capacity() == 2


def test_reserve_within_the_minimum_on_duty_succeeds(calendar: TeamCalendar) -> None:
    assert calendar.reserve("r1", "ann", [MON, TUE]) == ReserveResult(True)
    assert calendar.reserve("r2", "ben", [MON]) == ReserveResult(True)

    assert reserved_days(calendar) == {MON: {"ann", "ben"}, TUE: {"ann"}}
    assert calendar.reservations["r1"]["status"] == "tentative"


def test_reserve_that_would_drop_below_the_minimum_is_refused_naming_the_day(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [WED])
    calendar.reserve("r2", "ben", [WED])

    result = calendar.reserve("r3", "cai", [MON, TUE, WED])

    assert result == ReserveResult(False, "coverage", WED)


def test_a_refused_reservation_leaves_nothing_reserved(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [WED])
    calendar.reserve("r2", "ben", [WED])
    before = reserved_days(calendar)

    calendar.reserve("r3", "cai", [MON, TUE, WED])

    assert reserved_days(calendar) == before
    assert "r3" not in calendar.reservations


def test_a_member_off_twice_on_a_day_counts_once(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])
    calendar.reserve("r2", "ann", [MON, TUE])

    assert calendar.reserve("r3", "ben", [MON]).ok
    assert calendar.off_on(MON) == {"ann", "ben"}


def test_a_team_that_needs_everyone_refuses_any_day_off() -> None:
    calendar = TeamCalendar("t1", ["ann", "ben"], min_on_duty=2)

    assert calendar.reserve("r1", "ann", [MON]) == ReserveResult(False, "coverage", MON)


def test_reserve_for_someone_outside_the_team_is_refused(calendar: TeamCalendar) -> None:
    assert calendar.reserve("r1", "zed", [MON]) == ReserveResult(False, "not_a_member")
    assert calendar.reservations == {}


def test_reserve_with_repeated_days_stores_each_day_once(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [TUE, MON, TUE])

    assert calendar.reservations["r1"]["days"] == [MON, TUE]


# --- confirm and cancel ---------------------------------------------------------------------------
def test_confirm_makes_a_reservation_permanent(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])

    assert calendar.confirm("r1") is True

    assert calendar.reservations["r1"]["status"] == "confirmed"
    assert calendar.off_on(MON) == {"ann"}


def test_confirmed_days_still_count_against_the_minimum(calendar: TeamCalendar) -> None:
    for rid, who in (("r1", "ann"), ("r2", "ben")):
        calendar.reserve(rid, who, [MON])
        calendar.confirm(rid)

    assert calendar.reserve("r3", "cai", [MON]) == ReserveResult(False, "coverage", MON)


def test_confirm_of_an_unknown_request_is_false(calendar: TeamCalendar) -> None:
    assert calendar.confirm("nope") is False
    assert calendar.reservations == {}


def test_cancel_frees_the_days(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON, TUE])
    calendar.reserve("r2", "ben", [MON])

    assert calendar.cancel("r1") is True

    assert reserved_days(calendar) == {MON: {"ben"}}
    assert calendar.reserve("r3", "cai", [MON]).ok


def test_cancel_of_a_confirmed_reservation_frees_the_days(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])
    calendar.confirm("r1")

    assert calendar.cancel("r1") is True

    assert reserved_days(calendar) == {}
    assert calendar.reservations == {}


def test_cancel_of_one_of_two_overlapping_requests_keeps_the_member_off(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])
    calendar.reserve("r2", "ann", [MON, TUE])

    calendar.cancel("r2")

    assert reserved_days(calendar) == {MON: {"ann"}}


# --- idempotence ----------------------------------------------------------------------------------
def test_reserve_twice_reserves_once(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])

    assert calendar.reserve("r1", "ann", [MON]).ok

    assert list(calendar.reservations) == ["r1"]
    calendar.cancel("r1")
    assert reserved_days(calendar) == {}


def test_a_redelivered_reserve_gets_the_first_answer_even_when_the_team_is_now_full(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])
    calendar.reserve("r2", "ben", [MON])

    assert calendar.reserve("r1", "ann", [MON]).ok
    assert calendar.off_on(MON) == {"ann", "ben"}


def test_confirm_twice_stays_confirmed(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])
    calendar.confirm("r1")

    assert calendar.confirm("r1") is True
    assert calendar.reservations["r1"]["status"] == "confirmed"


def test_cancel_twice_is_a_no_op(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])
    calendar.reserve("r2", "ben", [MON])
    calendar.cancel("r1")

    assert calendar.cancel("r1") is False

    assert reserved_days(calendar) == {MON: {"ben"}}


# --- state and check ------------------------------------------------------------------------------
def test_state_round_trips_through_json(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON, TUE])
    calendar.confirm("r1")
    calendar.reserve("r2", "ben", [TUE])

    restored = TeamCalendar.from_state(json.loads(json.dumps(calendar.to_state())))

    assert restored.to_state() == calendar.to_state()
    assert reserved_days(restored) == reserved_days(calendar)
    assert restored.reserve("r3", "cai", [TUE]) == ReserveResult(False, "coverage", TUE)


def test_a_calendar_stored_before_its_first_reservation_loads_back(calendar: TeamCalendar) -> None:
    # a team deactivated before any reservation: its empty StateMap of reservations stored no entry at all
    state = {name: json.loads(encoded) for name, encoded in encode_parts(calendar.durable_state(), {}).items()}
    assert "reservations" not in state
    assert TeamCalendar.from_state(state).to_state() == calendar.to_state()


def test_a_restored_reservation_can_be_cancelled(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])
    restored = TeamCalendar.from_state(calendar.to_state())

    assert restored.cancel("r1") is True
    assert reserved_days(restored) == {}


def test_check_finds_nothing_while_the_rule_holds(calendar: TeamCalendar) -> None:
    calendar.reserve("r1", "ann", [MON])
    calendar.reserve("r2", "ben", [MON])
    calendar.reserve("r3", "cai", [MON])  # refused

    assert calendar.check() == []


def test_check_names_team_day_and_people_when_too_many_are_off(calendar: TeamCalendar) -> None:
    state = calendar.to_state()
    state["reservations"] = {f"r{i}": {"employee": who, "status": "confirmed", "days": [TUE.isoformat()]}
                             for i, who in enumerate(MEMBERS[:3])}

    violations = TeamCalendar.from_state(state).check()

    assert violations == ["team t0 on 2026-12-01: ['ann', 'ben', 'cai'] off, at most 2"]
