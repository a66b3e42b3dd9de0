"""Where a PTO run's data go (scenarios/_run_store.py): never a job's working directory; a run in a database is
its namespace, marked with the org it was made from. No Ray here: the store is decided before Ray starts."""

from __future__ import annotations

import argparse
from pathlib import Path
from uuid import uuid4

import pytest

from scenarios._common import ScenarioError
from scenarios._pto import add_org_flags
from scenarios._run_store import run_store


def args_of(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_org_flags(parser, employees=20)
    parser.add_argument("--namespace", default=None)
    return parser.parse_args(list(flags))


def test_by_default_a_run_goes_under_the_users_home_not_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAYBUS_STORE", raising=False)
    monkeypatch.chdir(tmp_path)

    store = run_store(args_of("--durable", "--namespace", "n1"), "pto-load")

    run = tmp_path / "home/.local/share/raybus/runs/n1"
    assert (store.hr, store.state) == ("~/.local/share/raybus/runs/n1/hr", "~/.local/share/raybus/runs/n1/state")
    assert (run / "run.json").is_file() and not (tmp_path / "runs").exists()
    assert capsys.readouterr().out == f"run data: SQLite under {run} (on each node: ~/.local/share/raybus/runs/n1)\n"


def test_a_run_in_a_database_is_its_namespace_and_keeps_the_org_it_was_made_from(postgres_url: str) -> None:
    namespace = f"r{uuid4().hex[:8]}"
    store = run_store(args_of("--store", postgres_url, "--namespace", namespace, "--durable"), "pto-load")
    assert (store.hr, store.state, store.namespace) == (postgres_url, postgres_url, namespace)
    assert run_store(args_of("--store", postgres_url, "--namespace", namespace), "pto-load").state is None

    with pytest.raises(ScenarioError, match=f"namespace {namespace} in .* was made from another org: seed 7 "
                                            r"\(not 11\); give a new --namespace"):
        run_store(args_of("--store", postgres_url, "--namespace", namespace, "--seed", "11"), "pto-load")


def test_a_run_directory_does_not_go_with_a_database(postgres_url: str) -> None:
    with pytest.raises(ScenarioError, match="--run-dir is for a SQLite store"):
        run_store(args_of("--store", postgres_url, "--run-dir", "/tmp/somewhere"), "pto-load")
