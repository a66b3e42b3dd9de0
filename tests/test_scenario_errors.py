"""Scenarios given what they cannot use say so in one line on stderr and exit 2, not with a traceback: an
unknown employee, a bad org file, a run directory made from another org, a credential the namespace does not
know. Each is a subprocess run that stops before any Ray starts (the credential's joins the tests' Ray)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from actors.org import Org, OrgError, UnknownEmployee
from cluster import NotAuthorized
from scenarios._common import ScenarioError, guarded

REPO = Path(__file__).resolve().parent.parent


def scenario(name: str, *flags: str, tmp_path: Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": str(tmp_path)} | env_vars
    env.pop("RAY_ADDRESS", None)  # never join another Ray (none should start, but where --address says)
    return subprocess.run([sys.executable, "-m", f"scenarios.{name}", *flags], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


RAY_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+(INFO|WARNING) ")  # Ray's own, joining a cluster


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The refusal: exit code 2 and exactly one line on stderr (besides Ray's log of joining), no traceback."""
    lines = [line for line in done.stderr.strip().splitlines() if not RAY_LOG.match(line)]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def org_data() -> dict:
    return Org.generate(7, employees=20).model_dump(mode="json")


def org_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "org.json"
    path.write_text(json.dumps(data))
    return path


def test_pto_request_names_an_unknown_employee(tmp_path: Path) -> None:
    line = one_line(scenario("pto_request", "--employee", "nobody-9", "--run-dir", str(tmp_path / "run"),
                             tmp_path=tmp_path))

    assert line == "pto_request: unknown employee 'nobody-9'"


def test_audit_names_an_unknown_employee(tmp_path: Path) -> None:
    (tmp_path / "run" / "hr").mkdir(parents=True)

    line = one_line(scenario("audit", "--employee", "nobody-9", "--run-dir", str(tmp_path / "run"),
                             tmp_path=tmp_path))

    assert line.startswith("audit: no HR databases")


def test_pto_load_names_a_missing_org_file(tmp_path: Path) -> None:
    line = one_line(scenario("pto_load", "--org", str(tmp_path / "missing.json"), tmp_path=tmp_path))

    assert line.startswith("pto_load: cannot read org file") and "missing.json" in line


def test_pto_load_names_a_team_listing_a_member_twice(tmp_path: Path, org_data: dict) -> None:
    data = json.loads(json.dumps(org_data))
    team = data["teams"]["t0"]
    team["members"].append(team["members"][0])

    line = one_line(scenario("pto_load", "--org", str(org_file(tmp_path, data)), "--run-dir", str(tmp_path / "r"),
                             tmp_path=tmp_path))

    assert line.startswith("pto_load: org file ") and f"team t0: lists member {team['members'][0]!r} more" in line


def test_pto_chaos_names_an_unknown_country(tmp_path: Path, org_data: dict) -> None:
    line = one_line(scenario("pto_chaos", "--org", str(org_file(tmp_path, org_data | {"country": "ZZ"})),
                             "--run-dir", str(tmp_path / "r"), tmp_path=tmp_path))

    assert line.startswith("pto_chaos: org file ") and "unknown country 'ZZ'" in line


def test_pto_request_puts_a_pydantic_complaint_on_one_line(tmp_path: Path, org_data: dict) -> None:
    line = one_line(scenario("pto_request", "--org", str(org_file(tmp_path, org_data | {"today": "soon"})),
                             tmp_path=tmp_path))

    assert line.startswith("pto_request: org file ") and "today" in line


def test_pto_request_names_the_namespace_that_does_not_know_its_credential(tmp_path: Path, ray_session: Any) -> None:
    address, namespace = ray_session.get_runtime_context().gcs_address, f"cred{os.getpid()}"
    line = one_line(scenario("pto_request", "--address", address, "--namespace", namespace, "--run-dir",
                             str(tmp_path / "run"), tmp_path=tmp_path, RAYBUS_CREDENTIAL="not-a-credential"))

    assert line == (f"pto_request: namespace '{namespace}' does not know this credential (never granted here, "
                    "or revoked)")


@pytest.mark.parametrize("name", ["pto_load", "pto_chaos", "pto_request", "pto_serve"])
def test_a_run_directory_from_another_seed_is_refused(tmp_path: Path, name: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"seed": 7, "employees": 40}))

    line = one_line(scenario(name, "--seed", "11", "--employees", "40", "--run-dir", str(run), tmp_path=tmp_path))

    assert line == (f"{name}: run directory {run} was made from another org: seed 7 (not 11); "
                    "give a new --run-dir")


# --- the helper itself ----------------------------------------------------------------------------
@pytest.mark.parametrize("error", [ScenarioError("no such thing"), OrgError("no such\n  thing"),
                                   UnknownEmployee("x"), NotAuthorized("anonymous may not register")])
def test_guarded_turns_the_projects_errors_into_one_line_and_exit_2(
        error: Exception, capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: list[str] | None = None) -> int:
        raise error

    with pytest.raises(SystemExit) as exit_:
        guarded(main)([])

    assert exit_.value.code == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and said.startswith("test_scenario_errors: ")


def test_guarded_leaves_a_bug_a_traceback() -> None:
    def main(argv: list[str] | None = None) -> int:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        guarded(main)([])


def test_guarded_passes_the_exit_code_through() -> None:
    assert guarded(lambda argv=None: 1)([]) == 1


def test_pto_obvious_names_an_unknown_run_and_the_runs_it_knows(tmp_path: Path) -> None:
    line = one_line(scenario("pto_obvious", "--runs", "ceiling,fastest", "--run-dir", str(tmp_path / "run"),
                             tmp_path=tmp_path))

    assert line == "pto_obvious: --runs 'ceiling,fastest': choose among ceiling, autogen, obvious, tuned"
