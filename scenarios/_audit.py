"""Reading the audit trail of a run's HR databases, for ``scenarios.audit`` and ``scenarios.pto_request``."""

from __future__ import annotations

from pathlib import Path

from actors.audit import DecisionRecord, TeamCover
from actors.hr import hr_db_path
from actors.hr_store import HrStore, UnknownEmployee

from ._common import ScenarioError, print_table

__all__ = ["AuditError", "latest_run", "print_decisions", "read_decisions"]


class AuditError(ScenarioError):
    """What the user asked for is not there; the message names what is missing."""


def latest_run(runs: Path = Path("runs")) -> Path:
    found = [path for path in runs.glob("*") if (path / "hr").is_dir()]
    if not found:
        raise AuditError(f"no run directory with an hr folder under {runs.resolve()}/; pass --run-dir")
    return max(found, key=lambda path: (path / "hr").stat().st_mtime)


def read_decisions(run_dir: Path, employee: str, request_id: str | None = None) -> tuple[Path, list[DecisionRecord]]:
    """The HR database that knows ``employee`` (their department's), and their decisions in it."""
    if not run_dir.is_dir():
        raise AuditError(f"run directory {run_dir} does not exist")
    hr_dir, pattern = run_dir / "hr", hr_db_path("", "*").name  # hr-*.db: one per department
    paths = sorted(hr_dir.glob(pattern))
    if not paths:
        raise AuditError(f"no HR databases ({pattern}) under {hr_dir}")
    for path in paths:
        with HrStore(path) as store:
            try:
                return path, store.decisions(employee=employee, request_id=request_id)
            except UnknownEmployee:
                continue
    raise AuditError(f"unknown employee {employee!r}: in none of {', '.join(p.name for p in paths)} under {hr_dir}")


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
