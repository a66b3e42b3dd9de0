"""Declarative policies (cluster) and the PTO application's rules (actors), without Ray."""

from __future__ import annotations

import pickle

import pytest

from actors._config import org_blob
from actors.org import Org
from actors.policy import pto_policy
from cluster import Intercepted, NotAuthorized, Policy, PublishRule, Redact, SendRule

RULES = Policy((
    SendRule(frozenset({"Decision"}), "employee", {"employee/e1": frozenset({"manager/m1"})}, "own manager decides"),
    SendRule(frozenset({"PlaceHold"}), "hr", {"hr/d0": frozenset({"employee/e1", "employee/e2"})},
             "own department", sender_field="employee"),
    PublishRule("task", {"task/k1": frozenset({"employee/e1"})}, "members only"),
    Redact(frozenset({"task"}), frozenset({"balance"})),
))


def sent(sender: str | None, target: str, type_name: str, payload: object = None) -> object:
    return RULES.on_send(Intercepted(sender, target, type_name, {} if payload is None else payload))


def published(sender: str | None, topic: str, payload: dict) -> object:
    return RULES.on_publish(Intercepted(sender, topic, "Notice", payload))


def test_a_listed_sender_passes_a_send_rule_unchanged() -> None:
    assert sent("manager/m1", "employee/e1", "Decision", {"ok": True}) == {"ok": True}


def test_an_unlisted_sender_is_refused_naming_who_may() -> None:
    with pytest.raises(NotAuthorized, match=r"manager/m2 may not send Decision to employee/e1: own manager decides "
                                            r"\(allowed: manager/m1\)"):
        sent("manager/m2", "employee/e1", "Decision")


def test_a_driver_is_refused_by_its_principal() -> None:
    with pytest.raises(NotAuthorized, match=r"^user/e1 may not send Decision"):
        sent("user/e1", "employee/e1", "Decision")


def test_an_unlisted_target_of_the_rules_type_takes_the_message_from_no_one() -> None:
    with pytest.raises(NotAuthorized, match="no one may"):
        sent("manager/m1", "employee/e9", "Decision")


def test_a_send_rule_leaves_other_target_types_and_message_types_alone() -> None:
    assert sent("anonymous", "audit/a1", "Decision", {"x": 1}) == {"x": 1}
    assert sent("anonymous", "employee/e1", "RequestTimeOff", {"x": 1}) == {"x": 1}


def test_a_sender_field_must_name_the_sender_itself() -> None:
    assert sent("employee/e1", "hr/d0", "PlaceHold", {"employee": "e1"}) == {"employee": "e1"}
    with pytest.raises(NotAuthorized, match="employee='e2': only for itself"):
        sent("employee/e1", "hr/d0", "PlaceHold", {"employee": "e2"})


def test_a_publish_rule_refuses_a_non_member() -> None:
    with pytest.raises(NotAuthorized, match="employee/e2 may not publish to task/k1: members only"):
        published("employee/e2", "task/k1", {"text": "hi"})


def test_redaction_removes_the_listed_fields_from_a_publish() -> None:
    assert published("employee/e1", "task/k1", {"text": "hi", "balance": 3}) == {"text": "hi"}


def test_redaction_leaves_other_topic_types_alone() -> None:
    assert RULES.on_publish(Intercepted("anonymous", "news/n1", "Notice", {"balance": 3})) == {"balance": 3}


def test_a_policy_survives_pickling_with_its_indexes() -> None:
    copy = pickle.loads(pickle.dumps(RULES))
    assert copy == RULES
    with pytest.raises(NotAuthorized):
        copy.on_send(Intercepted("anonymous", "employee/e1", "Decision", {}))


@pytest.fixture(scope="module")
def org() -> Org:
    return Org.generate(seed=5, employees=40)


def two_team_employee(org: Org) -> str:
    return next(e.id for e in org.employees.values() if len(e.teams) == 2)


def test_pto_policy_lets_only_the_own_manager_decide(org: Org) -> None:
    policy, employee = pto_policy(org), next(iter(org.employees.values()))
    other = next(m for m in org.managers if m != employee.manager)
    decision = Intercepted(f"manager/{employee.manager}", f"employee/{employee.id}", "Decision", {})
    assert policy.on_send(decision) == {}
    with pytest.raises(NotAuthorized):
        policy.on_send(Intercepted(f"manager/{other}", f"employee/{employee.id}", "Decision", {}))


def test_pto_policy_lets_the_manager_reserve_both_teams_of_a_two_team_employee(org: Org) -> None:
    policy, employee = pto_policy(org), org.employees[two_team_employee(org)]
    for team in employee.teams:
        assert policy.on_send(Intercepted(f"manager/{employee.manager}", f"team/{team}", "Reserve", {})) == {}


def test_pto_policy_keeps_balance_changes_to_the_departments_managers(org: Org) -> None:
    policy, employee = pto_policy(org), next(iter(org.employees.values()))
    hr = f"hr/{employee.department}"
    assert policy.on_send(Intercepted(f"manager/{employee.manager}", hr, "Commit", {"request_id": "r1"}))
    with pytest.raises(NotAuthorized, match="only a manager of the department"):
        policy.on_send(Intercepted(f"employee/{employee.id}", hr, "Commit", {"request_id": "r1"}))


def test_pto_policy_lets_an_employee_hold_days_only_for_itself(org: Org) -> None:
    policy, (first, second) = pto_policy(org), [e for e in org.employees.values()
                                                if e.department == org.departments[0]][:2]
    hold = Intercepted(f"employee/{first.id}", f"hr/{first.department}", "PlaceHold", {"employee": second.id})
    with pytest.raises(NotAuthorized, match="only for itself"):
        policy.on_send(hold)


def test_pto_policy_strips_private_fields_from_department_broadcasts(org: Org) -> None:
    employee = next(iter(org.employees.values()))
    notice = {"request_id": "r1", "employee": employee.id, "days": [], "balance": 4, "reason": "surgery"}
    found = pto_policy(org).on_publish(Intercepted(f"employee/{employee.id}", f"department/{employee.department}",
                                                   "TimeOffNotice", notice))
    assert found == {"request_id": "r1", "employee": employee.id, "days": []}


def test_pto_policy_refuses_a_publish_to_a_task_the_publisher_is_not_on(org: Org) -> None:
    employee = next(iter(org.employees.values()))
    task = next(k for k, members in org.tasks.items() if employee.id not in members)
    with pytest.raises(NotAuthorized, match="only the task's members"):
        pto_policy(org).on_publish(Intercepted(f"employee/{employee.id}", f"task/{task}", "TimeOffNotice", {}))


def test_a_sender_field_must_name_the_users_own_id_for_a_user_principal() -> None:
    policy = Policy((SendRule(frozenset({"PlaceHold"}), "hr", {"hr/d0": frozenset({"user/e1"})}, "own",
                              sender_field="employee"),))
    assert policy.on_send(Intercepted("user/e1", "hr/d0", "PlaceHold", {"employee": "e1"})) == {"employee": "e1"}
    with pytest.raises(NotAuthorized, match="only for itself"):
        policy.on_send(Intercepted("user/e1", "hr/d0", "PlaceHold", {"employee": "e2"}))


@pytest.mark.parametrize("principal", ["user/{e}", "service/pto"])
def test_pto_policy_lets_the_employees_own_user_and_the_pto_service_ask_and_cancel(org: Org, principal: str) -> None:
    policy, employee = pto_policy(org), next(iter(org.employees.values()))
    for kind in ("RequestTimeOff", "CancelRequest"):
        message = Intercepted(principal.format(e=employee.id), f"employee/{employee.id}", kind, {"request_id": "r1"})
        assert policy.on_send(message) == {"request_id": "r1"}


@pytest.mark.parametrize("principal", ["user/{other}", "anonymous", "admin", "service/loadgen", "employee/{other}"])
def test_pto_policy_refuses_anyone_else_asking_or_cancelling_for_an_employee(org: Org, principal: str) -> None:
    policy, (employee, other) = pto_policy(org), list(org.employees.values())[:2]
    for kind in ("RequestTimeOff", "CancelRequest"):
        message = Intercepted(principal.format(other=other.id), f"employee/{employee.id}", kind, {})
        with pytest.raises(NotAuthorized, match="only the employee, or a service acting for employees"):
            policy.on_send(message)


def test_each_pto_rule_names_in_a_refusal_exactly_the_senders_it_admits(org: Org) -> None:
    candidates = ({f"employee/{e}" for e in org.employees} | {f"manager/{m}" for m in org.managers}
                  | {f"user/{e}" for e in org.employees} | {"service/pto", "service/gateway", "admin"})
    rules = [r for r in pto_policy(org).rules if not isinstance(r, Redact)]
    for rule in rules:
        senders = rule.senders if isinstance(rule, SendRule) else rule.publishers
        for target in senders:
            allowed = senders[target]
            assert set(allowed) == {c for c in candidates if c in allowed}, target


def test_pto_policy_carries_the_org_once_not_a_list_of_names() -> None:
    org = Org.generate(seed=5, employees=2000)
    assert len(pickle.dumps(pto_policy(org))) < len(org_blob(org)) + 5_000
