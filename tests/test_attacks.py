"""Red team: the PTO application on a real (private, local) Ray, attacked by drivers of every principal and by
one of its own employee agents, each attack in one test. Every attack must raise ``NotAuthorized``, be counted
as refused (a dead letter, or the bus's or host's count of what it refused), and leave the state, read back
from the agents themselves and checked by the invariant checker, exactly as it was. Since no attack changes
anything, the attacks share two apps: one without the policy and one with it (``policed``).

The handler-check attacks run WITHOUT ``actors.policy.pto_policy``: what stops them is the recipient's own
check, which holds with or without the policy; the app is on one host, so the rogue employee's sends stay
in-process. Attacks on who may ask and cancel run on both apps. The attacker inside is
``pto_probe.RogueEmployee``: the real employee agent, registered as the app's employee type, that also sends,
as itself or posing as another agent of its host, whatever a driver tells it to (``Relay``). The attackers
outside are drivers: anonymous (no credential), users granted ``user/<id>``, the PTO service.

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
import ray
import sample_agents as sa
from pto_probe import Relay
from test_pto import ORG, THU, TODAY, App, connect_service, send_raises

from actors.app import register_pto
from actors.audit import DecisionAudit
from actors.invariants import check, collect
from actors.messages import (
    CancelRequest,
    CancelReservation,
    Commit,
    Decision,
    PlaceHold,
    Release,
    RequestTimeOff,
    Reserve,
    Review,
    RevokeApproval,
    TimeOffCancelled,
    TimeOffNotice,
)
from actors.org import Org
from actors.queries import GetInbox
from cluster import (
    DEAD_LETTER_TOPIC,
    AgentId,
    DeadLetter,
    NotAuthorized,
    Policy,
    Runtime,
    Sharded,
    TopicId,
    TypeSubscription,
)

MON = date(2026, 12, 7)
A1, A2 = AgentId("employee", "a1"), AgentId("employee", "a2")
HR, ALPHA, NOTIFIER = AgentId("hr", "ops"), AgentId("team", "alpha"), AgentId("notifier", "ops")


def start(rt: Runtime, tmp_path: Path, policy: bool) -> App:
    org = Org.model_validate(ORG).model_copy(update={"today": TODAY})
    register_pto(rt, org, tmp_path / "hr", hosts=1, policy=policy,
                 agent_types={"employee": "pto_probe:RogueEmployee"})
    app = App(rt, org, tmp_path, connect_service(rt))
    assert app.ask("a1", "Dec 3", "r-approved").status == "approved"
    held = relay(app, A2, HR, PlaceHold(request_id="r-held", employee="a2", days=[MON]))
    assert held.ok, held
    return app


def relay(app: App, rogue: AgentId, target: AgentId, message: Any, posing_as: str = "", via: str = "port") -> Any:
    """Have the rogue employee send ``message`` to ``target`` as itself (or posing as another agent); its answer."""
    forged = Relay(target=str(target), kind=type(message).__name__, fields=message.model_dump(mode="json"),
                   posing_as=posing_as, via=via)
    return asyncio.run(app.rt.send(rogue, forged, timeout=30))


def running(policy: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    rt = Runtime.connect(namespace=f"attacks{uuid4().hex[:8]}")
    try:
        yield start(rt, tmp_path_factory.mktemp("attacks"), policy=policy)
    finally:
        rt.shutdown(destroy=True)


@pytest.fixture(scope="module")
def app(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One app without the policy for every attack on it: each test checks that its attack changed nothing."""
    yield from running(False, tmp_path_factory)


@pytest.fixture(scope="module")
def policed(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One app with the PTO policy, likewise shared."""
    yield from running(True, tmp_path_factory)


@pytest.fixture(params=[False, True], ids=["without-policy", "with-policy"])
def either(request: pytest.FixtureRequest) -> App:
    return request.getfixturevalue("policed" if request.param else "app")


def anonymous(app: App) -> Runtime:
    """A driver of the app's namespace with no credential."""
    return Runtime.connect(namespace=app.rt.namespace)


def as_user(app: App, user: str) -> Runtime:
    """A driver of the app's namespace as ``user/<user>``, with a credential the admin grants it now."""
    return Runtime.connect(namespace=app.rt.namespace, credential=app.rt.grant(f"user/{user}"))


def refusals(app: App) -> set[tuple[str, ...]]:
    """Every refusal the bus has recorded: message id, type, sender, target and the refusal's text (the copies
    of one publish share its id and topic; each subscriber's refusal names it)."""
    return {(d["message_id"], d["type_name"], d["sender"], d["target"], d["detail"])
            for d in app.rt.dead_letters(1000) if d["reason"] == "NotAuthorized"}


def refused_since(app: App, before: set[tuple[str, ...]], type_name: str) -> list[tuple[str | None, str]]:
    return [(sender, target) for letter in refusals(app) - before
            for _, kind, sender, target, _ in [letter] if kind == type_name]


def counted(app: App, name: str) -> int:
    """A refusal counter, summed over the bus and every host."""
    stats = app.rt.stats()
    return stats["bus"].get(name, 0) + sum(host.get(name, 0) for host in stats["hosts"].values())


def state(app: App) -> tuple[Any, ...]:
    """Everything an attack could change, as the agents report it (an employee's list of the decisions it
    refused excepted: that is where a refusal is recorded), and what the invariant checker finds on it (the
    setup's own hold, placed by the rogue employee outside any request, is its one finding)."""
    app.settle()
    snapshot = collect(app.rt, app.org)
    findings = tuple((r.name, r.violations, r.example) for r in check(app.org, snapshot, {"r-approved": "a1"}))
    return (snapshot.hr, snapshot.teams, snapshot.notifiers, snapshot.cancellations, findings,
            {e: (r["records"], r["task_notices"]) for e, r in snapshot.employees.items()})


def refused_by_driver(app: App, driver: Runtime, recipient: AgentId, message: Any) -> str:
    """The driver sends ``message``: it is refused, counted, and changes nothing. The refusal's text."""
    before, refused = state(app), refusals(app)
    error = send_raises(driver, recipient, message)
    assert isinstance(error, NotAuthorized), error
    assert str(error).startswith(f"{driver.principal} may not"), error
    assert state(app) == before
    assert refused_since(app, refused, type(message).__name__) == [(str(driver.principal), str(recipient))]
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


@pytest.fixture(scope="module")
def outsider(app: App) -> Runtime:
    """An anonymous driver of the app without the policy."""
    return anonymous(app)


# --- hr: balances change only on the employee's manager's word ------------------------------------


def test_driver_commits_an_employees_held_days_at_hr_and_is_refused(app: App, outsider: Runtime) -> None:
    error = refused_by_driver(app, outsider, HR, Commit(request_id="r-held", decision=audit("a2", [MON])))
    assert "Commit request 'r-held' at hr/ops" in error
    assert app.hr()["requests"]["r-held"][1] == "held"


def test_driver_releases_an_employees_held_days_at_hr_and_is_refused(app: App, outsider: Runtime) -> None:
    refused_by_driver(app, outsider, HR, Release(request_id="r-held", decision=audit("a2", [MON])))
    assert app.hr()["requests"]["r-held"][1] == "held"


def test_driver_revokes_an_approved_request_at_hr_and_is_refused(app: App, outsider: Runtime) -> None:
    refused_by_driver(app, outsider, HR, RevokeApproval(request_id="r-approved"))
    assert app.hr()["requests"]["r-approved"][1] == "committed"


def test_driver_commits_a_request_hr_does_not_know_and_is_refused(app: App, outsider: Runtime) -> None:
    refused_by_driver(app, outsider, HR, Commit(request_id="r-unknown", decision=audit("a1", [MON])))


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


def test_driver_reserves_a_teams_days_and_is_refused(app: App, outsider: Runtime) -> None:
    error = refused_by_driver(app, outsider, ALPHA, Reserve(request_id="r-new", employee="a3", days=[THU]))
    assert "Reserve request 'r-new' at team/alpha" in error
    assert set(app.reservations("alpha")) == {"r-approved"}


def test_driver_cancels_a_teams_confirmed_reservation_and_is_refused(app: App, outsider: Runtime) -> None:
    refused_by_driver(app, outsider, ALPHA, CancelReservation(request_id="r-approved"))
    assert app.reservations("alpha")["r-approved"]["status"] == "confirmed"


# --- in person: a manager's decision and inbox, only through a driver acting for people ---------------
def test_anonymous_driver_decides_a_waiting_request_and_is_refused(app: App, outsider: Runtime) -> None:
    manager = AgentId("manager", app.org.manager_of("a1"))
    error = refused_by_driver(app, outsider, manager, Review(request_id="r-approved", approve=False, reason="no"))
    assert "only the manager in person" in error


def test_anonymous_driver_reads_a_managers_inbox_and_is_refused(app: App, outsider: Runtime) -> None:
    manager = AgentId("manager", app.org.manager_of("a1"))
    error = send_raises(outsider, manager, GetInbox())
    assert isinstance(error, NotAuthorized) and str(error).startswith("anonymous may not read the inbox"), error


# --- notices: heard only as a publish by the employee they name -----------------------------------


@pytest.mark.parametrize("kind", [TimeOffNotice, TimeOffCancelled])
def test_driver_sends_a_notice_straight_to_the_notifier_and_is_refused(app: App, outsider: Runtime,
                                                                       kind: type) -> None:
    error = refused_by_driver(app, outsider, NOTIFIER, kind(request_id="r-approved", employee="a1", days=[THU]))
    assert f"send {kind.__name__} 'r-approved' to notifier/ops: only employee/a1 publishes" in error


@pytest.mark.parametrize("kind", [TimeOffNotice, TimeOffCancelled])
def test_driver_sends_a_notice_straight_to_an_employee_and_is_refused(app: App, outsider: Runtime,
                                                                      kind: type) -> None:
    refused_by_driver(app, outsider, A2, kind(request_id="r-approved", employee="a1", days=[THU]))


def test_employee_agent_sends_its_own_notice_straight_to_a_task_mate_and_is_refused(app: App) -> None:
    refused_from_rogue(app, A2, A1, TimeOffNotice(request_id="r-held", employee="a2", days=[MON]))


def test_without_the_policy_a_notice_the_driver_publishes_is_refused_by_every_subscriber(
        app: App, outsider: Runtime) -> None:
    before, refused = state(app), refusals(app)
    forged = TimeOffCancelled(request_id="r-approved", employee="a1", days=[THU])
    topics = {TopicId("department", "ops"): 1, TopicId("task", "klaunch"): len(app.org.tasks["klaunch"])}

    for topic in topics:  # nothing refuses a publish at the publisher without the policy: the bus takes it
        asyncio.run(outsider.publish(topic, forged))

    assert state(app) == before
    assert sorted(refused_since(app, refused, "TimeOffCancelled")) == sorted(
        ("anonymous", str(t)) for t, n in topics.items() for _ in range(n))


def test_with_the_policy_a_notice_the_driver_publishes_is_refused_at_the_publisher(policed: App) -> None:
    before, driver = state(policed), anonymous(policed)
    forged = TimeOffCancelled(request_id="r-approved", employee="a1", days=[THU])

    for topic in (TopicId("department", "ops"), TopicId("task", "klaunch")):
        with pytest.raises(NotAuthorized, match="anonymous may not publish"):
            asyncio.run(driver.publish(topic, forged))

    assert state(policed) == before


# --- employees: only the employee's own principal (or the PTO service) asks and cancels ------------


def test_employee_agent_sends_cancel_request_to_another_employee_and_is_refused(app: App) -> None:
    error = refused_from_rogue(app, A2, A1, CancelRequest(request_id="r-approved"))
    assert "cancel request 'r-approved' of employee/a1" in error
    assert app.employee("a1")["requests"]["r-approved"] == "approved"


def test_driver_sends_a_decision_to_an_employee_and_is_refused(app: App, outsider: Runtime) -> None:
    error = refused_by_driver(app, outsider, A1, Decision(request_id="r-approved", employee="a1", approved=False))
    assert "only manager/m1 decides" in error
    assert app.employee("a1")["refused"][-1] == {"request_id": "r-approved", "from": "anonymous"}


def test_anonymous_driver_cancels_an_employees_approved_request_and_is_refused(either: App) -> None:
    error = refused_by_driver(either, anonymous(either), A1, CancelRequest(request_id="r-approved"))
    assert "employee/a1" in error and "only" in error  # the policy's refusal, or the employee's own
    assert either.employee("a1")["requests"]["r-approved"] == "approved"


def test_another_user_cancels_an_employees_approved_request_and_is_refused(either: App) -> None:
    refused_by_driver(either, as_user(either, "a2"), A1, CancelRequest(request_id="r-approved"))
    assert either.hr()["requests"]["r-approved"][1] == "committed"


def test_a_user_asks_for_time_off_for_another_employee_and_is_refused(either: App) -> None:
    refused_by_driver(either, as_user(either, "a2"), A1, RequestTimeOff(request_id="r-by-a2", text="Dec 4"))
    assert "r-by-a2" not in either.employee("a1")["requests"]


def test_the_admin_asks_for_time_off_for_an_employee_and_is_refused(either: App) -> None:
    refused_by_driver(either, either.rt, A1, RequestTimeOff(request_id="r-by-admin", text="Dec 4"))


def test_an_employees_own_user_cancels_its_request(policed: App) -> None:
    """The counterpart of the attacks above: the employee's own principal may (cancelling an unknown request,
    so nothing changes)."""
    answer = asyncio.run(as_user(policed, "a1").send(A1, CancelRequest(request_id="r-none"), timeout=30))
    assert (answer.ok, answer.reason) == (False, "not an approved request")


# --- identity: every sender is who the runtime says ---------------------------------------------------


@pytest.mark.parametrize("claimed", ["manager/m1", "admin", "user/a1"])
def test_a_driver_claiming_another_sender_is_refused_and_counted(policed: App, claimed: str) -> None:
    before, forged, driver = state(policed), counted(policed, "forged_senders"), as_user(policed, "a2")
    attempt = driver._client.send(claimed, A1, CancelRequest(request_id="r-approved"), "t-forged", 30.0)
    with pytest.raises(NotAuthorized, match=f"may not send CancelRequest as '{claimed}'"):
        asyncio.run(attempt)
    assert counted(policed, "forged_senders") == forged + 1
    assert state(policed) == before


@pytest.mark.parametrize("via", ["port", "context"])
def test_a_handler_sending_as_its_manager_on_its_own_host_is_refused_and_counted(policed: App, via: str) -> None:
    """Grouped by department, employee a2 shares its host with its manager and hr, and manager → hr Commit
    is allowed: reaching behind its context (its port, or the context's own id) must not make a2 the manager."""
    before, forged = state(policed), counted(policed, "forged_senders")
    commit = Commit(request_id="r-held", decision=audit("a2", [MON]))
    with pytest.raises(NotAuthorized, match="employee/a2 may not send as 'manager/m1'"):
        relay(policed, A2, HR, commit, posing_as="manager/m1", via=via)
    assert counted(policed, "forged_senders") == forged + 1
    assert state(policed) == before


def test_a_driver_publishing_on_the_dead_letter_topic_is_refused_and_forges_no_count(policed: App) -> None:
    before, forged = state(policed), counted(policed, "forged_senders")
    letter = DeadLetter(message_id="m-x", trace_id="t", sender="manager/m1", target="employee/a1",
                        type_name="Decision", reason="forged_reason")
    asyncio.run(anonymous(policed).publish(DEAD_LETTER_TOPIC, letter))
    policed.settle()
    assert counted(policed, "forged_senders") == forged + 1
    assert counted(policed, "dead_letters_forged_reason") == 0
    assert state(policed) == before


# --- the control plane: the admin's alone ------------------------------------------------------------


def _control_attacks(app: App) -> dict[str, Any]:
    """Each control-plane operation, as a driver that is not the admin would try it."""
    return {
        "register": lambda rt: rt.register("rogue", sa.Echo, placement=Sharded(1)),
        "register an agent type the app has, as its own": lambda rt: rt.register(
            "employee", "pto_probe:RogueEmployee", placement=Sharded(1)),
        "register a message type": lambda rt: rt.register_message(sa.Notice),
        "subscribe": lambda rt: rt.subscribe(TypeSubscription("department", "employee")),
        "unsubscribe": lambda rt: rt.unsubscribe(TypeSubscription("department", "notifier")),
        "intercept": lambda rt: rt.intercept(Policy(())),
        "grant": lambda rt: rt.grant("user/a1"),
        "revoke": lambda rt: rt.revoke("service/pto"),
        "read dead letters": lambda rt: rt.dead_letters(),
        "read a trace": lambda rt: rt.trace(app.rt.new_trace()),
        "draw a trace": lambda rt: rt.trace_mermaid(app.rt.new_trace()),
        "inspect an agent": lambda rt: rt.inspect(HR, "snapshot"),
        "destroy the namespace": lambda rt: rt.shutdown(destroy=True),
    }


CONTROL = ["register", "register an agent type the app has, as its own", "register a message type", "subscribe",
           "unsubscribe", "intercept", "grant", "revoke", "read dead letters", "read a trace", "draw a trace",
           "inspect an agent", "destroy the namespace"]


@pytest.mark.parametrize("operation", CONTROL)
def test_an_anonymous_driver_is_refused_the_control_plane_and_counted(policed: App, operation: str) -> None:
    before, version, refused = state(policed), table_version(policed), counted(policed, "control_refused")
    with pytest.raises(NotAuthorized, match=f"^anonymous may not .* in namespace '{policed.rt.namespace}': "
                                            "only its admin may"):
        _control_attacks(policed)[operation](anonymous(policed))
    assert counted(policed, "control_refused") == refused + 1
    assert state(policed) == before
    assert table_version(policed) == version  # the registry, subscriptions and interceptors as they were


def test_a_granted_service_is_refused_the_whole_control_plane_too(policed: App) -> None:
    before, version, refused = state(policed), table_version(policed), counted(policed, "control_refused")
    for operation, attempt in _control_attacks(policed).items():
        # shutting down disconnects the driver, refused or not: that attempt gets a connection of its own
        driver = connect_service(policed.rt) if operation == "destroy the namespace" else policed.service
        with pytest.raises(NotAuthorized, match=r"^service/pto may not"):
            attempt(driver)
    assert counted(policed, "control_refused") == refused + len(CONTROL)
    assert state(policed) == before
    assert table_version(policed) == version


def table_version(app: App) -> int:
    return ray.get(app.rt._bus.get_table.remote()).version


def test_inspecting_a_method_not_marked_inspectable_is_refused_even_for_the_admin(policed: App) -> None:
    before, refused = state(policed), counted(policed, "inspect_refused")
    for name, args in [("load_state", ({"balances": {}},)), ("__setattr__", ("store", None)), ("on_commit", ())]:
        with pytest.raises(NotAuthorized, match=f"{name} of hr/ops is not inspectable"):
            policed.rt.inspect(HR, name, *args)
    assert counted(policed, "inspect_refused") == refused + 3
    assert state(policed) == before


# --- credentials ----------------------------------------------------------------------------------------


def test_a_revoked_credential_stops_working_at_once(policed: App) -> None:
    before = state(policed)
    credential = policed.rt.grant("user/a3")
    driver = Runtime.connect(namespace=policed.rt.namespace, credential=credential)
    assert asyncio.run(driver.send(AgentId("employee", "a3"), CancelRequest(request_id="r-none"), timeout=30)).reason

    assert policed.rt.revoke("user/a3") == 1

    refused = counted(policed, "credentials_refused")
    with pytest.raises(NotAuthorized, match=f"namespace '{policed.rt.namespace}' does not know this credential"):
        asyncio.run(driver.send(AgentId("employee", "a3"), RequestTimeOff(request_id="r-a3", text="Dec 4"),
                                timeout=30))
    with pytest.raises(NotAuthorized, match="does not know this credential"):  # and every later message
        asyncio.run(driver.send(AgentId("employee", "a3"), RequestTimeOff(request_id="r-a3", text="Dec 4"),
                                timeout=30))
    with pytest.raises(NotAuthorized, match="does not know this credential"):
        Runtime.connect(namespace=policed.rt.namespace, credential=credential)
    assert counted(policed, "credentials_refused") == refused + 2
    assert state(policed) == before


def test_a_credential_of_another_namespace_opens_nothing_here(app: App, policed: App) -> None:
    before, refused = state(app), counted(app, "credentials_refused")
    credential = policed.rt.grant("user/a1")
    with pytest.raises(NotAuthorized, match=f"^namespace '{app.rt.namespace}' does not know this credential"):
        Runtime.connect(namespace=app.rt.namespace, credential=credential)
    with pytest.raises(NotAuthorized, match=f"^namespace '{app.rt.namespace}' does not know this credential"):
        Runtime.connect(namespace=app.rt.namespace, credential=policed.rt.credential)  # not even its admin's
    assert counted(app, "credentials_refused") == refused + 2
    assert state(app) == before
