"""HostLinks: the bus's side of its hosts. One outbox per host, and what each host was given and has not
finished: a host is done with a message when it answers it or acknowledges it (``Kind.ACK``); until then
the bus keeps it, and sends it again when the host restarts or did not take its batch.

A publish crosses each node once: the copies for the hosts of one node travel in one call to one of them,
which hands the others theirs (as Akka's distributed pub-sub does); each copy is still kept per host."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ._envelope import KEPT, Kind
from ._errors import RaybusError
from ._host import Host
from ._outbox import Outbox
from .constants import host_actor_name

__all__ = ["HostLinks"]

REDELIVERY_DELAY = 0.5  # seconds: long enough for Ray to restart a host actor, short against a send's timeout
MAX_REDELIVERIES = 20  # with the delay, ~10 s for a host to come back (a node's loss takes longer than a crash)


class HostLinks:
    def __init__(self, namespace: str, state_path: str | None, window: int, shards: int, counts: Counter[str],
                 give_up: Callable[[tuple, RaybusError], None]) -> None:
        self.namespace = namespace
        self.state_path = state_path
        self.window = window
        self.shards = shards
        self.counts = counts
        self._give_up = give_up  # refuses a call, dead-letters anything else
        self.hosts: dict[str, Any] = {}
        self.outboxes: dict[str, Outbox[tuple]] = {}
        self.unacked: dict[str, dict[str, tuple]] = {}
        self.publishes: dict[str, list] = {}  # publish id → [publishing host, publisher, copies not handled]
        self.nodes: dict[str, str] = {}  # host → the node it said it runs on
        self.redelivered: OrderedDict[str, int] = OrderedDict()  # message id → times sent again

    def deliver(self, endpoint: str, wire: tuple) -> None:
        """A call: kept until the host is done with it."""
        self._keep(endpoint, wire)
        self.outbox(endpoint).put(wire)

    def fan_out(self, head: tuple, by_endpoint: dict[str, list[str]]) -> None:
        """A publish's copies, one per host naming its recipients, in one call per node."""
        by_node: dict[str, list[str]] = {}
        for endpoint in by_endpoint:
            by_node.setdefault(self.nodes.get(endpoint, endpoint), []).append(endpoint)
        for relay, *others in by_node.values():
            for endpoint in (relay, *others):
                self._keep(endpoint, (*head, tuple(by_endpoint[endpoint])))
            copy = (*head, tuple(by_endpoint[relay]))
            if others:
                copy = (*copy, tuple((endpoint, tuple(by_endpoint[endpoint])) for endpoint in others))
            self.outbox(relay).put(copy)

    def _keep(self, endpoint: str, wire: tuple) -> None:
        unacked = self.unacked.get(endpoint)
        if unacked is None:
            unacked = self.unacked[endpoint] = {}
        unacked[wire[1]] = wire

    def done(self, endpoint: str, message_id: str) -> None:
        unacked = self.unacked.get(endpoint)
        if unacked and (wire := unacked.pop(message_id, None)) is not None and wire[0] == Kind.PUBLISH:
            self._copy_done(message_id)

    def track_publish(self, host: str | None, wire: tuple, copies: int) -> None:
        """A host's agent keeps its publish until every copy is handled; then its host hears so."""
        if host is None or wire[10] != KEPT:
            return
        if copies:
            self.publishes[wire[1]] = [host, wire[3], copies]
        else:
            self.outbox(host).put((Kind.ACK, wire[1], wire[3]))

    def _copy_done(self, message_id: str) -> None:
        tracked = self.publishes.get(message_id)
        if tracked is not None:
            tracked[2] -= 1
            if tracked[2] <= 0:
                del self.publishes[message_id]
                self.outbox(tracked[0]).put((Kind.ACK, message_id, tracked[1]))

    def outbox(self, endpoint: str) -> Outbox[tuple]:
        outbox = self.outboxes.get(endpoint)
        if outbox is None:
            host = self.host(endpoint)
            outbox = self.outboxes[endpoint] = Outbox(
                lambda batch: host.deliver.remote(batch),
                lambda batch, error: self._unreachable(endpoint, batch, error),
            )
        return outbox

    def host(self, endpoint: str) -> Any:
        host = self.hosts.get(endpoint)
        if host is None:
            host = self.hosts[endpoint] = (
                ray.remote(Host)
                .options(
                    name=host_actor_name(endpoint), namespace=self.namespace, lifetime="detached",
                    get_if_exists=True, max_concurrency=100_000, num_cpus=0, max_restarts=-1,
                    scheduling_strategy=self._placement(endpoint),
                )
                .remote(endpoint, self.namespace, self.state_path, self.window, self.shards)
            )
            self.counts["hosts_started"] += 1
        return host

    def _placement(self, endpoint: str) -> Any:
        """Soft affinity to the live node with the fewest of our hosts, so hosts spread over the nodes there
        are when they are created (Ray's SPREAD left whole pools on one node) and one node's loss takes few;
        soft, so a host whose node is gone restarts on another."""
        alive = sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])
        if len(alive) < 2:
            return "DEFAULT"
        hosts_on = Counter(self.nodes.values())
        node = min(alive, key=lambda candidate: hosts_on[candidate])
        self.nodes[endpoint] = node  # until the host says where it runs
        return NodeAffinitySchedulingStrategy(node, soft=True)

    def up(self, endpoint: str, node: str, restarted: bool) -> None:
        self.nodes[endpoint] = node
        if restarted:
            self.counts["host_restarts"] += 1
            self._redeliver(endpoint, list(self.unacked.get(endpoint, ())), "host restarted")

    def _unreachable(self, endpoint: str, batch: list[tuple], error: BaseException) -> None:
        """A batch the host did not take (it died; hosts restart): calls and publishes go again shortly, the
        host drops what it has handled already; answers for its callers, who died with it, are let go."""
        self.counts["host_unreachable"] += len(batch)
        again = []
        for wire in batch:
            if wire[0] == Kind.PUBLISH and len(wire) > 11:  # what it was to relay goes to each host itself
                for sibling, _ in wire[11]:
                    asyncio.get_running_loop().call_later(REDELIVERY_DELAY, self._redeliver, sibling, [wire[1]],
                                                          f"relay {endpoint}: {error}")
            if wire[0] == Kind.SEND or wire[0] == Kind.PUBLISH:
                again.append(wire[1])
            elif wire[0] == Kind.ACK:
                continue  # the host sends its kept publishes again once back, and hears of them then
            else:
                self._give_up(wire, RaybusError(f"host {endpoint} is unreachable: {error}"))
        asyncio.get_running_loop().call_later(REDELIVERY_DELAY, self._redeliver, endpoint, again, str(error))

    def _redeliver(self, endpoint: str, message_ids: list[str], why: str) -> None:
        unacked = self.unacked.get(endpoint, {})
        now = time.time()
        for message_id in message_ids:
            wire = unacked.get(message_id)
            if wire is None:
                continue  # handled meanwhile
            tries = self.redelivered.pop(message_id, 0) + 1
            self.redelivered[message_id] = tries
            if tries > MAX_REDELIVERIES or (wire[7] and wire[7] < now):
                del unacked[message_id]
                if wire[0] == Kind.PUBLISH:
                    self._copy_done(message_id)
                self.counts["given_up"] += 1
                self._give_up(wire, RaybusError(f"host {endpoint} did not handle it after {tries - 1} "
                                                f"redeliveries: {why}"))
                continue
            self.counts["redeliveries"] += 1
            self.outbox(endpoint).put(wire)
        while len(self.redelivered) > 10_000:
            self.redelivered.popitem(last=False)

    def figures(self) -> dict[str, int]:
        outboxes = self.outboxes.values()
        return {"queued": sum(len(o) + o.in_flight for o in outboxes),
                "unacked": sum(len(u) for u in self.unacked.values()),
                "to_host_batches": sum(o.batches for o in outboxes), "to_host_items": sum(o.items for o in outboxes)}

    def destroy(self) -> None:
        for host in self.hosts.values():
            ray.kill(host, no_restart=True)
        self.hosts.clear()
        self.outboxes.clear()
        self.unacked.clear()
