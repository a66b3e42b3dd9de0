"""The chaos of ``pto_chaos``: kills of hosts, of the busiest host and of
bus shards, and a node loss, at seeded moments, one at a time, each waited back; a simulated cluster of
one-CPU nodes, each worker with a disk of its own that it takes with it when it is lost (``_node_disks``);
counters summed across the restarts they cause; waiting for the runtime to settle; and restarting every host
at the end, so the state is read back from the store.

Actors are found by the names the runtime documents (README, docs/architecture.md): the bus shards
``raybus.bus``, ``raybus.bus.1``, ... and the hosts ``raybus.host.<endpoint>``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import ray
import ray._private.state as ray_state  # the GCS actor table: restarts and node of an actor, no dashboard needed
from ray.cluster_utils import Cluster

from cluster import NotSettled, Runtime
from cluster.constants import BUS_NAME, HOST_PREFIX, bus_name, host_actor_name

from ._common import ScenarioError
from ._load import ResourceWatch
from ._node_disks import lose_disk

__all__ = ["KINDS", "Chaos", "ChaosWatch", "came_back", "restart_hosts", "settled"]

COUNTED = {"redeliveries", "duplicates_dropped", "answers_replayed", "dead_letters", "resent_after_bus_restart",
           "host_unreachable", "bus_unreachable", "given_up", "kept_never_sent", "kept_sent_again", "fenced",
           "deactivations", "deactivations_called_off",  # with --idle: agents gone idle, and back, amid the kills
           "moves", "hosts_retired", "sent_where_moved",  # with --placement runtime: agents moved, hosts stopped
           "direct_calls", "direct_through_bus", "direct_unreachable",  # calls host to host, and those that were not
           "not_here", "table_behind_the_bus",  # messages for an agent a host's table said had left it
           "moves_refused", "moves_heard_again", "moves_under_way_after_restart", "relearn_unanswered"}  # restarts
KINDS = ("hosts", "busiest", "bus_shards")  # what --kills takes in turn (a seeded order); "nodes" with --nodes


class Gated(Protocol):
    """The driver as the chaos sees it: how many requests it has started, and gates to hold the next ones."""

    started: int
    gates: list[tuple[int, asyncio.Event]]


class ChaosWatch(ResourceWatch):
    """Rides out a restarting bus, and sums counters across restarts: an actor's counters start again from 0
    in its new process (a new pid), so what the new process counted is added whole."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self.latest: dict[str, Any] = {"bus": {}, "hosts": {}}
        self.seen: dict[tuple[str, str], tuple[Any, int]] = {}  # (actor, counter) → (pid, last value)
        self.totals: Counter[str] = Counter()

    def sample(self) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while True:
            try:
                self.latest = stats = super().sample()
                break
            except Exception:  # the bus (or a host it asks) is restarting; it comes back
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        shards = stats.get("shards") or [stats["bus"]]  # each bus shard is a process of its own
        for actor, figures in [*((bus_name(i), shard) for i, shard in enumerate(shards)), *stats["hosts"].items()]:
            side = "bus" if actor.startswith(BUS_NAME) else "hosts"
            for name, value in figures.items():
                if name in COUNTED or name.startswith(("failed_", "dead_letters_")):
                    pid, last = self.seen.get((actor, name), (figures.get("pid"), 0))
                    restarted = pid != figures.get("pid") or value < last
                    self.totals[f"{side}.{name}"] += value if restarted else value - last
                    self.seen[(actor, name)] = (figures.get("pid"), value)
        return stats


def actor_info(handle: Any) -> dict[str, Any]:
    return ray_state.actors(handle._actor_id.hex())


def wait_back(name: str, handle: Any, before: int, timeout: float = 180.0) -> float | str:
    """Seconds until the actor has restarted and answers a cheap call, or why it did not come back."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        info = actor_info(handle)
        if info.get("State") == "DEAD":  # Ray gave up on it: waiting longer would only hang the run
            cause = str(info.get("DeathCause", ""))  # Ray's text: its first line here, all of it in the JSON
            first = next(iter(re.findall(r"\w+(?:Error|Exception): [^\\\n\"]{0,300}", cause)), "")
            return f"DEAD: {first}\n{cause[:4000]}"
        if info.get("State") == "ALIVE" and info.get("NumRestarts", 0) > before:
            try:
                ray.get(handle.tracking.remote([]) if name.startswith(BUS_NAME) else handle.agents.remote(),
                        timeout=10)
                return time.monotonic() - start
            except Exception:  # still starting up: try again
                pass
        time.sleep(0.2)
    return f"not back within {timeout:.0f}s"


class Chaos:
    """Kills (and with a cluster, one node loss) at seeded request counts between 5% and 90% of the run, one
    at a time: the next waits until every victim of the last is back. Stops at one that does not come back.
    The kills take hosts, the busiest host (the one that handled the most) and bus shards in turn, in a
    seeded order."""

    def __init__(self, rt: Runtime, args: argparse.Namespace, watch: ChaosWatch, cluster: Cluster | None,
                 disks: dict[str, Path] | None = None) -> None:
        self.rt, self.watch, self.cluster = rt, watch, cluster
        self.disks = disks or {}  # worker node id → its disk
        self.rng = random.Random(f"chaos-{args.seed}")
        kinds = [KINDS[i % len(KINDS)] for i in range(args.kills)] + (["nodes"] if cluster else [])
        spots = self.rng.sample(range(max(1, args.requests // 20), max(2, args.requests * 9 // 10)), len(kinds))
        self.rng.shuffle(kinds)
        self.moments = [(at, kind, asyncio.Event()) for at, kind in zip(sorted(spots), kinds, strict=True)]
        self.log: list[dict[str, Any]] = []
        self.disks_lost: dict[str, list[str]] = {}  # lost node id → what the run had on its disk

    async def run(self, driver: Gated) -> None:
        driver.gates = [(at, gate) for at, _, gate in self.moments]
        try:
            for at, kind, gate in self.moments:
                while driver.started < at:
                    await asyncio.sleep(0.05)
                victims, blow = await asyncio.to_thread(self.aim, kind)
                self.log.append({"kind": kind, "at_request": at, **await self.strike(victims, blow, gate)})
                if not self.log[-1]["survived"]:
                    return
        finally:  # a killer that failed must not leave the driver waiting at a gate forever
            for _, _, gate in self.moments:
                gate.set()

    def aim(self, kind: str, timeout: float = 120.0) -> tuple[dict[str, Any], Any]:
        # the victims' counters so far: what a process counts after its last sample dies with it
        deadline = time.monotonic() + timeout
        while True:  # the requests started may not have reached any host yet: a host kill waits for one
            stats = self.watch.sample()
            actors = our_actors(self.rt, stats)
            hosts = {host_actor_name(endpoint): figures for endpoint, figures in sorted(stats["hosts"].items())
                     if host_actor_name(endpoint) in actors}
            if hosts or kind not in ("hosts", "busiest"):
                break
            if time.monotonic() > deadline:
                raise ScenarioError(f"no host to kill ({kind}) within {timeout:.0f}s of the moment")
            time.sleep(0.2)
        if kind in KINDS:
            if kind == "bus_shards":
                name = self.rng.choice([n for n in actors if n.startswith(BUS_NAME)])
            elif kind == "busiest":
                name = max(hosts, key=lambda n: hosts[n].get("handled", 0))
            else:
                name = self.rng.choice(sorted(hosts))
            return {name: actors[name]}, partial(ray.kill, actors[name], no_restart=False)
        # the worker node that runs most of our actors (Ray places them at random): an empty one proves little
        where = {name: actor_info(handle)["Address"]["NodeID"] for name, handle in actors.items()}
        node = max(sorted(self.cluster.worker_nodes, key=lambda n: n.node_id),
                   key=lambda n: sum(at == n.node_id for at in where.values()))
        return {name: actors[name] for name, at in where.items() if at == node.node_id}, \
            partial(self.lose_node, node)

    def lose_node(self, node: Any) -> None:
        """The node goes, and its disk with it: what the run had there is logged first."""
        self.cluster.remove_node(node)
        self.disks_lost[node.node_id] = lose_disk(self.disks[node.node_id]) if node.node_id in self.disks else []

    async def strike(self, victims: dict[str, Any], blow: Any, gate: asyncio.Event) -> dict[str, Any]:
        before = {name: (await asyncio.to_thread(actor_info, h)).get("NumRestarts", 0) for name, h in victims.items()}
        gate.set()  # the requests held at this moment go now, into the blow
        await asyncio.to_thread(blow)
        back = await asyncio.to_thread(all_back, victims, before, self.watch)
        return {"actors": sorted(victims), "back_after_s": back, "survived": came_back(back)}


RETIRED = "stopped by the runtime (idle), not restarted"


def all_back(victims: dict[str, Any], before: dict[str, int], watch: ChaosWatch) -> dict[str, float | str]:
    """By killed actor: the seconds until it answered again, why it did not, or ``RETIRED``: a host that died of
    ``ray.kill`` without a restart and that the bus no longer lists was stopped by the runtime as idle
    (``--placement runtime``) at the moment it was killed; its next message starts it anew."""
    back = {name: wait_back(name, handle, before[name]) for name, handle in victims.items()}
    if all(isinstance(v, float) for v in back.values()):
        return back
    hosts = {host_actor_name(endpoint) for endpoint in watch.sample()["hosts"]}
    return {name: RETIRED if isinstance(v, str) and "RAY_KILL" in v and name.startswith(HOST_PREFIX)
            and name not in hosts else v for name, v in back.items()}


def came_back(back: dict[str, float | str]) -> bool:
    return all(isinstance(v, float) or v == RETIRED for v in back.values())


def our_actors(rt: Runtime, stats: dict[str, Any]) -> dict[str, Any]:
    """Every bus shard and host of the namespace, by actor name (not a host the runtime stopped meanwhile: with
    ``--placement runtime`` it stops hosts that moves left idle)."""
    names = [bus_name(i) for i in range(len(stats.get("shards") or [stats["bus"]]))]
    names += [host_actor_name(endpoint) for endpoint in sorted(stats["hosts"])]
    actors = {}
    for name in names:
        with contextlib.suppress(ValueError):
            actors[name] = ray.get_actor(name, namespace=rt.namespace)
    return actors


def restart_hosts(rt: Runtime, watch: ChaosWatch) -> dict[str, float | str]:
    """Kill every host at once (Ray restarts them) and wait until each answers again: their agents come back
    only from the store. Returns, by host, the seconds it took or why it did not come back."""
    stats = watch.sample()
    hosts = {name: handle for name, handle in our_actors(rt, stats).items() if not name.startswith(BUS_NAME)}
    before = {name: actor_info(handle).get("NumRestarts", 0) for name, handle in hosts.items()}
    for handle in hosts.values():
        ray.kill(handle, no_restart=False)
    return all_back(hosts, before, watch)


def settled(rt: Runtime, watch: ChaosWatch, timeout: float = 120.0) -> str:
    """'' once nothing is held anywhere (``Runtime.settle``: no call unanswered, no delivery unacknowledged,
    no kept publish unreported), else what was still held when ``timeout`` ran out."""
    try:
        rt.settle(timeout)
    except NotSettled as exc:
        return str(exc)
    watch.sample()
    return ""
