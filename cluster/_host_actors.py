"""HostActors: the Ray actors behind a namespace's hosts — started by name on first use (every bus shard shares
them), detached, restarted by Ray when they die, spread over the nodes, and stopped when the runtime retires
one."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ._errors import RaybusError
from ._host import Host
from .constants import host_actor_name

__all__ = ["HostActors"]


class HostActors:
    def __init__(self, namespace: str, state: str | None, window: int, shards: int, counts: Counter[str]) -> None:
        self.namespace = namespace
        self.state = state  # where the hosts keep their agents' state (a directory or a database URL)
        self.window = window
        self.shards = shards
        self.counts = counts
        self.hosts: dict[str, Any] = {}  # endpoint → its actor's handle
        self.nodes: dict[str, str] = {}  # endpoint → the node it said it runs on

    def get(self, endpoint: str) -> Any:
        """The host's actor, started now if this shard has not met it (``get_if_exists``: another may have)."""
        host = self.hosts.get(endpoint)
        if host is None:
            host = self.hosts[endpoint] = (
                ray.remote(Host)
                .options(
                    name=host_actor_name(endpoint), namespace=self.namespace, lifetime="detached",
                    get_if_exists=True, max_concurrency=100_000, num_cpus=0, memory=1, max_restarts=-1,
                    scheduling_strategy=self._placement(endpoint),
                )
                .remote(endpoint, self.namespace, self.state, self.window, self.shards)
            )
            self.counts["hosts_started"] += 1
        return host

    async def ask_all(self, method: str, *args: Any) -> dict[str, Any]:
        """Every host's answer to ``method``, by endpoint; a host that failed to answer (restarting, say) gives
        the exception instead. The hosts known when asked: one may retire meanwhile."""
        hosts = dict(self.hosts)
        found = await asyncio.gather(*(getattr(host, method).remote(*args) for host in hosts.values()),
                                     return_exceptions=True)
        return dict(zip(hosts, found, strict=True))

    async def ask_each(self, method: str, *args: Any) -> list[Any]:
        """Every host's answer to ``method``, or the first failure raised: a partial answer would pass for a whole."""
        found = await asyncio.gather(*(getattr(host, method).remote(*args) for host in list(self.hosts.values())))
        return list(found)

    def _placement(self, endpoint: str) -> Any:
        """Soft affinity to the live node with the fewest of our hosts, so hosts spread over the nodes there
        are when they are created (Ray's SPREAD left whole pools on one node) and one node's loss takes few;
        soft, so a host whose node is gone restarts on another. The host asks for one byte of memory: Ray's
        raylets did not reliably honour a soft affinity of an actor that asks for no resource at all (with
        ``num_cpus=0`` alone, three actors meant for a node that had just joined all landed there in 4 of 16
        tries, none of them in 4; with the byte, all three in 10 of 10, 2026-12-06)."""
        alive = sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])
        if len(alive) < 2:
            return "DEFAULT"
        hosts_on = Counter(self.nodes.values())
        node = min(alive, key=lambda candidate: hosts_on[candidate])
        self.nodes[endpoint] = node  # until the host says where it runs
        return NodeAffinitySchedulingStrategy(node, soft=True)

    async def stop(self, endpoint: str) -> None:
        """End the host's actor for good, once its name is free again (a host started after is a new one)."""
        name = host_actor_name(endpoint)
        ray.kill(self.hosts.pop(endpoint), no_restart=True)
        self.nodes.pop(endpoint, None)
        self.counts["hosts_retired"] += 1  # counted as it leaves the host map: stats() sees both at once
        for _ in range(200):  # until Ray frees the name a new host would be the old one; it takes milliseconds
            try:
                await asyncio.to_thread(ray.get_actor, name, self.namespace)
            except ValueError:
                return
            await asyncio.sleep(0.05)
        raise RaybusError(f"{name} still has its name 10s after it was stopped")

    def destroy(self) -> None:
        for host in self.hosts.values():
            ray.kill(host, no_restart=True)
        self.hosts.clear()
