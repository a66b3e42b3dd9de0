"""Reading the audit trail of a run's HR ledgers, for ``scenarios.audit`` and ``scenarios.pto_request``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from actors.audit import DecisionRecord, TeamCover
from actors.hr_store import UnknownEmployee
from actors.ledgers import Ledgers
from cluster import is_postgres, node_path, redacted, state_location

from ._common import ScenarioError, print_table
from ._run_store import DEFAULT_STORE, STORE_ENV

__all__ = ["AuditError", "audit_flags", "latest_run", "ledgers_of", "print_decisions", "read_decisions"]


class AuditError(ScenarioError):
    """What the user asked for is not there; the message names what is missing."""


def ledgers_of(run_dir: Path | None, store: str | None, namespace: str | None) -> Ledgers:
    """The ledgers of the run asked for: a run directory; a run (namespace) of a store, a database or a
    directory of run directories; else the latest run in the (default) directory store."""
    if run_dir is not None:
        if not run_dir.is_dir():
            raise AuditError(f"run directory {run_dir} does not exist")
        return Ledgers(str(run_dir.resolve() / "hr"), run_dir.name)
    location = state_location(store or os.environ.get(STORE_ENV) or DEFAULT_STORE)
    if is_postgres(location):
        if namespace is None:
            raise AuditError(f"which run? give --namespace: in {redacted(location)} a run is its namespace")
        return Ledgers(location, namespace)
    runs = node_path(location)
    found = runs / namespace if namespace else latest_run(runs)
    if not found.is_dir():
        raise AuditError(f"no run {namespace!r} under {runs}")
    return Ledgers(str(found / "hr"), found.name)


def audit_flags(args: argparse.Namespace) -> str:
    """The flags of ``scenarios.audit`` that name this run's ledgers."""
    if is_postgres(args.run_store.hr):
        return f"--store {redacted(args.run_store.hr)} --namespace {args.namespace}"
    return f"--run-dir {args.run_dir}"


def latest_run(runs: Path) -> Path:
    found = [path for path in runs.glob("*") if (path / "hr").is_dir()]
    if not found:
        raise AuditError(f"no run directory with an hr folder under {runs}/; pass --run-dir or --namespace")
    return max(found, key=lambda path: (path / "hr").stat().st_mtime)


def read_decisions(ledgers: Ledgers, employee: str, request_id: str | None = None) -> tuple[str, list[DecisionRecord]]:
    """Where the ledger that knows ``employee`` (their department's) is, and their decisions in it."""
    departments = ledgers.departments()
    if not departments:
        raise AuditError(f"no HR databases ({ledgers.where('*')})")
    for department in departments:
        with ledgers.open(department) as store:
            try:
                return ledgers.where(department), store.decisions(employee=employee, request_id=request_id)
            except UnknownEmployee:
                continue
    raise AuditError(f"unknown employee {employee!r}: in none of the ledgers of departments "
                     f"{', '.join(departments)} ({ledgers.where('*')})")


def print_decisions(title: str, records: list[DecisionRecord]) -> None:
    rows = [(f"{r.decided_at:%Y-%m-%d %H:%M:%S}", r.request_id, _days(r), "approved" if r.approved else "rejected",
             ": ".join(filter(None, (r.reason, r.detail))) or "-", r.decided_by,
             "; ".join(_team(team) for team in r.teams) or "-",
             f"{r.cancelled_at:%Y-%m-%d %H:%M:%S} by {r.cancelled_by}" if r.cancelled_at else "-")
            for r in records]
    print_table(title, ("time (UTC)", "request", "days", "outcome", "reason", "decided by",
                        "team availability (off/allowed)", "cancelled"), rows)


def _days(record: DecisionRecord) -> str:
    days = [day.isoformat() for day in record.days]
    return ", ".join(days) if len(days) <= 3 else f"{days[0]} .. {days[-1]} ({len(days)} days)"


def _team(team: TeamCover) -> str:
    """A team that reserved shows every day's cover; one that refused, the days it was short."""
    shown = team.days if team.reserved else [cover for cover in team.days if cover.short]
    days = ", ".join(f"{cover.day} {cover.off}/{cover.allowed}" for cover in shown)
    verdict = "reserved" if team.reserved else f"refused ({team.reason})"
    return f"{team.team} {verdict}" + (f" {days}" if days else "")
