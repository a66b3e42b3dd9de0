"""`ray start --head` + `ray job submit`, the way the README says, with token authentication on."""

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

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def head_node() -> Iterator[tuple[str, dict[str, str]]]:
    """A head node of our own: its own temp dir, ports and token; stopped by its own process group."""
    temp_dir = Path(tempfile.mkdtemp(prefix="rbh-", dir="/tmp"))
    env = os.environ | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex,
                        "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
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
