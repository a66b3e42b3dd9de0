"""scenarios/autogen_sample.py runs AutoGen's own samples on a two-node simulated cluster it starts and
stops itself (a subprocess: its Ray is not this session's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("autogen_core")

REPO = Path(__file__).resolve().parent.parent


def sample(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "scenarios.autogen_sample", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_autogen_samples_run_unchanged_on_a_two_node_cluster() -> None:
    done = sample("--nodes", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout + done.stderr
    for name in ("instantiation", "closure", "send", "publish"):
        assert f"sample {name}: ok" in out
    assert "Current AgentID from factory: test_agent/default" in out  # printed by the agent's factory on a host
    assert "MyMessage(content='Hello, world!')" in out  # the closure sample's queue, read in the driver
    # on raybus hosts of a two-node cluster; on which node each ends is the runtime's to choose: agents that talk
    # are moved onto one host (README "Moves"), so a sample's agents may well end on one node
    assert re.search(r"raybus hosts on [12] of 2 node\(s\)", out), "\n".join(
        line for line in done.stdout.splitlines() if line.startswith(("sample ", "all ")))


@pytest.mark.parametrize("args", [["--nodes", "0"], ["--sample", "nope"], ["--nodes", "two"]])
def test_bad_input_is_one_line_and_exit_code_2(args: list[str]) -> None:
    done = sample(*args, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
