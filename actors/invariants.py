"""The invariants of the PTO flow (DESIGN.md §3), checked on state read back from the agents and the
HR store after a run — never on the driver's own bookkeeping, which could share a bug with the flow."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cluster import AgentId, Runtime

from .org import Org

__all__ = [
    "ANSWERS",
    "AUDIT",
    "CANCELS",
    "NOTICES",
    "OUTCOME",
    "WAITING",
    "DriverAnswers",
    "InvariantResult",
    "Snapshot",
    "check",
    "collect",
]

NOTICES = "each approved notice reached each recipient exactly once, rejected ones none"
CANCELS = "each cancellation notice reached the approval's audience exactly once, others none"
ANSWERS = "every answer the driver received equals the employee's record"
AUDIT = "one audit row per decision, naming the employee's manager as decider"
OUTCOME = "every request has exactly one outcome: terminal, or waiting for its manager"
WAITING = "every waiting request holds its days in hr and its cover in each team, and is in its manager's inbox"


@dataclass
class Snapshot:
    """Final state: by department (hr), team, department (notifier), employee and manager."""

    hr: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifiers: dict[str, dict[str, int]] = field(default_factory=dict)
    employees: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancellations: dict[str, dict[str, int]] = field(default_factory=dict)  # by department (notifier)
    managers: dict[str, dict[str, Any]] = field(default_factory=dict)  # their decisions and their inbox


@dataclass
class DriverAnswers:
    """What the driver was told: by request id, the outcome (``status``, ``reason``, ``days`` as ISO strings)
    and the answer to its ``CancelRequest`` (``ok``, ``reason``), if it sent one."""

    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancels: dict[str, dict[str, Any]] = field(default_factory=dict)


EXAMPLES = 20  # violations an invariant names, of all it counts: enough to see what they share


@dataclass(frozen=True)
class InvariantResult:
    name: str
    violations: int
    examples: tuple[str, ...] = ()  # the first ``EXAMPLES``

    @property
    def ok(self) -> bool:
        return self.violations == 0

    @property
    def example(self) -> str:
        return self.examples[0] if self.examples else ""

    def figures(self) -> dict[str, Any]:
        """As a scenario's JSON report keeps it."""
        return {"name": self.name, "ok": self.ok, "violations": self.violations, "example": self.example,
                "examples": list(self.examples)}


def collect(rt: Runtime, org: Org, keep: bool = True) -> Snapshot:
    """Ask every agent for its own account (queued behind its messages, so it is their final word): ``rt`` is
    the namespace's admin, who alone may inspect agents (``inspect_all``: a few round trips for the whole org).
    ``keep=False``: the agents woken to answer go again at once where they may (a final read-back of a large
    org); by default they stay, as a warm-up wants."""
    def each(agent_type: str, keys: Iterable[str], name: str) -> dict[str, Any]:
        keys = list(keys)
        return dict(zip(keys, rt.inspect_all([AgentId(agent_type, key) for key in keys], name, keep=keep),
                        strict=True))

    return Snapshot(
        hr=each("hr", org.departments, "snapshot"), teams=each("team", org.teams, "report"),
        notifiers=each("notifier", org.departments, "received"), employees=each("employee", org.employees, "report"),
        cancellations=each("notifier", org.departments, "cancelled"), managers=each("manager", org.managers, "report"),
    )


def check(org: Org, snap: Snapshot, requested: dict[str, str],
          answers: DriverAnswers | None = None) -> list[InvariantResult]:
    """``requested`` maps each request id the driver sent to its employee; ``answers`` (when given) is what
    the driver heard back, checked against the employees' records."""
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
        _result(OUTCOME, _outcomes(requested, outcomes)
                + [f"{rid}: recorded by {', '.join(e for e, _ in records)}" for rid, records in recorded.items()
                   if len(records) > 1]),
        _result("a rejected request leaves no hold and no reservation", _leftovers(snap, outcomes, hr_requests)),
        _result("approved requests committed in hr, rejected ones not", _agreement(outcomes, hr_requests)),
        _result(NOTICES, _notices(org, snap, outcomes, cancelled=False)),
        _result(CANCELS, _notices(org, snap, outcomes, cancelled=True)),
        _result(AUDIT, _audit(org, hr_requests, [row for dept in snap.hr.values() for row in dept["decisions"]])),
        _result(WAITING, _waiting(org, snap, outcomes, hr_requests)),
    ] + ([] if answers is None else [_result(ANSWERS, _answers(snap, requested, answers))])


def _result(name: str, violations: list[str]) -> InvariantResult:
    return InvariantResult(name, len(violations), tuple(violations[:EXAMPLES]))


def _committed(hr_requests: dict[str, tuple], statuses: tuple[str, ...] = ("committed",)) -> dict[str, list[str]]:
    by_employee: dict[str, list[str]] = defaultdict(list)
    for employee, status, days in hr_requests.values():
        if status in statuses:
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
    """Recomputed from hr's committed days and held ones (a request waiting for its manager holds its cover),
    independently of the teams' own calendars."""
    off: dict[tuple[str, str], set[str]] = defaultdict(set)
    for employee, days in _committed(hr_requests, ("committed", "held")).items():
        for team in org.employees[employee].teams:
            for day in days:
                off[(team, day)].add(employee)
    capacity = {team.id: len(team.members) - team.min_on_duty for team in org.teams.values()}
    return [f"team {team} on {day}: {sorted(people)} off, at most {capacity[team]}"
            for (team, day), people in sorted(off.items()) if len(people) > capacity[team]]


def _outcomes(requested: dict[str, str], outcomes: dict[str, tuple[str, str]]) -> list[str]:
    problems = [f"{rid} ({employee}): no outcome" for rid, employee in requested.items() if rid not in outcomes]
    problems += [f"{rid}: still {status}" for rid, (_, status) in outcomes.items()
                 if status not in ("approved", "rejected", "cancelled", "waiting")]
    problems += [f"{rid}: recorded by {employee}, asked of {requested[rid]}" for rid, (employee, _) in outcomes.items()
                 if rid in requested and requested[rid] != employee]
    return problems


def _leftovers(snap: Snapshot, outcomes: dict[str, tuple], hr_requests: dict[str, tuple]) -> list[str]:
    """Only an approved request keeps a confirmed reservation, and only a waiting one a hold and tentative
    reservations (``_waiting`` checks those)."""
    problems = [f"{rid} ({employee}): hold still held" for rid, (employee, status, _) in hr_requests.items()
                if status == "held" and outcomes.get(rid, ("", ""))[1] != "waiting"]
    kept = {"approved": "confirmed", "waiting": "tentative"}
    for team, report in snap.teams.items():
        for rid, reservation in report["state"]["reservations"].items():
            if reservation["status"] != kept.get(outcomes.get(rid, ("", ""))[1]):
                problems.append(f"team {team}: reservation {rid} is {reservation['status']}, request "
                                f"{outcomes.get(rid, ('', 'unknown'))[1]}")
    return problems


def _agreement(outcomes: dict[str, tuple], hr_requests: dict[str, tuple]) -> list[str]:
    expected = {"approved": "committed", "cancelled": "cancelled", "waiting": "held"}
    problems = []
    for rid, (_, status) in outcomes.items():
        in_hr = hr_requests.get(rid, (None, None, None))[1]
        if status in expected and in_hr != expected[status]:
            problems.append(f"{rid}: {status} but hr has it {in_hr}")
        elif status == "rejected" and in_hr not in (None, "released"):
            problems.append(f"{rid}: rejected but hr has it {in_hr}")
    return problems


def _notices(org: Org, snap: Snapshot, outcomes: dict[str, tuple], cancelled: bool) -> list[str]:
    """Approval notices go out for every approved request (cancelled ones were approved first); cancellation
    notices for every cancelled one, to the same audience: the department's notifier and each task mate on
    each shared task topic, once each."""
    kind = "cancellation" if cancelled else "notice"
    told: Counter[tuple[str, str]] = Counter()  # (request id, recipient) → copies
    for department, received in (snap.cancellations if cancelled else snap.notifiers).items():
        for rid, copies in received.items():
            told[(rid, f"notifier/{department}")] += copies
    for employee, report in snap.employees.items():
        for key, copies in report["task_notices"].items():
            rid, topic, *flag = key.split("|")
            if bool(flag) == cancelled:
                told[(rid, f"employee/{employee}@{topic}")] += copies
    due = ("cancelled",) if cancelled else ("approved", "cancelled")
    expected: set[tuple[str, str]] = set()
    for rid, (employee, status) in outcomes.items():
        if status not in due:
            continue
        profile = org.employees[employee]
        expected.add((rid, f"notifier/{profile.department}"))
        for task in profile.tasks:
            expected |= {(rid, f"employee/{mate}@task/{task}") for mate in org.tasks[task] if mate != employee}
    name = "cancelled" if cancelled else "approved"
    problems = [f"{rid}: {who} told {told[(rid, who)]} times" + (f" of its {kind}" if cancelled else "")
                for rid, who in sorted(expected) if told[(rid, who)] != 1]
    problems += [f"{rid}: {who} told" + (f" of its {kind}" if cancelled else "") + f" but the request was not {name}"
                 for rid, who in sorted(told) if (rid, who) not in expected]
    return problems


def _audit(org: Org, hr_requests: dict[str, tuple], rows: list[tuple]) -> list[str]:
    """Every request hr committed, released or cancelled was decided by a manager: exactly one audit row,
    agreeing with hr, naming the employee's own manager as decider (and as canceller of a cancelled one)."""
    decided = {"committed": True, "cancelled": True, "released": False}
    by_request: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        by_request[row[0]].append(row)
    problems = [f"{rid}: {len(found)} audit rows" for rid, found in sorted(by_request.items()) if len(found) > 1]
    for rid, (employee, status, _) in sorted(hr_requests.items()):
        found = by_request.get(rid)
        if status not in decided:
            if found:
                problems.append(f"{rid}: audit row for a request hr has {status}")
            continue
        if not found:
            problems.append(f"{rid} ({employee}): {status} in hr but no audit row")
            continue
        _, audited, approved, decided_by, cancelled_by = found[0]
        manager = f"manager/{org.employees[employee].manager}"
        if audited != employee:
            problems.append(f"{rid}: audit row names employee {audited}, hr {employee}")
        if approved != decided[status]:
            problems.append(f"{rid}: audit row says {'approved' if approved else 'rejected'}, hr has it {status}")
        if decided_by != manager:
            problems.append(f"{rid}: decided by {decided_by}, not {employee}'s manager {manager}")
        if (status == "cancelled") != (cancelled_by is not None) or cancelled_by not in (None, manager):
            problems.append(f"{rid}: {status} in hr, audit row cancelled by {cancelled_by}")
    problems += [f"{rid}: audit row for a request hr does not know"
                 for rid in sorted(set(by_request) - set(hr_requests))]
    return problems


def _answers(snap: Snapshot, requested: dict[str, str], answers: DriverAnswers) -> list[str]:
    """What the driver was told against what the employee recorded. A request cancelled while its answer was
    on its way may have been answered approved, or rejected for reason 'cancelled'; either way only a
    cancel the driver heard succeed may have cancelled it, and a refused cancel none."""
    problems = []
    for rid, told in sorted(answers.outcomes.items()):
        record = snap.employees.get(requested.get(rid, ""), {}).get("records", {}).get(rid)
        if record is None:
            problems.append(f"{rid}: driver told {told['status']}, employee {requested.get(rid)} has no record")
            continue
        status, says = record["status"], (told["status"], told.get("reason"))
        if status == "cancelled":
            fits = says in (("approved", None), ("rejected", "cancelled"))
        else:
            fits = says == (status, record["reason"])
        if not fits or [str(d) for d in told.get("days", [])] != record["days"]:
            problems.append(f"{rid}: driver told {says[0]} ({says[1]}) for {told.get('days', [])}, employee "
                            f"recorded {status} ({record['reason']}) for {record['days']}")
    for rid, told in sorted(answers.cancels.items()):
        record = snap.employees.get(requested.get(rid, ""), {}).get("records", {}).get(rid) or {"status": None}
        if told["ok"] != (record["status"] == "cancelled"):
            problems.append(f"{rid}: driver's cancel answered ok={told['ok']} ({told.get('reason')}), employee "
                            f"recorded {record['status']}")
    return problems


def _waiting(org: Org, snap: Snapshot, outcomes: dict[str, tuple], hr_requests: dict[str, tuple]) -> list[str]:
    """A request its employee records as waiting is held in hr and reserved (tentatively) in each of the
    employee's teams, for the days the employee recorded, and listed in its manager's inbox; an inbox lists
    nothing else."""
    problems = []
    inboxes = {(m, rid): item for m, report in snap.managers.items() for rid, item in report["waiting"].items()}
    for rid, (employee, status) in sorted(outcomes.items()):
        if status != "waiting":
            continue
        days = snap.employees[employee]["records"][rid]["days"]
        if hr_requests.get(rid) != (employee, "held", days):
            problems.append(f"{rid} ({employee}) waits, but hr has {hr_requests.get(rid)}, not held for {days}")
        for team in org.employees[employee].teams:
            reservation = snap.teams.get(team, {}).get("state", {}).get("reservations", {}).get(rid)
            if reservation is None or (reservation["status"], reservation["days"]) != ("tentative", days):
                problems.append(f"{rid} ({employee}) waits, but team {team} has {reservation}, not {days} tentative")
        manager = org.employees[employee].manager
        if inboxes.get((manager, rid)) != {"employee": employee, "days": days}:
            problems.append(f"{rid} ({employee}) waits, but manager {manager}'s inbox has "
                            f"{inboxes.get((manager, rid))}")
    problems += [f"{rid} in manager {m}'s inbox, but {item['employee']} has it "
                 f"{outcomes.get(rid, ('', 'unknown'))[1]}" for (m, rid), item in sorted(inboxes.items())
                 if outcomes.get(rid, ("", ""))[1] != "waiting"]
    return problems
