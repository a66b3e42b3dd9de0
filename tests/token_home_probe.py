"""Run by tests/test_simulated.py in a process of its own (the test session already has its Ray), with token
authentication on and a token in ``~/.ray/auth_token``: a simulated cluster whose worker node has a disk (and a
home) of its own starts, and runs a task on that node. Prints one JSON line with what it saw."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scenarios._simulated import schedulable, start_cluster


def main() -> None:
    disks = Path(tempfile.mkdtemp(prefix="rb-disks-", dir="/tmp"))
    cluster, own_tmp, homes = start_cluster(2, disks)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        (node,) = homes
        schedulable([node])
        on_node = ray.remote(lambda: ray.get_runtime_context().get_node_id())
        ran_on = ray.get(on_node.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote())
        print(json.dumps({"worker_node": node, "ran_on": ran_on}))
        ray.shutdown()
    finally:
        cluster.shutdown()
        shutil.rmtree(disks, ignore_errors=True)
        if own_tmp:
            shutil.rmtree(own_tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
