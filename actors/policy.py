"""The PTO application's rules, as data the runtime enforces where messages are routed.

Who may say what: only the employee's own principal (``user/<id>``), or a service granted to act for
employees (``service/pto``), asks for time off and cancels for it; only the employee's own manager
decides; only an employee asks a hold, for itself, from its own department's hr; only a manager of the
department commits, releases or revokes days (so only hr, on their word, changes balances); only the
managers of a team's members reserve its days; only an employee's own manager hears its requests. What
others may see: broadcasts on department and task topics never carry a balance, a reason or a detail,
whoever publishes them; only a task's members and a department's people publish there. Every agent of the
app also checks its own senders in its handlers (``actors._guard``), so these rules, but for redaction and
who publishes on a topic, hold without this policy too."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cluster import Policy, PublishRule, Redact, SendRule

from ._guard import EMPLOYEE_SERVICES, GATEWAY_SERVICE, PTO_SERVICE
from .org import Org

__all__ = ["GATEWAY_SERVICE", "PRIVATE_FIELDS", "PTO_SERVICE", "pto_policy"]

PRIVATE_FIELDS = frozenset({"balance", "available", "reason", "detail"})


def pto_policy(org: Org) -> Policy:
    """The rules name every employee: built with one object per distinct name and per distinct set of names
    (``_Shared``), so a large org's policy costs its distinct parts in every process that holds the routing
    table, not one copy per mention."""
    shared = _Shared()
    employees = org.employees.values()
    of_department = _group((e.department, e.id) for e in employees)
    managers_of_department = _group((e.department, e.manager) for e in employees)
    team_managers = _group((t, org.employees[m].manager) for t, team in org.teams.items() for m in team.members)
    return Policy((
        SendRule(frozenset({"RequestTimeOff", "CancelRequest"}), "employee",
                 {shared.name(f"employee/{e.id}"): shared.names(f"user/{e.id}", *map(str, EMPLOYEE_SERVICES))
                  for e in employees},
                 "only the employee, or a service acting for employees, asks and cancels for it"),
        SendRule(frozenset({"Decision"}), "employee",
                 {shared.name(f"employee/{e.id}"): shared.names(f"manager/{e.manager}") for e in employees},
                 "only the employee's own manager decides"),
        SendRule(frozenset({"PtoRequest", "CancelRequest"}), "manager",
                 _agents("manager", _group((e.manager, e.id) for e in employees), "employee", shared),
                 "only the manager's own reports ask it"),
        SendRule(frozenset({"PlaceHold"}), "hr", _agents("hr", of_department, "employee", shared),
                 "an employee asks its own department's hr", sender_field="employee"),
        SendRule(frozenset({"Commit", "Release", "RevokeApproval"}), "hr",
                 _agents("hr", managers_of_department, "manager", shared),
                 "only a manager of the department changes what hr holds"),
        SendRule(frozenset({"Reserve", "Confirm", "CancelReservation"}), "team",
                 _agents("team", team_managers, "manager", shared),
                 "only the managers of the team's members reserve its days"),
        PublishRule("task", _agents("task", {k: set(m) for k, m in org.tasks.items()}, "employee", shared),
                    "only the task's members publish there"),
        PublishRule("department", _agents("department", of_department, "employee", shared),
                    "only the department's people publish there"),
        Redact(frozenset({"department", "task"}), PRIVATE_FIELDS),
    ))


def _group(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for key, member in pairs:
        grouped[key].add(member)
    return grouped


def _agents(target_type: str, members: dict[str, set[str]], member_type: str,
            shared: _Shared) -> dict[str, frozenset[str]]:
    return {shared.name(f"{target_type}/{key}"): shared.names(*(f"{member_type}/{m}" for m in found))
            for key, found in members.items()}


class _Shared:
    """One string per distinct name and one frozenset per distinct set of names: pickle keeps what is one object
    one object, so the routing table carries each once."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}

    def name(self, text: str) -> str:
        return self._names.setdefault(text, text)

    def names(self, *texts: str) -> frozenset[str]:
        found = frozenset(self.name(text) for text in texts)
        return self._sets.setdefault(found, found)
