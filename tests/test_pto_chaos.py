"""`python -m scenarios.pto_chaos` end to end, each run required to pass: one with no kills; hosts, the busiest
host and the bus killed mid-run; a node lost with the run's data in PostgreSQL — all judged by the same verdict
(one attempt per request, cancellations mixed in, every host restarted at the end and the state checked from the
store). What a node lost with the run's data in SQLite on its own disk took is said by the run
(test_node_disks.py, test_chaos_report.py); a SQLite run directory every simulated node would share is refused.

Each run is a subprocess with a Ray of its own (the session's Ray fixture is not used): a fresh local instance
(`--address local`) or the scenario's own simulated cluster, in a temp dir of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run_chaos(tmp_path: Path, *flags: str) -> tuple[dict[str, Any], str]:
    """Run the scenario; its figures (from --json) and its output, which every failed assertion shows. Its home
    (where a SQLite run goes by default) is the test's own."""
    # under /tmp and short, not under tmp_path: Ray's socket paths must stay within 107 bytes
    ray_tmp = tempfile.mkdtemp(prefix="rbt-", dir="/tmp")
    # token authentication on, as Ray 2.60 has it for a local cluster, with no token yet in the fresh home: the
    # scenario's nodes must get one (a pytest worker that started a local Ray has RAY_AUTH_MODE=token anyway)
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": ray_tmp, "HOME": str(tmp_path / "home"),
                        "RAY_AUTH_MODE": "token"}
    for name in ("RAY_ADDRESS", "RAYBUS_STORE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):  # never another Ray's
        env.pop(name, None)
    figures = tmp_path / "figures.json"
    command = [sys.executable, "-m", "scenarios.pto_chaos", "--employees", "40", *flags, "--json", str(figures)]
    # a session of its own: if the run hangs, its whole process group (its Ray too) is stopped, nothing else
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        stdout, stderr = child.communicate()
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    output = f"exit code {child.returncode}\n--- stdout\n{stdout[-6000:]}\n--- stderr\n{stderr[-4000:]}"
    assert figures.exists(), output
    return json.loads(figures.read_text()), output


def passed(figures: dict[str, Any], output: str) -> None:
    """The verdict is PASSED, and the run really did what a verdict rests on."""
    assert "exit code 0" in output and figures["verdict"] == [], output
    assert figures["store_checked"] and figures["retries"] == 0 and figures["lost"] == 0, output
    assert figures["invariants"] and all(r["ok"] for r in figures["invariants"]), output


def test_a_run_without_kills_passes_strictly(tmp_path: Path) -> None:
    figures, output = run_chaos(tmp_path, "--requests", "150", "--kills", "0", "--seed", "7", "--address", "local",
                                "--run-dir", str(tmp_path / "run"))
    passed(figures, output)
    assert figures["answered"] == 150 and figures["cancels"]["sent"] > 0, output
    assert sum(figures["kills"].values()) == 0, output


def test_kills_of_a_host_the_busiest_host_and_the_bus_are_survived_with_nothing_lost(tmp_path: Path) -> None:
    figures, output = run_chaos(tmp_path, "--requests", "200", "--kills", "3", "--seed", "7", "--address", "local",
                                "--run-dir", str(tmp_path / "run"))
    passed(figures, output)
    assert figures["kills_survived"] == {"hosts": 1, "busiest": 1, "bus_shards": 1, "nodes": 0}, output


def test_a_lost_worker_node_is_survived_with_the_state_in_postgresql(tmp_path: Path, postgres_url: str) -> None:
    figures, output = run_chaos(tmp_path, "--requests", "200", "--kills", "1", "--nodes", "2", "--seed", "7",
                                "--store", postgres_url)
    passed(figures, output)
    assert figures["kills_survived"]["nodes"] == 1 and list(figures["disks_lost"].values()) == [[]], output


def test_a_sqlite_run_dir_shared_by_simulated_nodes_is_refused(tmp_path: Path) -> None:
    child = subprocess.run([sys.executable, "-m", "scenarios.pto_chaos", "--nodes", "2", "--run-dir",
                            str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert child.returncode == 2 and "disks of their own" in child.stderr, child.stderr


def test_kills_amid_the_runtimes_own_moves_and_stopped_hosts_are_survived_with_nothing_lost(tmp_path: Path) -> None:
    figures, output = run_chaos(tmp_path, "--requests", "400", "--kills", "3", "--seed", "7", "--address", "local",
                                "--placement", "runtime", "--run-dir", str(tmp_path / "run"))
    passed(figures, output)
    assert figures["kills_survived"] == {"hosts": 1, "busiest": 1, "bus_shards": 1, "nodes": 0}, output
    assert figures["counters"].get("bus.moves", 0) > 0, output  # the runtime did move agents amid the kills
