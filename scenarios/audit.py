"""The audit trail of one employee's time-off decisions, read straight from a run's HR databases.

    python -m scenarios.audit --employee ID [--request RID] [--run-dir DIR] [--json]

Without --run-dir, the most recent runs/* directory that has an hr folder. Each manager decision shows
when hr recorded it, who decided (the agent the runtime named as sender), the outcome, and each team's
cover on each requested day: members already off / most allowed off.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from actors.audit import DecisionRecord, TeamCover
from actors.hr import hr_db_path
from actors.hr_store import HrStore, UnknownEmployee

from ._common import print_table

__all__ = ["AuditError", "latest_run", "print_decisions", "read_decisions"]


class AuditError(Exception):
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employee", required=True, help="employee id")
    parser.add_argument("--request", default=None, help="only this request id")
    parser.add_argument("--run-dir", type=Path, default=None, help="a run directory (default: the latest in runs/)")
    parser.add_argument("--json", action="store_true", help="print the records as JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        run_dir = args.run_dir or latest_run()
        path, records = read_decisions(run_dir, args.employee, args.request)
        if args.request and not records:  # refused by dates or hr before review, or never asked
            raise AuditError(f"no manager decision for request {args.request!r} of employee {args.employee!r} "
                             f"in {path}")
    except AuditError as error:
        sys.exit(f"audit: {error}")
    if args.json:
        print(json.dumps([record.model_dump(mode="json") for record in records], indent=2))
    elif records:
        print_decisions(f"decisions for employee {args.employee} ({path})", records)
    else:
        print(f"no manager decisions for employee {args.employee} in {path}")


if __name__ == "__main__":
    main()
