"""What the PTO scenarios share: the org from a seed or a file, a run directory, the app on a runtime."""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from actors.app import register_pto
from actors.org import Org
from cluster import Runtime

__all__ = ["add_org_flags", "load_org", "run_dir", "start_app"]


def add_org_flags(parser: argparse.ArgumentParser, employees: int) -> None:
    parser.add_argument("--seed", type=int, default=7, help="fixes the org and the request mix")
    parser.add_argument("--employees", type=int, default=employees, help="size of the generated org")
    parser.add_argument("--org", default=None, help="load the org from this JSON file instead of generating it")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="reference date, YYYY-MM-DD")
    parser.add_argument("--hosts", type=int, default=2, help="host actors in the PTO pool")
    parser.add_argument("--placement", choices=("department", "hash"), default="department",
                        help="keep each department's agents on one host, or hash every agent to a host")
    parser.add_argument("--no-policy", action="store_true",
                        help="leave out the PTO policy (who may send what); the agents' own checks stay")
    parser.add_argument("--run-dir", default=None, help="where the HR databases go (default: runs/<name>-<time>)")


def load_org(args: argparse.Namespace) -> Org:
    org = Org.load(args.org) if args.org else Org.generate(seed=args.seed, employees=args.employees)
    return org.model_copy(update={"today": args.today}) if args.today else org


def run_dir(args: argparse.Namespace, name: str) -> Path:
    path = Path(args.run_dir or f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_app(rt: Runtime, org: Org, args: argparse.Namespace, name: str) -> Path:
    path = run_dir(args, name)
    register_pto(rt, org, path / "hr", hosts=args.hosts, by_department=args.placement == "department",
                 policy=not args.no_policy)
    return path
