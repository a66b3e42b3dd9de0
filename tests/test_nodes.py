"""A node joins a running cluster: the hosts that exist stay put, new hosts spread onto the new node, and
every call is answered (on a simulated cluster, in a process of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_hosts_created_after_a_node_joins_spread_onto_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "tests/node_join_probe.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(set(seen["head"])) == 1 and seen["before"] == seen["head"]  # they did not move
    # the new node had none of the 6 hosts: placement gives it 3 of the 4 new ones, evening the nodes at 3 each
    assert seen["after"].count(seen["joined"]) == 3
    assert seen["answered"] == 80 and seen["all_ones_then_twos"]
