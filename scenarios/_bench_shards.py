"""What the bus benchmark's shard curve needs besides its loads: keys dealt evenly over the shards, a simulated
cluster, the CPU each side spent, the nodes the hosts ran on, and the curve's table. The loads themselves
(``bus_send``, ``bus_publish``) and the loop over shard counts stay in ``bus_bench``."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psutil
import ray
import ray._private.state as ray_state  # the GCS actor table: an actor's node without a dashboard

from cluster import Runtime
from cluster.constants import shard_of

from ._common import print_table
from ._simulated import start_cluster

__all__ = ["GROUPS", "CpuMeter", "dealt", "host_nodes", "load_average", "print_curve", "simulated_cluster",
           "with_ratios"]

GROUPS = ("driver", "bus", "hosts")
COLUMNS = (*GROUPS, "ours", "machine")


def dealt(key: Callable[[int], str], count: int, shards: int) -> list[int]:
    """``count`` indexes ``i`` whose ``key(i)`` are dealt in turn over ``shards`` (as ``shard_of`` routes them):
    crc32 need not split a handful of keys evenly, and a shard with less than its share would flatten the curve
    for a reason that is not the runtime's. Index ``j`` of the result lands on shard ``j % shards``."""
    found: dict[int, list[int]] = {shard: [] for shard in range(shards)}
    chosen, candidate = [], 0
    for j in range(count):
        while not found[j % shards]:
            found[shard_of(key(candidate), shards)].append(candidate)
            candidate += 1
        chosen.append(found[j % shards].pop(0))
    return chosen


@contextmanager
def simulated_cluster(nodes: int) -> Iterator[str | None]:
    """A Ray cluster of ``nodes`` one-CPU nodes on this machine (its address), or nothing for 0: the same
    cluster as pto_chaos's."""
    if not nodes:
        yield None
        return
    cluster, own_tmp, _ = start_cluster(nodes)
    try:
        yield cluster.address
    finally:
        ray.shutdown()  # the driver first: the cluster's shutdown kills the processes it talks to
        cluster.shutdown()
        if own_tmp:
            shutil.rmtree(own_tmp, ignore_errors=True)


class CpuMeter:
    """CPU seconds the driver, the bus shards and the hosts spent inside a ``with`` block, the whole machine's
    busy CPU seconds, and the wall time: whether a flat curve means the machine's cores were all busy, and with
    what (ours, or other work on a shared machine). Raylets and the GCS count only under ``machine``. The bus
    and hosts report CPU since their creation, so a host made inside the block counts whole."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.spent: dict[str, float] = {}
        self.wall = 0.0

    def sample(self) -> dict[str, float]:
        stats = self.rt.stats()
        own, machine = psutil.Process().cpu_times(), psutil.cpu_times()
        return {"driver": own.user + own.system, "bus": sum(shard["cpu_s"] for shard in stats["shards"]),
                "hosts": sum(host.get("cpu_s", 0.0) for host in stats["hosts"].values()),  # a restarting one says so
                "machine": sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)}

    def __enter__(self) -> CpuMeter:
        self.before, self.start = self.sample(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.start
        after = self.sample()
        self.spent = {group: after[group] - self.before[group] for group in after}

    def cores_busy(self) -> dict[str, float]:
        busy = {group: spent / self.wall for group, spent in self.spent.items()}
        return busy | {"ours": sum(busy[group] for group in GROUPS)}


def host_nodes(rt: Runtime) -> int:
    """How many Ray nodes this runtime's hosts run on, found by their pids in the GCS actor table (every
    namespace's hosts have the same names; the pids tell them apart on a simulated cluster of one machine)."""
    pids = {host["pid"] for host in rt.stats()["hosts"].values() if "pid" in host}
    return len({actor["Address"]["NodeID"] for actor in ray_state.actors().values()
                if actor["State"] == "ALIVE" and actor["Pid"] in pids})


def with_ratios(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each point's value against the same figure at the curve's first shard count (normally 1), and per CPU
    second of our processes: on a machine shared with other work, what a point got done with what it got."""
    first: dict[str, float] = {}
    for point in points:
        first.setdefault(point["name"], point["value"])
        point["vs_first"] = point["value"] / first[point["name"]]
        point["per_cpu_s"] = point["value"] / point["cores_busy"]["ours"]
    return points


def print_curve(title: str, points: list[dict[str, Any]]) -> None:
    rows = [(p["shards"], p["name"], f"{p['value']:,.0f} {p['unit']}", f"{p['ratio']:.2f}x", f"{p['vs_first']:.2f}x",
             f"{p['per_cpu_s']:,.0f}", " / ".join(f"{p['cores_busy'][group]:.2f}" for group in COLUMNS),
             p["host_nodes"]) for p in points]
    header = ("shards", "figure", "value", "vs raw pipelined", f"vs {points[0]['shards']} shard(s)",
              "per CPU s of ours", "cores busy: " + " / ".join(COLUMNS), "host nodes")
    print_table(title, header, rows)


def load_average() -> str:
    """The machine's 1-minute load and core count: other work on a shared machine moves every figure."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
