"""`ray start --head` + `ray job submit`, the way the README says, with token authentication on; a run's data outlive
its job (a second job in the same namespace reads the first one's audit trail)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_head import RAY, start_head

from actors.hr_store import HrStore

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def head_node() -> Iterator[tuple[str, dict[str, str]]]:
    """A head node of our own: its own temp dir, ports, token and home (where its jobs' runs go by default);
    stopped by its own process group."""
    temp_dir = Path(tempfile.mkdtemp(prefix="rbh-", dir="/tmp"))
    env = os.environ | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex,
                        "RAY_USAGE_STATS_ENABLED": "0", "HOME": f"{temp_dir}/home"}
    for name in ("RAY_ADDRESS", "RAYBUS_STORE"):
        env.pop(name, None)
    head = start_head(temp_dir, env, "--include-dashboard=true")
    address = f"http://127.0.0.1:{head.dashboard_port}"
    try:
        deadline = time.monotonic() + 90  # the head has started; its job agent may not have yet
        while subprocess.run([RAY, "job", "list", "--address", address], env=env,
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline or head.process.poll() is not None:
                pytest.fail("the head node's job agent did not come up")
            time.sleep(2)
        yield address, env
    finally:
        head.stop()


def submit(address: str, env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    """``ray job submit``; a head that answers ``job list`` may still be starting its job agent, so retry that."""
    deadline = time.monotonic() + 90
    while True:
        job = subprocess.run([RAY, "job", "submit", "--address", address, "--working-dir", str(REPO), "--", *command],
                             env=env, capture_output=True, text=True, timeout=600)
        if "No available agent" not in job.stderr or time.monotonic() > deadline:
            return job
        time.sleep(2)


def test_a_submitted_load_run_succeeds_with_its_table_and_invariants_in_the_logs(head_node, tmp_path: Path) -> None:
    address, env = head_node
    job = submit(address, env, "python", "-m", "scenarios.pto_load", "--requests", "150", "--employees", "30",
                 "--concurrency", "50", "--run-dir", str(tmp_path / "run"))
    logs = job.stdout + job.stderr
    assert job.returncode == 0, logs[-3000:]
    assert "succeeded" in logs
    assert "completed requests/s" in logs
    assert "VIOLATED" not in logs


def test_a_second_job_in_the_namespace_reads_the_first_ones_audit_trail(head_node) -> None:
    address, env = head_node
    first = submit(address, env, "python", "-m", "scenarios.pto_load", "--requests", "60", "--employees", "20",
                   "--concurrency", "20", "--namespace", "kept", "--durable")
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    run = Path(env["HOME"]) / ".local/share/raybus/runs/kept"  # outside the job's working dir, which is gone
    assert f"run data: SQLite under {run}" in first.stdout
    decided = {}
    for path in sorted((run / "hr").glob("hr-*.db")):
        with HrStore(path) as store:
            decided |= {record.employee: record.request_id for record in store.decisions()}
    employee, request = next(iter(sorted(decided.items())))

    second = submit(address, env, "python", "-m", "scenarios.audit", "--namespace", "kept", "--employee", employee,
                    "--request", request)

    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert f"decisions for employee {employee}" in second.stdout and f" {request} " in second.stdout
