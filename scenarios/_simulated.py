"""A simulated Ray cluster on this machine: a head and one-CPU worker nodes (``ray.cluster_utils.Cluster``),
as pto_chaos, the shard benchmark and the AutoGen samples start it.

With token authentication on (``RAY_AUTH_MODE=token``: Ray 2.60 sets it in any process that started a local
``ray.init()``, and a user who followed README's cluster walk-through has it in the shell), every node needs
the token. ``ray.init()`` makes one when it is missing; ``Cluster`` does not, and its head's GCS then never
starts (Ray says only "Timed out waiting for file .../gcs_server_port"). So a run without a token of its own
gives its nodes one, in the environment they inherit."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import ray
from ray.cluster_utils import Cluster
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

__all__ = ["schedulable", "start_cluster"]


def start_cluster(nodes: int, disks: Path | None = None) -> tuple[Cluster, str | None, dict[str, Path]]:
    """A head and ``nodes - 1`` workers of one CPU each, in a temp dir of our own unless RAY_TMPDIR names one:
    the cluster writes its address there, where any other ``ray.init()`` on this machine would pick it up.
    The head shares the driver's disk (the driver runs there); with ``disks``, each worker's home is a
    directory of its own under it. Returns the cluster, the temp dir to remove afterwards (None if it was not
    ours) and the workers' disks by node id."""
    own_tmp = None if "RAY_TMPDIR" in os.environ else tempfile.mkdtemp(prefix="rbc-", dir="/tmp")
    if own_tmp:
        os.environ["RAY_TMPDIR"] = own_tmp
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    give_a_token_if_needed()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    homes = {}
    for index in range(1, nodes):
        if disks is None:
            cluster.add_node(num_cpus=1)
            continue
        home = disks / f"node-{index}"
        home.mkdir(parents=True, exist_ok=True)
        homes[cluster.add_node(num_cpus=1, env_vars={"HOME": str(home)}).node_id] = home
    return cluster, own_tmp, homes


def schedulable(node_ids: list[str], timeout: float = 120.0) -> None:
    """Once connected: until the head's scheduler can place on each of these nodes. Ray's GCS lists a node that
    joined as alive before the scheduler sees its resources, and the runtime's soft affinity then (rightly)
    puts a host elsewhere, so a run that means to spread over the nodes waits here, with a task pinned to each."""
    pinned = ray.remote(lambda: None)
    ray.get([pinned.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
             .remote() for node_id in node_ids], timeout=timeout)


def give_a_token_if_needed() -> None:
    """Token authentication on: the nodes, their workers and this driver read one token from this process's
    environment. One named there already is theirs; one in ``~/.ray/auth_token`` is named by its path, since a
    node with a disk of its own has a home of its own, without it (its raylet then never started: "The current
    node timed out during startup"); none at all: a fresh one."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return
    if {"RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"} & os.environ.keys():
        return
    in_home = Path.home() / ".ray" / "auth_token"
    if in_home.exists():
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(in_home)
    else:
        os.environ["RAY_AUTH_TOKEN"] = uuid.uuid4().hex
