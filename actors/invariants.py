"""The invariants of the PTO flow (DESIGN.md §3), checked on state read back from the agents and the
HR store after a run — never on the driver's own bookkeeping, which could share a bug with the flow."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from cluster import AgentId, Runtime

from .org import Org

__all__ = ["InvariantResult", "Snapshot", "check", "collect"]


@dataclass
class Snapshot:
    """Final state: by department (hr), team, department (notifier) and employee."""

    hr: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifiers: dict[str, dict[str, int]] = field(default_factory=dict)
    employees: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class InvariantResult:
    name: str
    violations: int
    example: str = ""

    @property
    def ok(self) -> bool:
        return self.violations == 0


def collect(rt: Runtime, org: Org) -> Snapshot:
    """Ask every agent for its own account (queued behind its messages, so it is their final word)."""
    return Snapshot(
        hr={d: rt.call(AgentId("hr", d), "snapshot") for d in org.departments},
        teams={t: rt.call(AgentId("team", t), "report") for t in org.teams},
        notifiers={d: rt.call(AgentId("notifier", d), "received") for d in org.departments},
        employees={e: rt.call(AgentId("employee", e), "report") for e in org.employees},
    )


def check(org: Org, snap: Snapshot, requested: dict[str, str]) -> list[InvariantResult]:
    """``requested`` maps each request id the driver sent to its employee."""
    hr_requests = {rid: record for dept in snap.hr.values() for rid, record in dept["requests"].items()}
    recorded: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for eid, report in snap.employees.items():
        for rid, status in report["requests"].items():
            recorded[rid].append((eid, status))
    outcomes = {rid: next((r for r in records if r[0] == requested.get(rid)), records[0])
                for rid, records in recorded.items()}
    return [
        _result("ledger reconciles and no balance is negative",
                [v for dept in snap.hr.values() for v in dept["violations"]] + _balances(org, snap, hr_requests)),
        _result("no day committed twice for one employee", _double_commits(hr_requests)),
        _result("every team keeps its minimum on duty", _coverage(org, hr_requests)
                + [v for report in snap.teams.values() for v in report["violations"]]),
        _result("every request has exactly one terminal outcome", _outcomes(requested, outcomes)
                + [f"{rid}: recorded by {', '.join(e for e, _ in records)}" for rid, records in recorded.items()
                   if len(records) > 1]),
        _result("a rejected request leaves no hold and no reservation", _leftovers(snap, outcomes, hr_requests)),
        _result("approved requests committed in hr, rejected ones not", _agreement(outcomes, hr_requests)),
        _result("each approved notice reached each recipient exactly once, rejected ones none",
                _notices(org, snap, outcomes)),
    ]


def _result(name: str, violations: list[str]) -> InvariantResult:
    return InvariantResult(name, len(violations), violations[0] if violations else "")


def _committed(hr_requests: dict[str, tuple]) -> dict[str, list[str]]:
    by_employee: dict[str, list[str]] = defaultdict(list)
    for employee, status, days in hr_requests.values():
        if status == "committed":
            by_employee[employee].extend(days)
    return by_employee


def _balances(org: Org, snap: Snapshot, hr_requests: dict[str, tuple]) -> list[str]:
    """Each reported balance against the org's starting balance less the committed days, recomputed here."""
    committed = _committed(hr_requests)
    problems = []
    for dept in snap.hr.values():
        for employee, balance in dept["balances"].items():
            expected = org.employees[employee].starting_balance - len(committed.get(employee, []))
            if balance < 0 or balance != expected:
                problems.append(f"{employee}: balance {balance}, expected {expected} (starting "
                                f"{org.employees[employee].starting_balance} - {len(committed.get(employee, []))} "
                                f"committed days)")
    return problems


def _double_commits(hr_requests: dict[str, tuple]) -> list[str]:
    return [f"{employee} has {day} committed {n} times"
            for employee, days in _committed(hr_requests).items()
            for day, n in Counter(days).items() if n > 1]


def _coverage(org: Org, hr_requests: dict[str, tuple]) -> list[str]:
    """Recomputed from the ledger's committed days, independently of the teams' own calendars."""
    off: dict[tuple[str, str], set[str]] = defaultdict(set)
    for employee, days in _committed(hr_requests).items():
        for team in org.employees[employee].teams:
            for day in days:
                off[(team, day)].add(employee)
    capacity = {team.id: len(team.members) - team.min_on_duty for team in org.teams.values()}
    return [f"team {team} on {day}: {sorted(people)} off, at most {capacity[team]}"
            for (team, day), people in sorted(off.items()) if len(people) > capacity[team]]


def _outcomes(requested: dict[str, str], outcomes: dict[str, tuple[str, str]]) -> list[str]:
    problems = [f"{rid} ({employee}): no outcome" for rid, employee in requested.items() if rid not in outcomes]
    problems += [f"{rid}: still {status}" for rid, (_, status) in outcomes.items()
                 if status not in ("approved", "rejected", "cancelled")]
    problems += [f"{rid}: recorded by {employee}, asked of {requested[rid]}" for rid, (employee, _) in outcomes.items()
                 if rid in requested and requested[rid] != employee]
    return problems


def _leftovers(snap: Snapshot, outcomes: dict[str, tuple], hr_requests: dict[str, tuple]) -> list[str]:
    problems = [f"{rid} ({employee}): hold still held" for rid, (employee, status, _) in hr_requests.items()
                if status == "held"]
    for team, report in snap.teams.items():
        for rid, reservation in report["state"]["reservations"].items():
            approved = outcomes.get(rid, ("", ""))[1] == "approved"
            if reservation["status"] != "confirmed" or not approved:
                problems.append(f"team {team}: reservation {rid} is {reservation['status']}, request "
                                f"{outcomes.get(rid, ('', 'unknown'))[1]}")
    return problems


def _agreement(outcomes: dict[str, tuple], hr_requests: dict[str, tuple]) -> list[str]:
    expected = {"approved": "committed", "cancelled": "cancelled"}
    problems = []
    for rid, (_, status) in outcomes.items():
        in_hr = hr_requests.get(rid, (None, None, None))[1]
        if status in expected and in_hr != expected[status]:
            problems.append(f"{rid}: {status} but hr has it {in_hr}")
        elif status == "rejected" and in_hr not in (None, "released"):
            problems.append(f"{rid}: rejected but hr has it {in_hr}")
    return problems


def _notices(org: Org, snap: Snapshot, outcomes: dict[str, tuple]) -> list[str]:
    told: Counter[tuple[str, str]] = Counter()  # (request id, recipient) → copies
    for department, received in snap.notifiers.items():
        for rid, copies in received.items():
            told[(rid, f"notifier/{department}")] += copies
    for employee, report in snap.employees.items():
        for key, copies in report["task_notices"].items():
            rid, topic, *cancelled = key.split("|")
            if not cancelled:
                told[(rid, f"employee/{employee}@{topic}")] += copies
    expected: set[tuple[str, str]] = set()
    for rid, (employee, status) in outcomes.items():
        if status not in ("approved", "cancelled"):
            continue
        profile = org.employees[employee]
        expected.add((rid, f"notifier/{profile.department}"))
        for task in profile.tasks:
            expected |= {(rid, f"employee/{mate}@task/{task}") for mate in org.tasks[task] if mate != employee}
    problems = [f"{rid}: {who} told {told[(rid, who)]} times" for rid, who in sorted(expected)
                if told[(rid, who)] != 1]
    problems += [f"{rid}: {who} told but the request was not approved" for rid, who in sorted(told)
                 if (rid, who) not in expected]
    return problems
