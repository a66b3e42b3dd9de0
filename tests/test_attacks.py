"""Red team: the PTO application on a real (private, local) Ray, attacked by the driver and by one of its own
employee agents, each attack in one test. Every attack must raise ``NotAuthorized``, be counted as refused
(a dead letter), and leave the state, read back from the agents themselves, exactly as it was. Since no
attack changes anything, the attacks without the policy share one app.

The handler-check attacks run WITHOUT ``actors.policy.pto_policy``: what stops them is the recipient's own
check, which holds with or without the policy; the app is on one host, so the rogue employee's sends stay
in-process. The test named ``..._with_the_policy_...`` is about the policy. The attacker inside is
``pto_probe.RogueEmployee``: the real employee agent, registered as the app's employee type, that also
sends as itself whatever a driver tells it to (``Relay``).

The org is test_pto's hand-built one (ops: alpha a1 a2 a3 x, manager m1; beta b1 b2 x, manager m2; tasks
klaunch a1 a2 b1, kaudit a1 x). Before each attack a1 has ``r-approved`` (Dec 3) approved, committed and
confirmed, its notices heard, and a2 holds ``r-held`` (Dec 7) for itself at hr/ops, as any employee may.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pto_probe import Relay
from test_pto import ORG, THU, TODAY, App, send_raises

from actors.app import register_pto
from actors.audit import DecisionAudit
from actors.messages import (
    CancelRequest,
    CancelReservation,
    Commit,
    Decision,
    PlaceHold,
    Release,
    Reserve,
    RevokeApproval,
    TimeOffCancelled,
    TimeOffNotice,
)
from actors.org import Org
from cluster import AgentId, NotAuthorized, Runtime, TopicId

MON = date(2026, 12, 7)
A1, A2 = AgentId("employee", "a1"), AgentId("employee", "a2")
HR, ALPHA, NOTIFIER = AgentId("hr", "ops"), AgentId("team", "alpha"), AgentId("notifier", "ops")


def start(rt: Runtime, tmp_path: Path, policy: bool) -> App:
    org = Org.model_validate(ORG).model_copy(update={"today": TODAY})
    register_pto(rt, org, tmp_path / "hr", hosts=1, policy=policy,
                 agent_types={"employee": "pto_probe:RogueEmployee"})
    app = App(rt, org, tmp_path)
    assert app.ask("a1", "Dec 3", "r-approved").status == "approved"
    held = relay(app, A2, HR, PlaceHold(request_id="r-held", employee="a2", days=[MON]))
    assert held.ok, held
    return app


def relay(app: App, rogue: AgentId, target: AgentId, message: Any) -> Any:
    """Have the rogue employee send ``message`` to ``target`` as itself; its answer."""
    forged = Relay(target=str(target), kind=type(message).__name__, fields=message.model_dump(mode="json"))
    return asyncio.run(app.rt.send(rogue, forged, timeout=30))


@pytest.fixture(scope="module")
def app(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One app without the policy for every attack on it: each test checks that its attack changed nothing."""
    rt = Runtime.connect(namespace=f"attacks{uuid4().hex[:8]}")
    try:
        yield start(rt, tmp_path_factory.mktemp("attacks"), policy=False)
    finally:
        rt.shutdown(destroy=True)


def refusals(app: App) -> set[tuple[str, ...]]:
    """Every refusal the bus has recorded: message id, type, sender, target and the refusal's text (the copies
    of one publish share its id and topic; each subscriber's refusal names it)."""
    return {(d["message_id"], d["type_name"], d["sender"], d["target"], d["detail"])
            for d in app.rt.dead_letters(1000) if d["reason"] == "NotAuthorized"}


def refused_since(app: App, before: set[tuple[str, ...]], type_name: str) -> list[tuple[str | None, str]]:
    return [(sender, target) for letter in refusals(app) - before
            for _, kind, sender, target, _ in [letter] if kind == type_name]


def state(app: App) -> tuple[Any, ...]:
    """Everything an attack could change, as the agents report it (an employee's list of the decisions it
    refused excepted: that is where a refusal is recorded)."""
    app.settle()
    reports = {e: app.employee(e) for e in app.org.employees}
    return (tuple(app.hr(d) for d in app.org.departments), {t: app.reservations(t) for t in app.org.teams},
            {d: (app.notified(d), app.rt.call(AgentId("notifier", d), "cancelled")) for d in app.org.departments},
            {e: (r["records"], r["task_notices"]) for e, r in reports.items()})


def refused_by_driver(app: App, recipient: AgentId, message: Any) -> str:
    """The driver sends ``message``: it is refused, counted, and changes nothing. The refusal's text."""
    before, refused = state(app), refusals(app)
    error = send_raises(app.rt, recipient, message)
    assert isinstance(error, NotAuthorized), error
    assert str(error).startswith("the driver may not"), error
    assert state(app) == before
    assert refused_since(app, refused, type(message).__name__) == [(None, str(recipient))]
    return str(error)


def refused_from_rogue(app: App, rogue: AgentId, recipient: AgentId, message: Any) -> str:
    """The rogue employee sends ``message`` as itself: refused, counted, nothing changed. The refusal's text."""
    before, refused = state(app), refusals(app)
    with pytest.raises(NotAuthorized) as error:
        relay(app, rogue, recipient, message)
    assert str(error.value).startswith(f"{rogue} may not"), error.value
    assert state(app) == before
    assert refused_since(app, refused, type(message).__name__) == [(str(rogue), str(recipient))]
    return str(error.value)


def audit(employee: str, days: list[date]) -> DecisionAudit:
    return DecisionAudit(employee=employee, days=days, approved=True)


# --- hr: balances change only on the employee's manager's word ------------------------------------


def test_driver_commits_an_employees_held_days_at_hr_and_is_refused(app: App) -> None:
    error = refused_by_driver(app, HR, Commit(request_id="r-held", decision=audit("a2", [MON])))
    assert "Commit request 'r-held' at hr/ops" in error
    assert app.hr()["requests"]["r-held"][1] == "held"


def test_driver_releases_an_employees_held_days_at_hr_and_is_refused(app: App) -> None:
    refused_by_driver(app, HR, Release(request_id="r-held", decision=audit("a2", [MON])))
    assert app.hr()["requests"]["r-held"][1] == "held"


def test_driver_revokes_an_approved_request_at_hr_and_is_refused(app: App) -> None:
    refused_by_driver(app, HR, RevokeApproval(request_id="r-approved"))
    assert app.hr()["requests"]["r-approved"][1] == "committed"


def test_driver_commits_a_request_hr_does_not_know_and_is_refused(app: App) -> None:
    refused_by_driver(app, HR, Commit(request_id="r-unknown", decision=audit("a1", [MON])))


def test_employee_agent_commits_its_own_held_days_at_hr_and_is_refused(app: App) -> None:
    error = refused_from_rogue(app, A2, HR, Commit(request_id="r-held", decision=audit("a2", [MON])))
    assert "only the manager of the request's employee" in error
    assert app.hr()["balances"]["a2"] == 2


def test_employee_agent_holds_days_for_another_employee_and_is_refused(app: App) -> None:
    error = refused_from_rogue(app, A2, HR, PlaceHold(request_id="r-for-a3", employee="a3", days=[MON]))
    assert "place a hold for a3 at hr/ops" in error


def test_employee_agent_holds_its_own_days_at_another_departments_hr_and_is_refused(app: App) -> None:
    refused_from_rogue(app, AgentId("employee", "c1"), HR, PlaceHold(request_id="r-c1", employee="c1", days=[MON]))


# --- teams: days are reserved only by the manager of the employee ---------------------------------


def test_driver_reserves_a_teams_days_and_is_refused(app: App) -> None:
    error = refused_by_driver(app, ALPHA, Reserve(request_id="r-new", employee="a3", days=[THU]))
    assert "Reserve request 'r-new' at team/alpha" in error
    assert set(app.reservations("alpha")) == {"r-approved"}


def test_driver_cancels_a_teams_confirmed_reservation_and_is_refused(app: App) -> None:
    refused_by_driver(app, ALPHA, CancelReservation(request_id="r-approved"))
    assert app.reservations("alpha")["r-approved"]["status"] == "confirmed"


# --- notices: heard only as a publish by the employee they name -----------------------------------


@pytest.mark.parametrize("kind", [TimeOffNotice, TimeOffCancelled])
def test_driver_sends_a_notice_straight_to_the_notifier_and_is_refused(app: App, kind: type) -> None:
    error = refused_by_driver(app, NOTIFIER, kind(request_id="r-approved", employee="a1", days=[THU]))
    assert f"send {kind.__name__} 'r-approved' to notifier/ops: only employee/a1 publishes" in error


@pytest.mark.parametrize("kind", [TimeOffNotice, TimeOffCancelled])
def test_driver_sends_a_notice_straight_to_an_employee_and_is_refused(app: App, kind: type) -> None:
    refused_by_driver(app, A2, kind(request_id="r-approved", employee="a1", days=[THU]))


def test_employee_agent_sends_its_own_notice_straight_to_a_task_mate_and_is_refused(app: App) -> None:
    refused_from_rogue(app, A2, A1, TimeOffNotice(request_id="r-held", employee="a2", days=[MON]))


def test_without_the_policy_a_notice_the_driver_publishes_is_refused_by_every_subscriber(app: App) -> None:
    before, refused = state(app), refusals(app)
    forged = TimeOffCancelled(request_id="r-approved", employee="a1", days=[THU])
    topics = {TopicId("department", "ops"): 1, TopicId("task", "klaunch"): len(app.org.tasks["klaunch"])}

    for topic in topics:  # nothing refuses a publish at the publisher without the policy: the bus takes it
        asyncio.run(app.rt.publish(topic, forged))

    assert state(app) == before
    assert sorted(refused_since(app, refused, "TimeOffCancelled")) == sorted((None, str(t)) for t, n in topics.items()
                                                               for _ in range(n))


def test_with_the_policy_a_notice_the_driver_publishes_is_refused_at_the_publisher(
        runtime: Runtime, tmp_path: Path) -> None:
    app = start(runtime, tmp_path, policy=True)
    before = state(app)
    forged = TimeOffCancelled(request_id="r-approved", employee="a1", days=[THU])

    for topic in (TopicId("department", "ops"), TopicId("task", "klaunch")):
        with pytest.raises(NotAuthorized, match="driver may not publish"):
            asyncio.run(app.rt.publish(topic, forged))

    assert state(app) == before


# --- employees: only the outside world cancels, only the manager decides --------------------------


def test_employee_agent_sends_cancel_request_to_another_employee_and_is_refused(app: App) -> None:
    error = refused_from_rogue(app, A2, A1, CancelRequest(request_id="r-approved"))
    assert "cancel request 'r-approved' of employee/a1" in error
    assert app.employee("a1")["requests"]["r-approved"] == "approved"


def test_driver_sends_a_decision_to_an_employee_and_is_refused(app: App) -> None:
    error = refused_by_driver(app, A1, Decision(request_id="r-approved", employee="a1", approved=False))
    assert "only manager/m1 decides" in error
    assert app.employee("a1")["refused"][-1] == {"request_id": "r-approved", "from": "driver"}
