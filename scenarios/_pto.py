"""What the PTO scenarios share: the org from a seed or a file, the run's store, the app on a runtime."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from actors.app import register_pto
from actors.org import Org
from actors.policy import PTO_SERVICE
from cluster import Placement, Runtime, Sharded

from ._common import seconds
from ._run_store import RunStore, add_store_flags

__all__ = ["RUNTIME_PLACEMENTS", "add_org_flags", "as_service", "load_org", "start_app"]

# Placements the runtime chooses, and moves agents from: each populous type in a Sharded(4) of its own, the
# department's agents with none (the runtime's default) — as a user who read only README would register the app.
RUNTIME_PLACEMENTS: dict[str, Placement | None] = {"employee": Sharded(4), "manager": Sharded(4), "team": Sharded(4),
                                                   "hr": None, "dates": None, "notifier": None}


def add_org_flags(parser: argparse.ArgumentParser, employees: int) -> None:
    parser.add_argument("--seed", type=int, default=7, help="fixes the org and the request mix")
    parser.add_argument("--employees", type=int, default=employees, help="size of the generated org")
    parser.add_argument("--org", default=None, help="load the org from this JSON file instead of generating it")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="reference date, YYYY-MM-DD")
    parser.add_argument("--hosts", type=int, default=2, help="host actors in the PTO pool")
    parser.add_argument("--placement", choices=("department", "hash", "runtime"), default="department",
                        help="keep each department's agents on one host, hash every agent to a host, or let the "
                             "runtime place and move them (employee, manager and team each in a Sharded(4) of their "
                             "own, hr, dates and notifier with no placement: the obvious program's placements)")
    parser.add_argument("--idle", type=seconds, default=None, metavar="SECONDS",
                        help="deactivate an employee, manager or team agent after this many seconds without a message "
                             "(default: the runtime's, 300 s with --durable, never in memory, where an agent's state "
                             "would be lost)")
    parser.add_argument("--no-policy", action="store_true",
                        help="leave out the PTO policy: then only the agents' own checks of their senders hold")
    add_store_flags(parser)


def load_org(args: argparse.Namespace) -> Org:
    org = Org.load(args.org) if args.org else Org.generate(seed=args.seed, employees=args.employees)
    return org.model_copy(update={"today": args.today}) if args.today else org


def start_app(rt: Runtime, org: Org, args: argparse.Namespace, store: RunStore) -> None:
    register_pto(rt, org, store.hr, hosts=args.hosts, by_department=args.placement == "department",
                 policy=not args.no_policy, idle_after=args.idle,
                 placements=RUNTIME_PLACEMENTS if args.placement == "runtime" else None)


@contextmanager
def as_service(admin: Runtime) -> Iterator[Runtime]:
    """A second connection to the admin's namespace, as the PTO service (``service/pto``, which the admin
    grants a credential now): the scenarios ask and cancel for employees as it, never as the all-powerful
    admin, whose connection keeps the control plane (registering, inspecting the agents, dead letters)."""
    service = Runtime.connect(namespace=admin.namespace, credential=admin.grant(PTO_SERVICE))
    try:
        yield service
    finally:
        service.shutdown()
