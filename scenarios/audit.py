"""The audit trail of one employee's time-off decisions, read straight from a run's HR ledgers.

    python -m scenarios.audit --employee ID [--request RID] [--json]
                              [--run-dir DIR | [--store URL|DIR] --namespace NS]

The run: a run directory; or a run (its namespace) in a store, a postgresql:// database or a directory (default:
$RAYBUS_STORE, else ~/.local/share/raybus/runs); without either, the latest run of the directory. Each manager
decision shows when hr recorded it, who decided (the agent the runtime named as sender), the outcome, and each
team's cover on each requested day: members already off / most allowed off.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._audit import AuditError, ledgers_of, print_decisions, read_decisions
from ._common import guarded


@guarded
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employee", required=True, help="employee id")
    parser.add_argument("--request", default=None, help="only this request id")
    parser.add_argument("--run-dir", type=Path, default=None, help="a run directory (SQLite)")
    parser.add_argument("--store", default=None, help="a postgresql:// URL, or a directory of run directories")
    parser.add_argument("--namespace", default=None, help="the run, in that store (default: the latest run there)")
    parser.add_argument("--json", action="store_true", help="print the records as JSON instead of a table")
    args = parser.parse_args(argv)
    path, records = read_decisions(ledgers_of(args.run_dir, args.store, args.namespace), args.employee, args.request)
    if args.request and not records:  # refused by dates or hr before review, or never asked
        raise AuditError(f"no manager decision for request {args.request!r} of employee {args.employee!r} in {path}")
    if args.json:
        print(json.dumps([record.model_dump(mode="json") for record in records], indent=2))
    elif records:
        print_decisions(f"decisions for employee {args.employee} ({path})", records)
    else:
        print(f"no manager decisions for employee {args.employee} in {path}")


if __name__ == "__main__":
    main()
