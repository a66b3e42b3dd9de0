"""The PTO state as the durable store holds it, read straight from the runtime's state store and the hr
ledgers (SQLite files or PostgreSQL schemas), in the shapes the agents report: so the invariants can be checked
on what a restart would find, and what the agents held in memory compared with it.

    stored = collect_stored(org, state, rt.namespace, Ledgers(hr, rt.namespace))
    check(org, stored, requested)
    same_state("the store holds what the agents held", collect(rt, org), stored)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster import is_postgres, node_path, open_state_store, postgres_schemas, redacted

from .coverage import TeamCalendar
from .employee import employee_report
from .hr import hr_report
from .invariants import EXAMPLES, InvariantResult, Snapshot
from .ledgers import Ledgers
from .manager import manager_report
from .org import Org
from .team import team_report

__all__ = ["collect_stored", "differences", "same_state", "state_file"]

def state_file(state_dir: str | Path, namespace: str) -> Path:
    """Where ``Runtime.connect(state_dir=...)`` keeps a namespace's agent state (``SqliteStateStore``)."""
    return node_path(state_dir) / f"{namespace}.db"


def collect_stored(org: Org, state: str, namespace: str, ledgers: Ledgers) -> Snapshot:
    """Every PTO agent's state as stored at ``state`` (a directory or a database URL) for ``namespace``, reported
    as the agent would report it. An agent with nothing stored reports as a fresh one would; a missing hr
    ledger is a violation of its department."""
    if is_postgres(state) and namespace not in postgres_schemas(state, namespace):
        raise FileNotFoundError(f"no agent state store at {redacted(state)} schema {namespace}")
    if not is_postgres(state) and not state_file(state, namespace).is_file():
        raise FileNotFoundError(f"no agent state store at {state_file(state, namespace)}")
    store = open_state_store(state, namespace)
    try:
        def load(agent_id: str) -> dict[str, Any]:
            return store.load(agent_id) or {}

        employees = {}
        for e in org.employees:
            state = load(f"employee/{e}")
            employees[e] = employee_report(state.get("requests", {}), state.get("task_notices", {}),
                                           state.get("refused", []))
        teams = {}
        for t, team in org.teams.items():
            state = load(f"team/{t}")
            teams[t] = team_report(TeamCalendar.from_state(state) if state.get("reservations") is not None
                                   else TeamCalendar(team.id, team.members, team.min_on_duty))
        notifiers = {d: load(f"notifier/{d}") for d in org.departments}
        return Snapshot(
            hr=_stored_hr(org, ledgers), teams=teams,
            notifiers={d: dict(state.get("notices", {})) for d, state in notifiers.items()},
            employees=employees,
            cancellations={d: dict(state.get("cancellations", {})) for d, state in notifiers.items()},
            managers={m: manager_report(load(f"manager/{m}").get("decisions", {})) for m in org.managers},
        )
    finally:
        store.close()


def _stored_hr(org: Org, ledgers: Ledgers) -> dict[str, dict[str, Any]]:
    found, reports = set(ledgers.departments()), {}
    for department in org.departments:
        if department not in found:  # opening it would make an empty one
            reports[department] = {"violations": [f"hr database {ledgers.where(department)} is missing"],
                                   "requests": {}, "balances": {}, "decisions": []}
            continue
        with ledgers.open(department) as store:
            reports[department] = hr_report(store, [e.id for e in org.employees.values()
                                                    if e.department == department])
    return reports


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two reports differ, each naming the place and both values (tuples and lists compare alike)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b), key=str):
            place = f"{where}[{key}]" if where else str(key)
            if key not in a or key not in b:
                found.append(f"{place}: {a.get(key, '(missing)')!r} against {b.get(key, '(missing)')!r}")
            else:
                found += differences(a[key], b[key], place)
        return found
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        a, b = list(a), list(b)
    return [] if a == b else [f"{where}: {a!r} against {b!r}"]


def same_state(name: str, first: Snapshot, second: Snapshot) -> InvariantResult:
    """The two snapshots agree in every section (hr, teams, notifiers, cancellations, employees, managers)."""
    by_section = {section: differences(getattr(first, section), getattr(second, section), section)
                  for section in ("hr", "teams", "notifiers", "cancellations", "employees", "managers")}
    found = [problem for problems in by_section.values() for problem in problems]
    where = ", ".join(f"{section} {len(problems)}" for section, problems in by_section.items() if problems)
    return InvariantResult(name, len(found), (f"{found[0]} (by section: {where})", *found[1:EXAMPLES]) if found else ())
