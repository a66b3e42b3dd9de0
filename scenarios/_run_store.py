"""Where a PTO run's data go — its HR ledgers, and with ``--durable`` its agents' state — so that they outlive
the run and the Ray job that ran it: never in a job's working directory, which Ray unpacks and deletes.

- ``--store postgresql://...`` (or ``RAYBUS_STORE``): the database every node reaches; the run is its namespace
  (a schema for the agents' state, one per department for the ledgers).
- else a directory (SQLite): ``--run-dir``, or ``<store>/<namespace>`` under ``~/.local/share/raybus/runs`` by
  default, an absolute per-user place. A ``~`` is each node's own home: on a cluster, the disk of the node that
  runs the agents.

Each run is marked with the org it was made from (``run.json`` in a directory, a row in a database); a run made
from another org is refused: its ledgers and agents belong to other people."""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from actors.ledgers import Ledgers
from cluster import describe_location, encode_state, is_postgres, node_path, open_state_store, redacted, state_location

from ._common import ScenarioError

__all__ = ["DEFAULT_STORE", "RUN_MARK", "STORE_ENV", "RunStore", "add_store_flags", "run_store"]

DEFAULT_STORE = "~/.local/share/raybus/runs"
STORE_ENV = "RAYBUS_STORE"
RUN_MARK = "run.json"  # in a run directory: which org the run was made from
_MARK_ROW = "\x1erun"  # the same, as a row of the namespace's state in a database


@dataclass(frozen=True, slots=True)
class RunStore:
    """``hr``: where the ledgers go; ``state``: where agent state goes (None: in memory); ``namespace``: the run."""

    namespace: str
    hr: str
    state: str | None
    shown: str

    @property
    def ledgers(self) -> Ledgers:
        return Ledgers(self.hr, self.namespace)


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None,
                        help="where the run's data go: a postgresql:// URL, or a directory for SQLite files (default: "
                             f"${STORE_ENV}, else {DEFAULT_STORE}); the run is its --namespace")
    parser.add_argument("--run-dir", default=None,
                        help="SQLite: this run's own directory (default: <store>/<namespace>)")
    parser.add_argument("--durable", action="store_true",
                        help="store every agent's state after each message (survives host restarts and the job)")


def run_store(args: argparse.Namespace, prefix: str) -> RunStore:
    """The run's store, decided once (and printed): asked before connecting, so a run that does not fit is
    refused before Ray starts. Sets ``args.namespace`` when none was given."""
    if getattr(args, "run_store", None) is not None:
        return args.run_store
    args.namespace = args.namespace or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    location = state_location(args.store or os.environ.get(STORE_ENV) or DEFAULT_STORE)
    if is_postgres(location):
        if args.run_dir:
            raise ScenarioError(f"--run-dir is for a SQLite store (a directory); in {redacted(location)} the run "
                                "is its --namespace")
        _check_mark_in(location, args)
        store = RunStore(args.namespace, location, location if args.durable else None,
                         f"{describe_location(location)}, namespace {args.namespace}")
    else:
        run = state_location(args.run_dir) if args.run_dir else f"{location}/{args.namespace}"
        _check_mark_at(node_path(run), args)
        store = RunStore(args.namespace, f"{run}/hr", f"{run}/state" if args.durable else None,
                         describe_location(run))
        args.run_dir = str(node_path(run))
    print(f"run data: {store.shown}", flush=True)
    args.run_store = store
    return store


def _made_from(args: argparse.Namespace) -> dict[str, object]:
    if args.org:
        return {"org": str(Path(args.org).resolve())}
    return {"seed": args.seed, "employees": args.employees}


def _differ(found: dict[str, object], made_from: dict[str, object]) -> str:
    return ", ".join(f"{key} {found.get(key)} (not {value})" for key, value in made_from.items()
                     if found.get(key) != value)


def _check_mark_at(path: Path, args: argparse.Namespace) -> None:
    path.mkdir(parents=True, exist_ok=True)
    mark, made_from = path / RUN_MARK, _made_from(args)
    if mark.is_file():
        found = json.loads(mark.read_text())
        if found != made_from:
            raise ScenarioError(f"run directory {path} was made from another org: {_differ(found, made_from)}; "
                                "give a new --run-dir")
    elif (path / "hr").exists() or (path / "state").exists():
        raise ScenarioError(f"run directory {path} holds a run with no {RUN_MARK} saying which org it was made "
                            "from; give a new --run-dir")
    else:
        mark.write_text(json.dumps(made_from))


def _check_mark_in(url: str, args: argparse.Namespace) -> None:
    store, made_from = open_state_store(url, args.namespace), _made_from(args)
    try:
        found = (store.load(_MARK_ROW) or {}).get("made_from")
        if found is None:
            store.save_many({_MARK_ROW: {"made_from": encode_state(made_from)}})
        elif found != made_from:
            raise ScenarioError(f"namespace {args.namespace} in {redacted(url)} was made from another org: "
                                f"{_differ(found, made_from)}; give a new --namespace")
    finally:
        store.close()
