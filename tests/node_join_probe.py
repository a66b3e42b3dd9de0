"""Run by tests/test_nodes.py in a process of its own (the test session already has its Ray): a simulated
cluster gains a node; hosts created before stay where they are, hosts created after spread onto it.
Prints one JSON line with what it saw."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sample_agents, as the Ray workers import it

import sample_agents as sa

from cluster import AgentId, Runtime, Sharded
from scenarios._simulated import schedulable, start_cluster


def add_to(rt: Runtime, agent_type: str, n: int) -> list[int]:
    async def add_all() -> list[int]:
        calls = [rt.send(AgentId(agent_type, f"k{i}"), sa.Add(amount=1), timeout=60.0) for i in range(n)]
        return [total.value for total in await asyncio.gather(*calls)]

    return asyncio.run(add_all())


def nodes_of(rt: Runtime, pool: str) -> list[str]:
    """The node of each of the pool's hosts, sorted."""
    return sorted(figures["node"] for endpoint, figures in rt.stats()["hosts"].items() if endpoint.startswith(pool))


def main() -> None:
    cluster, own_tmp, _ = start_cluster(1)
    try:
        rt = Runtime.connect(namespace="join", address=cluster.address, log_to_driver=False,
                             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parent)}})
        rt.register("before", sa.Counter, placement=Sharded(2))
        answered = add_to(rt, "before", 20)
        head = nodes_of(rt, "pool:before")
        joined = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        schedulable([joined.node_id])
        rt.register("after", sa.Counter, placement=Sharded(4))
        answered += add_to(rt, "after", 40) + add_to(rt, "before", 20)
        print(json.dumps({"head": head, "joined": joined.node_id, "before": nodes_of(rt, "pool:before"),
                          "after": nodes_of(rt, "pool:after"), "answered": len(answered),
                          "all_ones_then_twos": sorted(set(answered)) == [1, 2]}))
        rt.shutdown(destroy=True)
    finally:
        cluster.shutdown()
        if own_tmp:
            shutil.rmtree(own_tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
