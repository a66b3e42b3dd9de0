"""What the PTO scenarios share: the org from a seed or a file, a run directory, the app on a runtime."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from actors.app import register_pto
from actors.org import Org
from actors.policy import PTO_SERVICE
from cluster import Runtime

from ._common import ScenarioError

__all__ = ["RUN_MARK", "add_org_flags", "as_service", "load_org", "run_dir", "start_app", "state_dir"]

RUN_MARK = "run.json"  # in a run directory: which org the run was made from


def add_org_flags(parser: argparse.ArgumentParser, employees: int) -> None:
    parser.add_argument("--seed", type=int, default=7, help="fixes the org and the request mix")
    parser.add_argument("--employees", type=int, default=employees, help="size of the generated org")
    parser.add_argument("--org", default=None, help="load the org from this JSON file instead of generating it")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="reference date, YYYY-MM-DD")
    parser.add_argument("--hosts", type=int, default=2, help="host actors in the PTO pool")
    parser.add_argument("--placement", choices=("department", "hash"), default="department",
                        help="keep each department's agents on one host, or hash every agent to a host")
    parser.add_argument("--no-policy", action="store_true",
                        help="leave out the PTO policy: then only the agents' own checks of their senders hold")
    parser.add_argument("--durable", action="store_true",
                        help="store every agent's state in SQLite after each message (survives host restarts)")
    parser.add_argument("--run-dir", default=None, help="where the HR databases go (default: runs/<name>-<time>)")


def load_org(args: argparse.Namespace) -> Org:
    org = Org.load(args.org) if args.org else Org.generate(seed=args.seed, employees=args.employees)
    return org.model_copy(update={"today": args.today}) if args.today else org


def run_dir(args: argparse.Namespace, name: str) -> Path:
    """The run's directory, marked with the org it was made from; one made from another org (another seed,
    size or file) is refused: its HR databases and agent state belong to other people."""
    path = Path(args.run_dir or f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    path.mkdir(parents=True, exist_ok=True)
    mark, made_from = path / RUN_MARK, _org_identity(args)
    if mark.is_file():
        found = json.loads(mark.read_text())
        if found != made_from:
            differ = ", ".join(f"{key} {found.get(key)} (not {value})" for key, value in made_from.items()
                               if found.get(key) != value)
            raise ScenarioError(f"run directory {path} was made from another org: {differ}; "
                                "give a new --run-dir")
    elif (path / "hr").exists() or (path / "state").exists():
        raise ScenarioError(f"run directory {path} holds a run with no {RUN_MARK} saying which org it was made "
                            "from; give a new --run-dir")
    else:
        mark.write_text(json.dumps(made_from))
    args.run_dir = str(path)  # one run, one directory, however often it is asked for
    return path


def _org_identity(args: argparse.Namespace) -> dict[str, object]:
    if args.org:
        return {"org": str(Path(args.org).resolve())}
    return {"seed": args.seed, "employees": args.employees}


def state_dir(args: argparse.Namespace, name: str) -> str | None:
    """Where agent state is kept with ``--durable`` (the run's ``state/``); None keeps it in memory. Asked
    before connecting, so a run directory that does not fit is refused before Ray starts."""
    path = run_dir(args, name)
    return str(path / "state") if args.durable else None


def start_app(rt: Runtime, org: Org, args: argparse.Namespace, name: str) -> Path:
    path = run_dir(args, name)
    register_pto(rt, org, path / "hr", hosts=args.hosts, by_department=args.placement == "department",
                 policy=not args.no_policy)
    return path


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
