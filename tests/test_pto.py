"""The PTO application end to end on a real (private, local) Ray: the real agents, registered the way the
scenarios register them (``scenarios._pto``), driven by ``RequestTimeOff`` and read back from the agents'
own state and the HR SQLite files.

Most tests use a hand-built org, so every balance, team and task is known:

    department ops: team alpha (a1 a2 a3 x, at least 2 on duty, manager m1)
                    team beta  (b1 b2 x,    at least 2 on duty, manager m2: one person off fills it)
                    x is in both teams, home alpha; tasks klaunch (a1 a2 b1) and kaudit (a1 x)
    department sales: team gamma (c1 c2, at least 1 on duty, manager m3); task ksales (c1 c2)

Today is Tuesday 2026-11-24, so "next Thursday and Friday" is 2026-12-03 and 2026-12-04.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from pto_probe import Forge, Forger, NoticeProbe

from actors.hr_store import HrStore
from actors.invariants import check, collect
from actors.ledgers import hr_db_path
from actors.messages import Cancelled, CancelRequest, Decision, RequestOutcome, RequestTimeOff
from actors.org import Org
from actors.policy import PTO_SERVICE
from cluster import (
    AgentId,
    HandlerError,
    MemberSubscription,
    NotAuthorized,
    Runtime,
    Sharded,
    TopicId,
    TypeSubscription,
)
from scenarios._mix import request_mix
from scenarios._pto import add_org_flags, load_org, start_app
from scenarios._run_store import run_store

TODAY = date(2026, 11, 24)
THU, FRI = date(2026, 12, 3), date(2026, 12, 4)


def _employee(eid: str, department: str, teams: list[str], tasks: list[str], manager: str,
              balance: int) -> dict[str, Any]:
    return {"id": eid, "name": f"Agent {eid}", "department": department, "home_team": teams[0], "teams": teams,
            "tasks": tasks, "manager": manager, "starting_balance": balance}


ORG = {
    "seed": None,
    "country": "US",
    "today": "2026-01-01",  # the tests pass --today, as the scenarios do
    "departments": ["ops", "sales"],
    "teams": {
        "alpha": {"id": "alpha", "name": "Alpha", "department": "ops", "manager": "m1",
                  "members": ["a1", "a2", "a3", "x"], "min_on_duty": 2},
        "beta": {"id": "beta", "name": "Beta", "department": "ops", "manager": "m2",
                 "members": ["b1", "b2", "x"], "min_on_duty": 2},
        "gamma": {"id": "gamma", "name": "Gamma", "department": "sales", "manager": "m3",
                  "members": ["c1", "c2"], "min_on_duty": 1},
    },
    "managers": {
        "m1": {"id": "m1", "name": "Manager of alpha", "department": "ops", "teams": ["alpha"]},
        "m2": {"id": "m2", "name": "Manager of beta", "department": "ops", "teams": ["beta"]},
        "m3": {"id": "m3", "name": "Manager of gamma", "department": "sales", "teams": ["gamma"]},
    },
    "employees": {
        "a1": _employee("a1", "ops", ["alpha"], ["klaunch", "kaudit"], "m1", 10),
        "a2": _employee("a2", "ops", ["alpha"], ["klaunch"], "m1", 2),
        "a3": _employee("a3", "ops", ["alpha"], [], "m1", 10),
        "x": _employee("x", "ops", ["alpha", "beta"], ["kaudit"], "m1", 10),
        "b1": _employee("b1", "ops", ["beta"], ["klaunch"], "m2", 10),
        "b2": _employee("b2", "ops", ["beta"], [], "m2", 10),
        "c1": _employee("c1", "sales", ["gamma"], ["ksales"], "m3", 10),
        "c2": _employee("c2", "sales", ["gamma"], ["ksales"], "m3", 10),
    },
    "tasks": {"klaunch": ["a1", "a2", "b1"], "kaudit": ["a1", "x"], "ksales": ["c1", "c2"]},
}


@dataclass
class App:
    """The PTO app on one test's runtime, and the ways a test drives it and reads it back: ``rt`` is the
    namespace's admin (it registers the app and reads the agents back), ``service`` a second connection as
    the PTO service, which asks and cancels for employees, as the scenarios do."""

    rt: Runtime
    org: Org
    run_dir: Path
    service: Runtime

    def ask(self, employee: str, text: str, request_id: str, trace_id: str | None = None) -> RequestOutcome:
        return asyncio.run(self.service.send(AgentId("employee", employee),
                                             RequestTimeOff(request_id=request_id, text=text), timeout=30,
                                             trace_id=trace_id))

    def cancel(self, employee: str, request_id: str) -> Cancelled:
        return asyncio.run(self.service.send(AgentId("employee", employee), CancelRequest(request_id=request_id),
                                             timeout=30))

    def hr(self, department: str = "ops") -> dict[str, Any]:
        return self.rt.inspect(AgentId("hr", department), "snapshot")

    def store(self, department: str = "ops") -> HrStore:
        """The department's SQLite file itself, opened beside the hr agent that writes it."""
        return HrStore(hr_db_path(self.run_dir / "hr", department))

    def reservations(self, team: str) -> dict[str, Any]:
        return self.rt.inspect(AgentId("team", team), "report")["state"]["reservations"]

    def employee(self, employee: str) -> dict[str, Any]:
        return self.rt.inspect(AgentId("employee", employee), "report")

    def notified(self, department: str = "ops") -> dict[str, int]:
        return self.rt.inspect(AgentId("notifier", department), "received")

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until nothing is held anywhere: published notices are fire-and-forget."""
        self.rt.settle(timeout)
        time.sleep(0.2)  # a handler that was running when we looked may still publish


def start(rt: Runtime, tmp_path: Path, *flags: str) -> App:
    """Configure and register the app through the scenarios' own flags and code."""
    parser = argparse.ArgumentParser()
    add_org_flags(parser, employees=24)
    args = parser.parse_args([*flags, "--today", TODAY.isoformat(), "--run-dir", str(tmp_path / "run")])
    args.namespace = rt.namespace
    org = load_org(args)
    start_app(rt, org, args, run_store(args, "test-pto"))
    return App(rt, org, Path(args.run_dir), connect_service(rt))


def connect_service(rt: Runtime) -> Runtime:
    """A connection as the PTO service, granted by the admin ``rt``; it ends with the namespace."""
    return Runtime.connect(namespace=rt.namespace, credential=rt.grant(PTO_SERVICE))


def start_small_org(rt: Runtime, tmp_path: Path, hosts: int, *flags: str) -> App:
    org_file = tmp_path / "org.json"
    org_file.write_text(json.dumps(ORG))
    return start(rt, tmp_path, "--org", str(org_file), "--hosts", str(hosts), *flags)


@pytest.fixture
def app(runtime: Runtime, tmp_path: Path) -> App:
    """The hand-built org on one PTO host; the concurrent tests spread the agents over two."""
    return start_small_org(runtime, tmp_path, hosts=1)


def send_raises(rt: Runtime, recipient: AgentId, message: Any) -> BaseException:
    async def attempt() -> BaseException:
        try:
            await rt.send(recipient, message, timeout=30)
        except Exception as exc:
            return exc
        raise AssertionError(f"sending {message!r} to {recipient} did not raise")

    return asyncio.run(attempt())


# --- approval -------------------------------------------------------------------------------------


def test_request_within_balance_and_cover_is_approved_and_committed(app: App) -> None:
    outcome = app.ask("a1", "next Thursday and Friday", "r1")

    assert (outcome.status, outcome.reason, outcome.days) == ("approved", None, [THU, FRI])
    assert outcome.balance == 8
    assert app.hr()["requests"] == {"r1": ("a1", "committed", [THU.isoformat(), FRI.isoformat()])}
    with app.store() as store:
        assert store.committed_days("a1") == [THU, FRI]
        assert (store.balance("a1"), store.held_days("a1")) == (8, 0)
        assert store.reconcile() == []
    assert app.reservations("alpha") == {
        "r1": {"employee": "a1", "status": "confirmed", "days": [THU.isoformat(), FRI.isoformat()]}}


# --- rejections leave nothing behind --------------------------------------------------------------


def test_request_beyond_balance_is_rejected_and_leaves_no_hold(app: App) -> None:
    outcome = app.ask("a2", "3 days starting next Monday", "r1")  # a2 has 2 days

    assert (outcome.status, outcome.reason) == ("rejected", "insufficient_balance")
    assert outcome.balance == 2
    assert app.hr()["requests"] == {}
    with app.store() as store:
        assert (store.balance("a2"), store.held_days("a2")) == (2, 0)
    assert app.reservations("alpha") == {}


def test_request_that_breaks_team_cover_is_rejected_and_leaves_no_hold_or_reservation(app: App) -> None:
    assert app.ask("b1", "Dec 3", "r1").status == "approved"  # beta (3 people, 2 on duty) is now full

    outcome = app.ask("b2", "Dec 3 to Dec 4", "r2")

    assert (outcome.status, outcome.reason) == ("rejected", "coverage")
    assert app.hr()["requests"]["r2"][1] == "released"
    with app.store() as store:
        assert (store.balance("b2"), store.held_days("b2"), store.committed_days("b2")) == (10, 0, [])
    assert set(app.reservations("beta")) == {"r1"}
    assert all("r2" not in app.reservations(team) for team in app.org.teams)


def test_employee_in_two_teams_rejected_by_one_cancels_the_other_teams_reservation(app: App) -> None:
    assert app.ask("b1", "Dec 3", "r1").status == "approved"  # beta is full on Dec 3, alpha is not
    trace_id = app.rt.new_trace()

    outcome = app.ask("x", "Dec 3", "r2", trace_id=trace_id)

    assert (outcome.status, outcome.reason) == ("rejected", "coverage")
    to_alpha = [e.type_name for e in app.rt.trace(trace_id) if e.recipient == "team/alpha" and e.sender]
    assert to_alpha == ["Reserve", "CancelReservation"]  # alpha had reserved, and gave the day back
    assert app.reservations("alpha") == {}
    assert set(app.reservations("beta")) == {"r1"}
    assert app.hr()["requests"]["r2"][1] == "released"
    assert app.hr()["balances"]["x"] == 10
    # alpha may have 2 off: both fit only if x's tentative day was really freed
    assert [app.ask(e, "Dec 3", f"r-{e}").status for e in ("a1", "a3")] == ["approved", "approved"]


def test_unparseable_date_phrase_is_rejected_naming_it_and_leaves_nothing(app: App) -> None:
    phrases = ["blorp next fortnight", "and", "3 days starting Dec 31 9999"]

    outcomes = [app.ask("a1", phrase, f"r{n}") for n, phrase in enumerate(phrases)]

    for phrase, outcome in zip(phrases, outcomes, strict=True):
        assert (outcome.status, outcome.reason, outcome.days) == ("rejected", "invalid_dates", []), phrase
        assert repr(phrase) in (outcome.detail or ""), outcome
    assert set(app.employee("a1")["requests"].values()) == {"rejected"}
    assert app.hr()["requests"] == {}
    assert app.hr()["balances"]["a1"] == 10
    assert app.reservations("alpha") == {}
    app.settle()
    assert app.notified() == {}


def test_unknown_employee_gets_an_error_naming_it(app: App) -> None:
    error = send_raises(app.service, AgentId("employee", "nobody"), RequestTimeOff(request_id="r1", text="Dec 3"))

    assert isinstance(error, NotAuthorized)  # the policy knows no one who may ask for an unknown employee
    assert "employee/nobody" in str(error)
    assert app.hr()["requests"] == {}


def test_without_the_policy_an_unknown_employee_gets_an_error_naming_it(runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, 1, "--no-policy")

    error = send_raises(app.service, AgentId("employee", "nobody"), RequestTimeOff(request_id="r1", text="Dec 3"))

    assert isinstance(error, HandlerError)
    assert "'nobody'" in str(error)


# --- notices --------------------------------------------------------------------------------------


def test_notice_reaches_department_and_task_mates_once_without_balance_or_reason(app: App) -> None:
    app.rt.register("probe", NoticeProbe, placement=Sharded(1))
    app.rt.subscribe(TypeSubscription("department", "probe"),
                     *(MemberSubscription(TopicId("task", task), AgentId("probe", "tasks")) for task in app.org.tasks))

    assert app.ask("a1", "next Thursday and Friday", "r1").status == "approved"

    mates = {"a2": "r1|task/klaunch", "b1": "r1|task/klaunch", "x": "r1|task/kaudit"}
    wait_until(lambda: app.notified() and all(app.employee(m)["task_notices"] for m in mates))
    app.settle()
    assert app.notified("ops") == {"r1": 1}
    assert app.notified("sales") == {}
    for employee in app.org.employees:
        expected = {mates[employee]: 1} if employee in mates else {}
        assert app.employee(employee)["task_notices"] == expected, employee
    notice = {"request_id": "r1", "employee": "a1", "days": [THU.isoformat(), FRI.isoformat()]}
    assert app.rt.inspect(AgentId("probe", "ops"), "notices") == [{"topic": "department/ops", "fields": notice}]
    heard = app.rt.inspect(AgentId("probe", "tasks"), "notices")
    assert sorted(h["topic"] for h in heard) == ["task/kaudit", "task/klaunch"]
    assert all(h["fields"] == notice for h in heard)  # who and which days: no balance, no reason


# --- cancelling -----------------------------------------------------------------------------------


def test_cancelling_an_approved_request_restores_balance_and_frees_team_days(app: App) -> None:
    assert app.ask("b1", "Dec 3", "r1").status == "approved"
    assert app.ask("b2", "Dec 3", "r2").reason == "coverage"

    assert app.cancel("b1", "r1").ok

    assert app.hr()["requests"]["r1"][1] == "cancelled"
    with app.store() as store:
        assert (store.balance("b1"), store.committed_days("b1")) == (10, [])
        assert store.reconcile() == []
    assert app.reservations("beta") == {}
    assert app.ask("b2", "Dec 3", "r3").status == "approved"  # the day b1 gave back


def test_cancelling_twice_returns_the_days_once(app: App) -> None:
    assert app.ask("a1", "Dec 3 to Dec 4", "r1").status == "approved"

    assert app.cancel("a1", "r1").ok
    assert app.cancel("a1", "r1").ok

    with app.store() as store:
        assert store.balance("a1") == 10
        assert store.reconcile() == []


def test_cancel_retried_while_the_first_is_in_flight_tells_teammates_once(app: App) -> None:
    assert app.ask("a1", "Dec 3", "r1").status == "approved"

    async def cancel_three_times() -> list[Cancelled]:
        return await asyncio.gather(*(app.service.send(AgentId("employee", "a1"), CancelRequest(request_id="r1"),
                                                       timeout=30) for _ in range(3)))

    assert all(answer.ok for answer in asyncio.run(cancel_three_times()))
    app.settle()
    mates = {"a2": "task/klaunch", "b1": "task/klaunch", "x": "task/kaudit"}
    for mate, topic in mates.items():
        assert app.employee(mate)["task_notices"] == {f"r1|{topic}": 1, f"r1|{topic}|cancelled": 1}, mate
    with app.store() as store:
        assert store.balance("a1") == 10
        assert store.reconcile() == []


def test_cancelling_a_rejected_request_is_refused(app: App) -> None:
    assert app.ask("a2", "3 days starting next Monday", "r1").status == "rejected"

    answer = app.cancel("a2", "r1")

    assert not answer.ok
    assert app.hr()["balances"]["a2"] == 2


# --- who may decide -------------------------------------------------------------------------------


def _state(app: App) -> tuple[Any, ...]:
    app.settle()
    reports = {e: app.employee(e) for e in app.org.employees}
    return (app.hr(), {t: app.reservations(t) for t in app.org.teams}, app.notified(),
            {e: (r["requests"], r["task_notices"]) for e, r in reports.items()})


def test_decision_from_the_driver_is_refused_and_changes_nothing(app: App) -> None:
    assert app.ask("a1", "Dec 3", "r1").status == "approved"
    before = _state(app)

    revoke = Decision(request_id="r1", employee="a1", approved=False, reason="forged")
    invent = Decision(request_id="r9", employee="a1", approved=True, days=[FRI])
    errors = [send_raises(app.rt, AgentId("employee", "a1"), d) for d in (revoke, invent)]

    assert all(isinstance(e, NotAuthorized) for e in errors), errors
    assert "manager/m1" in str(errors[0])
    assert _state(app) == before
    assert refusals(app, "Decision") == [("admin", "employee/a1"), ("admin", "employee/a1")]


def test_decision_from_another_manager_agent_is_refused_and_changes_nothing(app: App) -> None:
    app.rt.register("forger", Forger, placement=Sharded(1))
    assert app.ask("a1", "Dec 3", "r1").status == "approved"
    before = _state(app)

    forged = Decision(request_id="r1", employee="a1", approved=False, reason="forged")
    error = send_raises(app.rt, AgentId("forger", "m2"), Forge(employee="a1", decision=forged))

    assert isinstance(error, NotAuthorized), error
    assert _state(app) == before
    assert refusals(app, "Decision") == [("forger/m2", "employee/a1")]


def test_without_the_policy_the_employee_still_refuses_a_decision_from_the_driver(
        runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, 1, "--no-policy")
    assert app.ask("a1", "Dec 3", "r1").status == "approved"

    error = send_raises(app.rt, AgentId("employee", "a1"), Decision(request_id="r1", employee="a1", approved=False))

    assert isinstance(error, NotAuthorized) and "only manager/m1 decides" in str(error)
    assert [r["from"] for r in app.employee("a1")["refused"]] == ["admin"]


def refusals(app: App, type_name: str) -> list[tuple[str | None, str]]:
    """The dead-letter record of each refused message of ``type_name``: who sent it, to whom."""
    return [(d["sender"], d["target"]) for d in app.rt.dead_letters()
            if d["reason"] == "NotAuthorized" and d["type_name"] == type_name]


# --- many at once ---------------------------------------------------------------------------------


def _check_invariants(app: App, requested: dict[str, str]) -> None:
    app.settle()
    results = check(app.org, collect(app.rt, app.org), requested)
    assert [r for r in results if not r.ok] == []


def test_concurrent_requests_for_the_same_days_keep_every_invariant(runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, 2, "--placement", "hash")  # one department: hash to cross hosts
    texts = ["Dec 3", "Dec 3 to Dec 4", "next Thursday and Friday", "Dec 2"]
    plan = {f"r-{e}-{n}": (e, text) for e in app.org.employees for n, text in enumerate(texts)}

    async def run() -> list[RequestOutcome]:
        return await asyncio.gather(*(
            app.service.send(AgentId("employee", e), RequestTimeOff(request_id=rid, text=text), timeout=60)
            for rid, (e, text) in plan.items()))

    outcomes = asyncio.run(run())

    assert {"coverage", None} <= {o.reason for o in outcomes}
    on_dec_3 = {o.employee for o in outcomes if o.status == "approved" and THU in o.days}
    assert len(on_dec_3 & {"b1", "b2", "x"}) <= 1  # beta: 3 people, 2 on duty
    assert len(on_dec_3 & {"a1", "a2", "a3", "x"}) <= 2  # alpha: 4 people, 2 on duty
    _check_invariants(app, {rid: e for rid, (e, _) in plan.items()})


def test_concurrent_mixed_requests_and_cancellations_keep_every_invariant(runtime: Runtime, tmp_path: Path) -> None:
    app = start(runtime, tmp_path, "--seed", "7", "--employees", "24", "--hosts", "2")
    plan = request_mix(app.org, 30, seed=7, horizon_days=10)  # ten days: requests collide on teams

    async def run() -> list[RequestOutcome]:
        outcomes = await asyncio.gather(*(
            app.service.send(AgentId("employee", p.employee), RequestTimeOff(request_id=p.request_id, text=p.text),
                             timeout=60) for p in plan))
        approved = [o for o in outcomes if o.status == "approved"][:5]
        cancelled = await asyncio.gather(*(
            app.service.send(AgentId("employee", o.employee), CancelRequest(request_id=o.request_id), timeout=60)
            for o in approved))
        assert all(c.ok for c in cancelled)
        return outcomes

    outcomes = asyncio.run(run())

    reasons = {o.reason for o in outcomes}
    assert None in reasons and reasons & {"coverage", "insufficient_balance", "overlap", "invalid_dates"}
    _check_invariants(app, {p.request_id: p.employee for p in plan})
