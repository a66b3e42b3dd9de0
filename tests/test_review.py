"""Managers who review: the org's review rule, and requests that wait for the manager in person on a real
(private, local) Ray — holding their days and their teams' cover, in the manager's inbox, through a restart —
until the manager decides through a driver, the cover checked again then.

The org is test_pto's hand-built one with a review rule: up to 2 days go through on their own.
    team alpha (a1 a2 a3 x, at least 2 on duty, manager m1); team beta (b1 b2 x, at least 2 on duty, manager m2)
Today is Tuesday 2026-11-24: "Dec 1 to Dec 3" is Tuesday to Thursday, three working days.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest
import ray
from conftest import wait_until
from pto_probe import Relay, RogueEmployee
from pydantic import BaseModel
from test_pto import ORG, App, start

from actors.audit import TeamCover
from actors.coverage import DayCover
from actors.invariants import check, collect
from actors.ledgers import Ledgers
from actors.messages import Decision, Review
from actors.org import Org, OrgFileError
from actors.queries import GetInbox, Inbox
from actors.review import DEFAULT_AUTO_APPROVE_DAYS, ReviewRule
from actors.stored import collect_stored
from cluster import AgentId, NotAuthorized, Runtime, Sharded
from scenarios._mix import request_mix
from scenarios.pto_load import Recorder, drive_bus

DEC_1, DEC_2, DEC_3 = date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)
LONG = "Dec 1 to Dec 3"


def org_file(tmp_path: Path, review: dict[str, object] | None) -> Path:
    path = tmp_path / "org.json"
    path.write_text(json.dumps(ORG | ({"review": review} if review is not None else {})))
    return path


def start_reviewed(rt: Runtime, tmp_path: Path) -> App:
    return start(rt, tmp_path, "--org", str(org_file(tmp_path, {"auto_approve_days": 2})), "--hosts", "1")


@pytest.fixture
def app(runtime: Runtime, tmp_path: Path) -> App:
    return start_reviewed(runtime, tmp_path)


def send(rt: Runtime, recipient: AgentId, message: BaseModel) -> object:
    return asyncio.run(rt.send(recipient, message, timeout=30))


def inbox(app: App, manager: str) -> Inbox:
    return send(app.rt, AgentId("manager", manager), GetInbox())


def review(app: App, manager: str, request_id: str, approve: bool, reason: str = "") -> Decision:
    return send(app.rt, AgentId("manager", manager), Review(request_id=request_id, approve=approve, reason=reason))


def invariants_hold(app: App, requested: dict[str, str]) -> None:
    app.settle()
    assert [r for r in check(app.org, collect(app.rt, app.org), requested) if not r.ok] == []


# --- the rule -------------------------------------------------------------------------------------


def _cover(off: int, allowed: int) -> list[TeamCover]:
    return [TeamCover(team="t", reserved=True, days=[DayCover(DEC_1, off, allowed)])]


def test_the_rule_waits_for_a_request_longer_than_its_limit_only() -> None:
    rule = ReviewRule(auto_approve_days=2)

    assert not rule.waits([DEC_1, DEC_2], _cover(0, 2))
    assert rule.waits([DEC_1, DEC_2, DEC_3], _cover(0, 2))


def test_the_rule_can_also_wait_when_a_team_would_be_left_at_its_minimum() -> None:
    rule = ReviewRule(auto_approve_days=2, review_at_minimum=True)

    assert rule.waits([DEC_1], _cover(1, 2))  # the second of two who may be off
    assert not rule.waits([DEC_1], _cover(0, 2))
    assert not ReviewRule(auto_approve_days=2).waits([DEC_1], _cover(1, 2))


def test_an_org_file_without_a_review_rule_gets_the_default_and_one_with_a_rule_keeps_it(tmp_path: Path) -> None:
    assert Org.load(org_file(tmp_path, None)).review == ReviewRule(auto_approve_days=DEFAULT_AUTO_APPROVE_DAYS)
    assert Org.load(org_file(tmp_path, {"auto_approve_days": 0, "review_at_minimum": True})).review == ReviewRule(
        auto_approve_days=0, review_at_minimum=True)


def test_an_org_file_with_a_bad_review_rule_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(OrgFileError, match="auto_approve_days"):
        Org.load(org_file(tmp_path, {"auto_approve_days": -1}))


# --- waiting --------------------------------------------------------------------------------------


def test_a_long_request_waits_holding_its_days_and_its_teams_cover(app: App) -> None:
    outcome = app.ask("b1", LONG, "r1")

    assert (outcome.status, outcome.days) == ("waiting", [DEC_1, DEC_2, DEC_3])
    assert app.hr()["requests"]["r1"] == ("b1", "held", [d.isoformat() for d in (DEC_1, DEC_2, DEC_3)])
    assert app.reservations("beta")["r1"]["status"] == "tentative"
    assert app.ask("b2", "Dec 2", "r2").reason == "coverage"  # beta lets one off, and b1 holds Dec 2
    assert app.ask("b1", LONG, "r1") == outcome  # asked again: still waiting, nothing run twice
    invariants_hold(app, {"r1": "b1", "r2": "b2"})


def test_a_waiting_request_is_in_its_managers_inbox_with_each_teams_cover(app: App) -> None:
    app.ask("x", LONG, "r1")  # x is in alpha and beta
    assert app.ask("a1", "Dec 2", "r2").status == "approved"  # alpha may have two off: a1 now, x waiting

    found = inbox(app, "m1")

    assert [(w.request_id, w.employee, w.days) for w in found.waiting] == [("r1", "x", [DEC_1, DEC_2, DEC_3])]
    covers = {c.team: c for c in found.waiting[0].teams}
    assert covers["alpha"].reserved and covers["beta"].reserved
    assert [(d.day, d.off, d.allowed) for d in covers["alpha"].days] == [(DEC_1, 0, 2), (DEC_2, 1, 2), (DEC_3, 0, 2)]
    assert inbox(app, "m2").waiting == []  # beta's manager does not decide for x


def test_the_manager_approving_commits_confirms_tells_the_employee_and_audits_the_cover_then(app: App) -> None:
    app.ask("x", LONG, "r1")
    app.ask("a1", "Dec 2", "r2")
    trace = app.rt.new_trace()

    decision = asyncio.run(app.rt.send(AgentId("manager", "m1"), Review(request_id="r1", approve=True, reason="ok"),
                                       timeout=30, trace_id=trace))

    assert (decision.approved, decision.days) == (True, [DEC_1, DEC_2, DEC_3])
    assert app.ask("x", LONG, "r1").status == "approved"
    assert app.hr()["requests"]["r1"][1] == "committed" and app.hr()["balances"]["x"] == 7
    assert {app.reservations(t)["r1"]["status"] for t in ("alpha", "beta")} == {"confirmed"}
    to_alpha = [e.type_name for e in app.rt.trace(trace) if e.recipient == "team/alpha" and e.sender]
    assert to_alpha == ["Reserve", "Confirm"]  # the cover checked again, then confirmed
    with app.store() as store:
        (row,) = store.decisions(request_id="r1")
    assert (row.decided_by, row.detail) == ("manager/m1", "ok")
    alpha = next(t for t in row.teams if t.team == "alpha")
    assert [d.off for d in alpha.days] == [0, 1, 0]  # a1 off on Dec 2: the cover at the decision, not the request
    wait_until(lambda: app.notified().get("r1"))
    assert inbox(app, "m1").waiting == []
    invariants_hold(app, {"r1": "x", "r2": "a1"})


def test_the_manager_declining_gives_back_the_days_and_the_cover(app: App) -> None:
    app.ask("b1", LONG, "r1")

    decision = review(app, "m2", "r1", approve=False, reason="release week")

    assert (decision.approved, decision.reason) == (False, "declined")
    assert (app.ask("b1", LONG, "r1").status, app.ask("b1", LONG, "r1").reason) == ("rejected", "declined")
    assert app.hr()["requests"]["r1"][1] == "released" and app.hr()["balances"]["b1"] == 10
    assert app.reservations("beta") == {}
    assert app.ask("b2", "Dec 2", "r2").status == "approved"  # the day came back
    assert review(app, "m2", "r1", approve=True) == decision  # decided once: a second answer changes nothing
    invariants_hold(app, {"r1": "b1", "r2": "b2"})


def test_only_the_manager_in_person_decides_and_only_what_was_put_to_them(app: App) -> None:
    app.ask("b1", LONG, "r1")
    # relays what it is told to, as itself; in the PTO pool, so no new host has to start for it
    app.rt.register("rogue", RogueEmployee, placement=Sharded(1, pool="pto"))
    forged = Relay(target="manager/m2", kind="Review", fields={"request_id": "r1", "approve": True})

    refused = [
        _raised(app.rt, AgentId("rogue", "m2"), forged),  # an agent, not the manager in person
        _raised(app.rt, AgentId("manager", "m1"), Review(request_id="r1", approve=True)),  # not b1's manager
        _raised(app.rt, AgentId("manager", "m2"), Review(request_id="r9", approve=True)),  # no such request
    ]

    assert all(isinstance(error, NotAuthorized) for error in refused), refused
    assert [w.request_id for w in inbox(app, "m2").waiting] == ["r1"]
    assert app.hr()["requests"]["r1"][1] == "held"


def _raised(rt: Runtime, recipient: AgentId, message: BaseModel) -> BaseException | None:
    try:
        send(rt, recipient, message)
    except Exception as exc:
        return exc
    return None


# --- durability and scale -------------------------------------------------------------------------


def test_a_waiting_request_survives_a_restart_of_its_hosts_and_is_decided_after_it(
        ray_session: object, tmp_path: Path) -> None:
    rt = Runtime.connect(namespace=f"r{uuid4().hex[:10]}", state_dir=str(tmp_path / "state"))
    try:
        app = start_reviewed(rt, tmp_path)
        assert app.ask("b1", LONG, "r1").status == "waiting"
        app.settle()
        stored = collect_stored(app.org, str(tmp_path / "state"), rt.namespace,
                                Ledgers(str(app.run_dir / "hr"), rt.namespace))
        assert stored.managers["m2"]["waiting"] == {"r1": {"employee": "b1", "days": ["2026-12-01", "2026-12-02",
                                                                                       "2026-12-03"]}}
        hosts = {ray.get(rt._bus.host_of.remote(f"{kind}/{key}")) for kind, key in
                 (("manager", "m2"), ("team", "beta"), ("employee", "b1"), ("hr", "ops"))}
        for host in hosts:
            ray.kill(host, no_restart=False)
        wait_until(lambda: rt.stats()["bus"].get("host_restarts", 0) >= len(hosts), timeout=60)

        assert [w.request_id for w in inbox(app, "m2").waiting] == ["r1"]
        assert app.ask("b2", "Dec 2", "r2").reason == "coverage"  # the cover is still held
        assert review(app, "m2", "r1", approve=True).approved
        assert app.ask("b1", LONG, "r1").status == "approved"
        invariants_hold(app, {"r1": "b1", "r2": "b2"})
    finally:
        rt.shutdown(destroy=True)


def test_the_load_driver_decides_every_waiting_request_as_the_plan_says(runtime: Runtime, tmp_path: Path) -> None:
    app = start(runtime, tmp_path, "--employees", "24")
    plan = request_mix(app.org, 60, seed=5, review_share=0.5)
    recorder = Recorder(len(plan))

    asyncio.run(drive_bus(app.service, app.org, plan, 20, recorder))  # as the PTO service, as the scenario

    assert recorder.reviewed > 0 and not recorder.errors
    assert sum(recorder.outcomes.values()) == 60 and "rejected: declined" in recorder.outcomes
    assert all(inbox(app, m).waiting == [] for m in app.org.managers)
    invariants_hold(app, {p.request_id: p.employee for p in plan})
