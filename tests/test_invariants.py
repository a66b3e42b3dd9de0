"""The invariant checker, on hand-built snapshots (no Ray): a consistent state passes, and each deliberately
broken state is caught with an example naming the culprit.

The consistent state is played through the real HrStore and TeamCalendar for a small generated org, and
read back in the shapes the agents report (hr.snapshot, team.report, notifier.received, employee.report)."""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import weekdays_from

from actors.audit import DecisionAudit
from actors.coverage import TeamCalendar
from actors.hr import hr_report
from actors.hr_store import HrStore
from actors.invariants import ANSWERS, AUDIT, CANCELS, WAITING, DriverAnswers, InvariantResult, Snapshot, check
from actors.ledgers import Ledgers, hr_db_path
from actors.org import Org
from actors.stored import collect_stored, same_state, state_file
from cluster import SqliteStateStore, StateMap
from cluster._state import encode_parts

LEDGER = "ledger reconciles and no balance is negative"
DOUBLE = "no day committed twice for one employee"
COVER = "every team keeps its minimum on duty"
OUTCOME = "every request has exactly one outcome: terminal, or waiting for its manager"
LEFTOVER = "a rejected request leaves no hold and no reservation"
AGREE = "approved requests committed in hr, rejected ones not"
NOTICE = "each approved notice reached each recipient exactly once, rejected ones none"

MON = date(2026, 11, 30)
TUE, WED, THU, FRI = (MON + timedelta(days=i) for i in range(1, 5))


def weekdays(n: int, start: date = MON) -> list[date]:
    return weekdays_from(start, n)


@dataclass
class World:
    """The agents' state, kept by the real store and calendars; notices and outcomes by hand."""

    org: Org
    stores: dict[str, HrStore]
    calendars: dict[str, TeamCalendar]
    requested: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    days: dict[str, list[date]] = field(default_factory=dict)
    reasons: dict[str, str | None] = field(default_factory=dict)
    task_notices: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    notifiers: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    cancellations: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    answers: DriverAnswers = field(default_factory=DriverAnswers)
    inboxes: dict[str, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))  # by manager id

    def hr_of(self, employee: str) -> HrStore:
        return self.stores[self.org.department_of(employee)]

    def manager(self, employee: str) -> str:
        return f"manager/{self.org.manager_of(employee)}"

    def decision(self, employee: str, days: list[date], reason: str | None) -> DecisionAudit:
        return DecisionAudit(employee=employee, days=days, approved=reason is None, reason=reason)

    def told(self, request_id: str, status: str, reason: str | None = None) -> None:
        """The driver hears the outcome, as the employee recorded it."""
        self.reasons[request_id] = reason
        self.answers.outcomes[request_id] = {"status": status, "reason": reason,
                                             "days": [d.isoformat() for d in self.days.get(request_id, [])]}

    def _hold_and_reserve(self, request_id: str, employee: str, days: list[date]) -> None:
        self.requested[request_id] = employee
        self.days[request_id] = days
        assert self.hr_of(employee).place_hold(request_id, employee, days).ok
        for team in self.org.teams_of(employee):
            assert self.calendars[team.id].reserve(request_id, employee, days).ok

    def approve(self, request_id: str, employee: str, days: list[date]) -> None:
        self._hold_and_reserve(request_id, employee, days)
        assert self.hr_of(employee).commit(request_id, self.decision(employee, days, None), self.manager(employee)).ok
        for team in self.org.teams_of(employee):
            assert self.calendars[team.id].confirm(request_id)
        self.statuses[employee][request_id] = "approved"
        self.told(request_id, "approved")
        self.notifiers[self.org.department_of(employee)][request_id] += 1
        self.tell_task_mates(request_id, employee)

    def reject(self, request_id: str, employee: str, days: list[date]) -> None:
        self._hold_and_reserve(request_id, employee, days)
        assert self.hr_of(employee).release(request_id, self.decision(employee, days, "coverage"),
                                            self.manager(employee)).ok
        for team in self.org.teams_of(employee):
            assert self.calendars[team.id].cancel(request_id)
        self.statuses[employee][request_id] = "rejected"
        self.told(request_id, "rejected", "coverage")

    def wait(self, request_id: str, employee: str, days: list[date]) -> None:
        """The request waits for the manager: held, reserved tentatively, in the manager's inbox."""
        self._hold_and_reserve(request_id, employee, days)
        self.statuses[employee][request_id] = "waiting"
        self.told(request_id, "waiting")
        self.inboxes[self.org.manager_of(employee)][request_id] = {"employee": employee,
                                                                   "days": [d.isoformat() for d in days]}

    def refuse_hold(self, request_id: str, employee: str, days: list[date]) -> None:
        self.requested[request_id] = employee
        assert not self.hr_of(employee).place_hold(request_id, employee, days).ok
        self.statuses[employee][request_id] = "rejected"
        self.told(request_id, "rejected", "insufficient_balance")

    def cancel(self, request_id: str) -> None:
        employee = self.requested[request_id]
        assert self.hr_of(employee).cancel(request_id, self.manager(employee)).ok
        for team in self.org.teams_of(employee):
            assert self.calendars[team.id].cancel(request_id)
        self.statuses[employee][request_id] = "cancelled"
        self.answers.cancels[request_id] = {"ok": True, "reason": None}
        self.cancellations[self.org.department_of(employee)][request_id] += 1
        self.tell_task_mates(request_id, employee, "|cancelled")

    def tell_task_mates(self, request_id: str, employee: str, suffix: str = "") -> None:
        for task in self.org.employees[employee].tasks:
            for mate in self.org.tasks[task]:
                if mate != employee:
                    self.task_notices[mate][f"{request_id}|task/{task}{suffix}"] += 1

    def snapshot(self) -> Snapshot:
        """Fresh dicts each time, so a test may break one without touching the world."""
        return Snapshot(
            hr={dept: hr_report(store, [e.id for e in self.org.employees.values() if e.department == dept])
                for dept, store in self.stores.items()},
            teams={t: {"violations": c.check(), "state": c.to_state()} for t, c in self.calendars.items()},
            notifiers={d: dict(self.notifiers[d]) for d in self.org.departments},
            employees={e: {"requests": dict(self.statuses[e]),
                           "records": {rid: {"status": status, "reason": self.reasons.get(rid),
                                             "days": [d.isoformat() for d in self.days.get(rid, [])]}
                                       for rid, status in self.statuses[e].items()},
                           "task_notices": dict(self.task_notices[e]), "refused": []} for e in self.org.employees},
            cancellations={d: dict(self.cancellations[d]) for d in self.org.departments},
            managers={m: {"decisions": {}, "waiting": dict(self.inboxes[m])} for m in self.org.managers},
        )

    def check(self, snap: Snapshot | None = None, answers: DriverAnswers | None = None) -> list[InvariantResult]:
        return check(self.org, snap or self.snapshot(), self.requested, answers or self.answers)


@dataclass(frozen=True)
class Cast:
    approved: str  # in two teams, neither first nor last in the org
    rejected: str  # in another department
    cancelled: str
    refused: str  # asks for more than their balance


@pytest.fixture(scope="module")
def org() -> Org:
    generated = Org.generate(3, employees=20, team_size=3)
    assert len(generated.departments) >= 2
    return generated


@pytest.fixture(scope="module")
def cast(org: Org) -> Cast:
    ids = list(org.employees)
    approved = next(e for e in ids[1:-1] if len(org.employees[e].teams) == 2)
    rejected = next(e for e in ids if org.department_of(e) != org.department_of(approved))
    cancelled = next(e for e in ids if e not in (approved, rejected))
    refused = next(e for e in ids if e not in (approved, rejected, cancelled))
    return Cast(approved, rejected, cancelled, refused)


@pytest.fixture
def world(org: Org, cast: Cast, tmp_path: Path) -> Iterator[World]:
    stores = {d: HrStore(hr_db_path(tmp_path, d)) for d in org.departments}
    for dept, store in stores.items():
        store.add_employees({e.id: e.starting_balance for e in org.employees.values() if e.department == dept})
    calendars = {t.id: TeamCalendar(t.id, t.members, t.min_on_duty) for t in org.teams.values()}
    w = World(org, stores, calendars)
    w.approve("r-approved", cast.approved, [MON, TUE])
    w.reject("r-rejected", cast.rejected, [MON])
    w.approve("r-cancelled", cast.cancelled, [WED, THU])
    w.cancel("r-cancelled")
    w.refuse_hold("r-refused", cast.refused, weekdays(org.employees[cast.refused].starting_balance + 1))
    yield w
    for store in stores.values():
        store.close()


def failing(results: list[InvariantResult]) -> dict[str, str]:
    """The violated invariants, each with its example."""
    return {r.name: r.example for r in results if not r.ok}


def department(org: Org, employee: str) -> str:
    return org.department_of(employee)


def a_task_mate(org: Org, employee: str) -> tuple[str, str]:
    """(mate, task) for the first task mate of ``employee``."""
    task = org.employees[employee].tasks[0]
    return next(m for m in org.tasks[task] if m != employee), task


# --- a consistent state ---------------------------------------------------------------------------
def test_a_consistent_state_passes_every_invariant(world: World) -> None:
    results = world.check()

    assert failing(results) == {}
    assert {r.name for r in results} == {LEDGER, DOUBLE, COVER, OUTCOME, LEFTOVER, AGREE, NOTICE, CANCELS, AUDIT,
                                         WAITING, ANSWERS}


def test_the_consistent_state_really_has_each_kind_of_outcome(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    hr = {rid: status for dept in snap.hr.values() for rid, (_, status, _) in dept["requests"].items()}

    assert hr == {"r-approved": "committed", "r-rejected": "released", "r-cancelled": "cancelled"}
    assert snap.notifiers[department(world.org, cast.approved)]["r-approved"] == 1
    assert any(key.endswith("|cancelled") for report in snap.employees.values() for key in report["task_notices"])


# --- balances and the ledger ----------------------------------------------------------------------
def test_a_negative_balance_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    snap.hr[department(world.org, cast.approved)]["balances"][cast.approved] = -1

    assert failing(world.check(snap)) == {
        LEDGER: f"{cast.approved}: balance -1, expected 5 (starting 7 - 2 committed days)"}


def test_a_ledger_that_no_longer_reconciles_in_the_store_is_caught(world: World, cast: Cast) -> None:
    store = world.hr_of(cast.approved)
    with sqlite3.connect(store.where) as db:
        db.execute("DELETE FROM ledger WHERE id = (SELECT MAX(id) FROM ledger WHERE request_id = 'r-approved')")

    found = failing(world.check())

    assert set(found) == {LEDGER}
    assert found[LEDGER].startswith(f"{cast.approved}: ledger says")


def test_a_balance_that_disagrees_with_the_committed_days_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    starting = world.org.employees[cast.approved].starting_balance
    snap.hr[department(world.org, cast.approved)]["balances"][cast.approved] = starting  # 2 days committed

    assert LEDGER in failing(world.check(snap))


def test_a_day_committed_twice_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    snap.hr[department(world.org, cast.approved)]["requests"]["r-again"] = (cast.approved, "committed", ["2026-11-30"])

    assert failing(world.check(snap))[DOUBLE] == f"{cast.approved} has 2026-11-30 committed 2 times"


# --- cover ----------------------------------------------------------------------------------------
def test_a_team_below_its_minimum_in_the_ledger_is_caught(world: World) -> None:
    team = world.org.teams[min(world.org.teams)]
    for member in team.members:  # hr alone does not know the cover rule, so it commits them all
        assert world.hr_of(member).place_hold(f"r-{member}", member, [FRI]).ok
        assert world.hr_of(member).commit(f"r-{member}", world.decision(member, [FRI], None), world.manager(member)).ok

    found = failing(world.check())

    assert set(found) == {COVER}
    assert found[COVER] == (f"team {team.id} on {FRI}: {sorted(team.members)} off, "
                            f"at most {len(team.members) - team.min_on_duty}")


def test_a_team_reporting_its_own_breach_is_caught(world: World) -> None:
    team = world.org.teams[min(world.org.teams)]
    state = world.calendars[team.id].to_state()
    state["reservations"] = {f"r{i}": {"employee": m, "status": "confirmed", "days": [FRI.isoformat()]}
                             for i, m in enumerate(team.members)}
    snap = world.snapshot()
    snap.teams[team.id]["violations"] = TeamCalendar.from_state(state).check()

    found = failing(world.check(snap))

    assert set(found) == {COVER}
    assert found[COVER].startswith(f"team {team.id} on {FRI}")


# --- outcomes -------------------------------------------------------------------------------------
def test_a_request_without_an_outcome_is_caught(world: World, cast: Cast) -> None:
    world.requested["r-lost"] = cast.refused

    assert failing(world.check()) == {OUTCOME: f"r-lost ({cast.refused}): no outcome"}


def test_a_request_left_in_flight_is_caught(world: World, cast: Cast) -> None:
    world.requested["r-stuck"] = cast.refused
    world.statuses[cast.refused]["r-stuck"] = "resolving"

    assert failing(world.check()) == {OUTCOME: "r-stuck: still resolving"}


@pytest.mark.parametrize(
    "recorded_by",
    [
        pytest.param(-1, id="second-recorder-later-in-org"),
        pytest.param(0, id="second-recorder-earlier-in-org"),
    ],
)
def test_a_request_with_two_terminal_outcomes_is_caught(world: World, cast: Cast, recorded_by: int) -> None:
    other = list(world.org.employees)[recorded_by]
    assert other != cast.approved
    snap = world.snapshot()
    snap.employees[other]["requests"]["r-approved"] = "rejected"

    found = failing(world.check(snap))

    assert OUTCOME in found
    assert "r-approved" in found[OUTCOME]


def test_an_approval_that_hr_never_committed_is_caught(world: World) -> None:
    snap = world.snapshot()
    for dept in snap.hr.values():
        if "r-approved" in dept["requests"]:
            employee, _, days = dept["requests"]["r-approved"]
            dept["requests"]["r-approved"] = (employee, "released", days)

    assert failing(world.check(snap))[AGREE] == "r-approved: approved but hr has it released"


def test_a_rejected_request_still_held_in_hr_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    requests = snap.hr[department(world.org, cast.rejected)]["requests"]
    requests["r-rejected"] = (cast.rejected, "held", requests["r-rejected"][2])

    found = failing(world.check(snap))

    assert found[LEFTOVER] == f"r-rejected ({cast.rejected}): hold still held"


def test_a_reservation_never_confirmed_is_caught(world: World, cast: Cast) -> None:
    team = world.org.employees[cast.approved].teams[0]
    snap = world.snapshot()
    snap.teams[team]["state"]["reservations"]["r-approved"]["status"] = "tentative"

    assert failing(world.check(snap)) == {
        LEFTOVER: f"team {team}: reservation r-approved is tentative, request approved"}


# --- notices --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """An approval notice or a cancellation notice: which request, where it is counted, how it is named."""

    request: str
    suffix: str  # of a task-notice key
    invariant: str
    said: str  # after "told N times" in the violation

    def cast_member(self, cast: Cast) -> str:
        return cast.approved if self.request == "r-approved" else cast.cancelled

    def notifiers(self, snap: Snapshot) -> dict[str, dict[str, int]]:
        return snap.notifiers if self.request == "r-approved" else snap.cancellations


KINDS = [pytest.param(Kind("r-approved", "", NOTICE, ""), id="notice"),
         pytest.param(Kind("r-cancelled", "|cancelled", CANCELS, " of its cancellation"), id="cancellation")]


@pytest.mark.parametrize("kind", KINDS)
def test_a_notice_delivered_twice_to_the_department_is_caught(world: World, cast: Cast, kind: Kind) -> None:
    dept = department(world.org, kind.cast_member(cast))
    snap = world.snapshot()
    kind.notifiers(snap)[dept][kind.request] = 2

    assert failing(world.check(snap)) == {kind.invariant: f"{kind.request}: notifier/{dept} told 2 times{kind.said}"}


@pytest.mark.parametrize("copies", [0, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_a_task_mate_told_other_than_once_is_caught(world: World, cast: Cast, kind: Kind, copies: int) -> None:
    mate, task = a_task_mate(world.org, kind.cast_member(cast))
    snap = world.snapshot()
    snap.employees[mate]["task_notices"][f"{kind.request}|task/{task}{kind.suffix}"] = copies

    assert failing(world.check(snap)) == {
        kind.invariant: f"{kind.request}: employee/{mate}@task/{task} told {copies} times{kind.said}"}


def test_a_violated_invariant_names_each_of_its_first_violations(world: World, cast: Cast) -> None:
    employee = cast.approved
    snap = world.snapshot()
    mates = [(mate, task) for task in world.org.employees[employee].tasks for mate in world.org.tasks[task]
             if mate != employee]
    for mate, task in mates:
        snap.employees[mate]["task_notices"][f"r-approved|task/{task}"] = 0

    (result,) = [r for r in world.check(snap) if not r.ok]

    assert len(mates) > 1 and result.violations == len(mates)
    assert set(result.examples) == {f"r-approved: employee/{mate}@task/{task} told 0 times"
                                    for mate, task in mates}
    assert result.figures()["examples"] == list(result.examples)


def test_a_notice_to_someone_outside_the_task_is_caught(world: World, cast: Cast) -> None:
    task = world.org.employees[cast.approved].tasks[0]
    outsider = next(e for e in world.org.employees if e not in world.org.tasks[task])
    snap = world.snapshot()
    snap.employees[outsider]["task_notices"][f"r-approved|task/{task}"] = 1

    found = failing(world.check(snap))

    assert set(found) == {NOTICE}
    assert found[NOTICE].startswith(f"r-approved: employee/{outsider}@task/{task} told")


def test_a_notice_to_another_department_is_caught(world: World, cast: Cast) -> None:
    elsewhere = department(world.org, cast.rejected)
    assert elsewhere != department(world.org, cast.approved)
    snap = world.snapshot()
    snap.notifiers[elsewhere]["r-approved"] = 1

    found = failing(world.check(snap))

    assert set(found) == {NOTICE}
    assert found[NOTICE].startswith(f"r-approved: notifier/{elsewhere} told")


def test_a_notice_for_a_rejected_request_is_caught(world: World, cast: Cast) -> None:
    dept = department(world.org, cast.rejected)
    snap = world.snapshot()
    snap.notifiers[dept]["r-rejected"] = 1

    assert failing(world.check(snap)) == {
        NOTICE: f"r-rejected: notifier/{dept} told but the request was not approved"}


def test_cancellation_notices_do_not_count_as_notices(world: World, cast: Cast) -> None:
    mate, task = a_task_mate(world.org, cast.approved)
    snap = world.snapshot()
    snap.employees[mate]["task_notices"][f"r-approved|task/{task}|cancelled"] = 3

    assert failing(world.check(snap)) == {  # the approval's notices are still right; this is a cancellation's fault
        CANCELS: f"r-approved: employee/{mate}@task/{task} told of its cancellation but the request was not cancelled"}


# --- cancellation notices -------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["another department", "a request still approved"])
def test_a_cancellation_told_where_nothing_was_cancelled_is_caught(world: World, cast: Cast, where: str) -> None:
    rid, employee = ("r-cancelled", cast.rejected) if where == "another department" else ("r-approved", cast.approved)
    dept = department(world.org, employee)
    assert (rid, dept) != ("r-cancelled", department(world.org, cast.cancelled))
    snap = world.snapshot()
    snap.cancellations[dept][rid] = 1

    assert failing(world.check(snap)) == {
        CANCELS: f"{rid}: notifier/{dept} told of its cancellation but the request was not cancelled"}


# --- the driver's answers -------------------------------------------------------------------------
def test_an_answer_that_differs_from_the_employees_record_is_caught(world: World) -> None:
    world.answers.outcomes["r-rejected"] = world.answers.outcomes["r-rejected"] | {"status": "approved",
                                                                                  "reason": None}

    found = failing(world.check())

    assert set(found) == {ANSWERS}
    assert found[ANSWERS].startswith("r-rejected: driver told approved (None)")
    assert "employee recorded rejected (coverage)" in found[ANSWERS]


def test_an_answer_with_other_days_than_the_record_is_caught(world: World) -> None:
    world.answers.outcomes["r-approved"] = world.answers.outcomes["r-approved"] | {"days": ["2026-12-25"]}

    assert set(failing(world.check())) == {ANSWERS}


def test_an_answer_for_a_request_the_employee_never_recorded_is_caught(world: World, cast: Cast) -> None:
    world.requested["r-ghost"] = cast.refused
    world.statuses[cast.refused]["r-ghost"] = "rejected"  # so only the answer's check is at stake
    world.answers.outcomes["r-ghost"] = {"status": "approved", "reason": None, "days": []}
    snap = world.snapshot()
    del snap.employees[cast.refused]["records"]["r-ghost"]

    found = failing(world.check(snap))

    assert found[ANSWERS] == f"r-ghost: driver told approved, employee {cast.refused} has no record"


def test_a_cancel_answered_ok_but_not_recorded_is_caught(world: World) -> None:
    world.answers.cancels["r-approved"] = {"ok": True, "reason": None}

    assert failing(world.check()) == {
        ANSWERS: "r-approved: driver's cancel answered ok=True (None), employee recorded approved"}


def test_a_cancel_answered_refused_but_recorded_cancelled_is_caught(world: World) -> None:
    world.answers.cancels["r-cancelled"] = {"ok": False, "reason": "not an approved request"}

    assert failing(world.check()) == {ANSWERS: "r-cancelled: driver's cancel answered ok=False (not an approved "
                                               "request), employee recorded cancelled"}


@pytest.mark.parametrize(("status", "reason"), [("approved", None), ("rejected", "cancelled")])
def test_a_request_cancelled_while_its_answer_was_on_its_way_may_be_answered_either_way(
        world: World, status: str, reason: str | None) -> None:
    world.answers.outcomes["r-cancelled"] = world.answers.outcomes["r-cancelled"] | {"status": status,
                                                                                    "reason": reason}

    assert failing(world.check()) == {}


def test_without_driver_answers_the_answer_check_is_left_out(world: World) -> None:
    results = check(world.org, world.snapshot(), world.requested)

    assert ANSWERS not in {r.name for r in results}
    assert failing(results) == {}


# --- the audit trail ------------------------------------------------------------------------------
def _decisions(snap: Snapshot, org: Org, employee: str) -> list[tuple]:
    return snap.hr[department(org, employee)]["decisions"]


def test_a_decision_without_an_audit_row_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    rows = _decisions(snap, world.org, cast.approved)
    rows[:] = [row for row in rows if row[0] != "r-approved"]

    assert failing(world.check(snap)) == {AUDIT: f"r-approved ({cast.approved}): committed in hr but no audit row"}


def test_two_audit_rows_for_one_decision_are_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    rows = _decisions(snap, world.org, cast.approved)
    rows.append(next(row for row in rows if row[0] == "r-approved"))

    assert failing(world.check(snap)) == {AUDIT: "r-approved: 2 audit rows"}


def test_an_audit_row_naming_another_decider_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    rows = _decisions(snap, world.org, cast.rejected)
    index = next(i for i, row in enumerate(rows) if row[0] == "r-rejected")
    rows[index] = (*rows[index][:3], "driver", rows[index][4])

    assert failing(world.check(snap)) == {
        AUDIT: f"r-rejected: decided by driver, not {cast.rejected}'s manager {world.manager(cast.rejected)}"}


def test_an_audit_row_disagreeing_with_hr_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    rows = _decisions(snap, world.org, cast.approved)
    index = next(i for i, row in enumerate(rows) if row[0] == "r-approved")
    rows[index] = (rows[index][0], rows[index][1], False, *rows[index][3:])

    assert failing(world.check(snap)) == {AUDIT: "r-approved: audit row says rejected, hr has it committed"}


def test_a_cancelled_request_whose_row_is_not_marked_cancelled_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    rows = _decisions(snap, world.org, cast.cancelled)
    index = next(i for i, row in enumerate(rows) if row[0] == "r-cancelled")
    rows[index] = (*rows[index][:4], None)

    assert failing(world.check(snap)) == {AUDIT: "r-cancelled: cancelled in hr, audit row cancelled by None"}


def test_an_audit_row_for_a_request_never_decided_is_caught(world: World, cast: Cast) -> None:
    snap = world.snapshot()
    _decisions(snap, world.org, cast.refused).append(("r-refused", cast.refused, True, world.manager(cast.refused),
                                                      None))

    assert failing(world.check(snap)) == {AUDIT: "r-refused: audit row for a request hr does not know"}


# --- the state as stored --------------------------------------------------------------------------
STORE = "the store holds what the agents held"


def store_world(world: World, path: Path) -> Path:
    """Each agent's state as the runtime would store it (``save_state`` encoded into parts)."""
    states: dict[str, dict] = {}
    for employee in world.org.employees:
        states[f"employee/{employee}"] = {
            "requests": StateMap({rid: {"status": status, "reason": world.reasons.get(rid), "detail": None,
                                        "days": world.days.get(rid, []), "balance": None}
                                  for rid, status in world.statuses[employee].items()}),
            "task_notices": StateMap(world.task_notices[employee]), "refused": []}
    for team, calendar in world.calendars.items():
        states[f"team/{team}"] = calendar.durable_state()
    for dept in world.org.departments:
        states[f"notifier/{dept}"] = {"notices": StateMap(world.notifiers[dept]),
                                      "cancellations": StateMap(world.cancellations[dept])}
    store = SqliteStateStore(path)
    store.save_many({agent: encode_parts(state, {}, full=True) for agent, state in states.items()})
    store.close()
    return path


def test_the_stored_state_reads_back_as_the_agents_report_it(world: World, tmp_path: Path) -> None:
    path = store_world(world, state_file(tmp_path / "state", "ns"))

    stored = collect_stored(world.org, str(path.parent), "ns", Ledgers(str(tmp_path), "ns"))

    assert same_state(STORE, world.snapshot(), stored).ok
    assert failing(world.check(stored)) == {}


def test_a_change_the_store_never_got_is_caught(world: World, cast: Cast, tmp_path: Path) -> None:
    path = store_world(world, state_file(tmp_path / "state", "ns"))
    memory = world.snapshot()
    memory.employees[cast.approved]["requests"]["r-approved"] = "rejected"

    result = same_state(STORE, memory, collect_stored(world.org, str(path.parent), "ns", Ledgers(str(tmp_path), "ns")))

    assert (result.name, result.violations) == (STORE, 1)
    assert result.example == (f"employees[{cast.approved}][requests][r-approved]: 'rejected' against 'approved' "
                              "(by section: employees 1)")


def test_a_request_missing_from_the_store_is_caught_by_both_checks(world: World, cast: Cast, tmp_path: Path) -> None:
    path = store_world(world, state_file(tmp_path / "state", "ns"))
    store = SqliteStateStore(path)
    store.save_many({f"employee/{cast.refused}": {"requests\x1fr-refused": None}})
    store.close()

    stored = collect_stored(world.org, str(path.parent), "ns", Ledgers(str(tmp_path), "ns"))

    assert same_state(STORE, world.snapshot(), stored).example.startswith(
        f"employees[{cast.refused}][records][r-refused]: ")
    assert failing(world.check(stored))[OUTCOME] == f"r-refused ({cast.refused}): no outcome"


def test_a_missing_hr_database_is_a_violation(world: World, tmp_path: Path) -> None:
    path = store_world(world, state_file(tmp_path / "state", "ns"))
    empty = tmp_path / "nowhere"

    stored = collect_stored(world.org, str(path.parent), "ns", Ledgers(str(empty), "ns"))
    found = failing(check(world.org, stored, world.requested))

    assert found[LEDGER].startswith(f"hr database {hr_db_path(empty, world.org.departments[0])} is missing")


def test_no_state_store_at_all_is_an_error(world: World, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no agent state store"):
        collect_stored(world.org, str(tmp_path), "missing", Ledgers(str(tmp_path), "missing"))


# --- requests waiting for their manager -----------------------------------------------------------
@pytest.fixture
def waiting(world: World, cast: Cast) -> World:
    world.wait("r-waiting", cast.refused, [FRI])
    return world


def test_a_waiting_request_held_everywhere_passes_every_invariant(waiting: World) -> None:
    assert failing(waiting.check()) == {}


def test_a_waiting_request_whose_hold_is_gone_is_caught(waiting: World, cast: Cast) -> None:
    assert waiting.hr_of(cast.refused).release("r-waiting", waiting.decision(cast.refused, [FRI], "gone"),
                                               waiting.manager(cast.refused)).ok

    found = failing(waiting.check())

    assert found[WAITING].startswith(f"r-waiting ({cast.refused}) waits, but hr has ({cast.refused!r}, 'released'")
    assert AGREE in found


def test_a_waiting_request_without_its_tentative_reservation_is_caught(waiting: World, cast: Cast) -> None:
    team = waiting.org.employees[cast.refused].teams[0]
    waiting.calendars[team].cancel("r-waiting")

    assert failing(waiting.check())[WAITING] == (f"r-waiting ({cast.refused}) waits, but team {team} has None, "
                                                 f"not ['{FRI.isoformat()}'] tentative")


def test_a_waiting_request_missing_from_its_managers_inbox_is_caught(waiting: World, cast: Cast) -> None:
    manager = waiting.org.manager_of(cast.refused)
    waiting.inboxes[manager].clear()

    assert failing(waiting.check()) == {WAITING: f"r-waiting ({cast.refused}) waits, but manager {manager}'s "
                                                 "inbox has None"}


def test_an_inbox_listing_a_decided_request_is_caught(waiting: World, cast: Cast) -> None:
    manager = waiting.org.manager_of(cast.approved)
    waiting.inboxes[manager]["r-approved"] = {"employee": cast.approved, "days": [MON.isoformat()]}

    assert failing(waiting.check()) == {WAITING: f"r-approved in manager {manager}'s inbox, but {cast.approved} "
                                                 "has it approved"}


def test_the_days_a_waiting_request_holds_count_against_its_teams_cover(waiting: World, cast: Cast) -> None:
    team = waiting.org.teams[waiting.org.employees[cast.refused].teams[0]]
    others = [m for m in team.members if m != cast.refused][:len(team.members) - team.min_on_duty]
    for member in others:  # as many off as the team allows, besides the waiting request's hold
        assert waiting.hr_of(member).place_hold(f"r-{member}", member, [FRI]).ok
        assert waiting.hr_of(member).commit(f"r-{member}", waiting.decision(member, [FRI], None),
                                            waiting.manager(member)).ok

    assert failing(waiting.check())[COVER].startswith(f"team {team.id} on {FRI}: ")
