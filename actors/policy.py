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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from cluster import Policy, PublishRule, Redact, SendRule

from ._config import org_blob, org_from
from ._guard import EMPLOYEE_SERVICES, GATEWAY_SERVICE, PTO_SERVICE
from .org import Employee, Org

__all__ = ["GATEWAY_SERVICE", "PRIVATE_FIELDS", "PTO_SERVICE", "pto_policy"]

PRIVATE_FIELDS = frozenset({"balance", "available", "reason", "detail"})


def pto_policy(org: Org) -> Policy:
    """The rules name no one by list: each reads who may send from the org (``Senders``), which every process
    holding the routing table parses once anyway (``actors._config``). Listed name by name, a 100,000-employee
    org's rules took 83 MB in every such process (measured, unpickled)."""
    blob = org_blob(org)

    def senders(relation: str, target_type: str) -> Senders:
        return Senders(blob, relation, target_type)

    return Policy((
        SendRule(frozenset({"RequestTimeOff", "CancelRequest"}), "employee", senders("self_or_service", "employee"),
                 "only the employee, or a service acting for employees, asks and cancels for it"),
        SendRule(frozenset({"Decision"}), "employee", senders("own_manager", "employee"),
                 "only the employee's own manager decides"),
        SendRule(frozenset({"PtoRequest", "CancelRequest"}), "manager", senders("reports", "manager"),
                 "only the manager's own reports ask it"),
        SendRule(frozenset({"PlaceHold"}), "hr", senders("staff", "hr"), "an employee asks its own department's hr",
                 sender_field="employee"),
        SendRule(frozenset({"Commit", "Release", "RevokeApproval"}), "hr", senders("department_managers", "hr"),
                 "only a manager of the department changes what hr holds"),
        SendRule(frozenset({"Reserve", "Confirm", "CancelReservation"}), "team", senders("team_managers", "team"),
                 "only the managers of the team's members reserve its days"),
        PublishRule("task", senders("task_members", "task"), "only the task's members publish there"),
        PublishRule("department", senders("staff", "department"), "only the department's people publish there"),
        Redact(frozenset({"department", "task"}), PRIVATE_FIELDS),
    ))


@dataclass(frozen=True)
class Senders(Mapping[str, "Allowed"]):
    """Who may send to each agent (or publish on each topic) of a rule, by ``relation`` to it in the org: the
    target ``type/key`` maps to the senders the relation admits."""

    org: bytes = field(repr=False)  # ``actors._config.org_blob``
    relation: str
    target_type: str

    def __post_init__(self) -> None:
        if self.relation not in _RELATIONS:
            raise ValueError(f"unknown relation {self.relation!r}; known: {', '.join(sorted(_RELATIONS))}")

    def __getitem__(self, target: str) -> Allowed:
        return Allowed(org_from(self.org), _RELATIONS[self.relation], target.partition("/")[2])

    def __iter__(self) -> Iterator[str]:
        return (f"{self.target_type}/{key}" for key in _RELATIONS[self.relation].keys(org_from(self.org)))

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True, slots=True)
class Allowed:
    """The senders a relation admits for one target: a membership test on the org, not a set held in memory
    (listed only to name them in a refusal)."""

    org: Org
    relation: _Relation
    key: str

    def __contains__(self, sender: object) -> bool:
        return isinstance(sender, str) and self.relation.admits(self.org, self.key, sender)

    def __iter__(self) -> Iterator[str]:
        return iter(self.relation.senders(self.org, self.key))

    def __len__(self) -> int:
        return len(self.relation.senders(self.org, self.key))


class _Relation(NamedTuple):
    keys: Callable[[Org], Iterable[str]]  # the targets it admits anyone to
    senders: Callable[[Org, str], frozenset[str]]  # everyone it admits for a target: to name them in a refusal
    admits: Callable[[Org, str, str], bool]  # one sender for a target: what runs on every message


def _employee(org: Org, sender: str) -> Employee | None:
    """The org's employee the sender is, if it is one (``employee/<id>``)."""
    sender_type, _, key = sender.partition("/")
    return org.employees.get(key) if sender_type == "employee" else None


def _manager_key(sender: str) -> str | None:
    sender_type, _, key = sender.partition("/")
    return key if sender_type == "manager" else None


def _own_manager(org: Org, key: str) -> frozenset[str]:
    employee = org.employees.get(key)
    return frozenset() if employee is None else frozenset({f"manager/{employee.manager}"})


def _team_managers(org: Org, key: str) -> frozenset[str]:
    team = org.teams.get(key)
    return frozenset() if team is None else frozenset(f"manager/{org.employees[m].manager}" for m in team.members)


def _reports_to(org: Org, sender: str, manager: str) -> bool:
    employee = _employee(org, sender)
    return employee is not None and employee.manager == manager


def _works_in(org: Org, sender: str, department: str) -> bool:
    employee = _employee(org, sender)
    return employee is not None and employee.department == department


_SERVICES = frozenset(map(str, EMPLOYEE_SERVICES))

_RELATIONS: dict[str, _Relation] = {
    "self_or_service": _Relation(
        lambda org: org.employees,
        lambda org, key: frozenset({f"user/{key}", *_SERVICES}) if key in org.employees else frozenset(),
        lambda org, key, sender: key in org.employees and (sender == f"user/{key}" or sender in _SERVICES)),
    "own_manager": _Relation(
        lambda org: org.employees, _own_manager, lambda org, key, sender: sender in _own_manager(org, key)),
    "reports": _Relation(
        lambda org: sorted({e.manager for e in org.employees.values()}),
        lambda org, key: frozenset(f"employee/{e}" for e in org.reports_of(key)),
        lambda org, key, sender: _reports_to(org, sender, key)),
    "staff": _Relation(
        lambda org: sorted(set(org.departments)),
        lambda org, key: frozenset(f"employee/{e.id}" for e in org.staff_of(key)),
        lambda org, key, sender: _works_in(org, sender, key)),
    "department_managers": _Relation(
        lambda org: sorted(set(org.departments)),
        lambda org, key: frozenset(f"manager/{e.manager}" for e in org.staff_of(key)),
        lambda org, key, sender: _manager_key(sender) in {e.manager for e in org.staff_of(key)}),
    "team_managers": _Relation(
        lambda org: org.teams, _team_managers, lambda org, key, sender: sender in _team_managers(org, key)),
    "task_members": _Relation(
        lambda org: org.tasks,
        lambda org, key: frozenset(f"employee/{m}" for m in org.tasks.get(key, ())),
        lambda org, key, sender: sender.startswith("employee/") and sender[9:] in org.tasks.get(key, ())),
}
