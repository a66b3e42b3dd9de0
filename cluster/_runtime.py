"""Runtime: what user code holds. Connects to Ray, registers agent types, sends and publishes."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import ray
from pydantic import BaseModel

from ._agent import Agent
from ._agent_id import AgentId
from ._bus import Bus
from ._client import Client
from ._errors import NotSettled
from ._ids import check_part
from ._interceptor import Interceptor
from ._location import state_location
from ._messages import DEAD_LETTER_TOPIC
from ._placement import Dedicated, Placement
from ._routing import AgentTypeSpec, RoutingTable, resolve_agent_class
from ._subscription import Subscription
from ._topic import TopicId
from ._trace import TraceEvent, new_trace_id, to_mermaid
from .constants import DEFAULT_WINDOW, bus_name

__all__ = ["DEAD_LETTER_TOPIC", "Runtime"]

log = logging.getLogger("raybus")


class Runtime:
    """A driver's handle on one namespace's bus. Agents outlive it: a second driver that connects to the
    same namespace reaches the same agents."""

    def __init__(self, namespace: str, buses: list[Any], table: RoutingTable, window: int, started_ray: bool) -> None:
        self.namespace = namespace
        self._buses = buses
        self._bus = buses[0]  # shard 0 keeps the registry
        self._started_ray = started_ray
        self._client = Client(buses, table, window)

    @classmethod
    def connect(cls, namespace: str = "raybus", address: str | None = None, state_dir: str | None = None,
                window: int = DEFAULT_WINDOW, shards: int = 1, state: str | None = None, **ray_init: Any) -> Runtime:
        """Attach to a running cluster (``address``, ``RAY_ADDRESS``, or a local ``ray start``), or
        start a local Ray when there is none. Extra keywords go to ``ray.init``.

        ``state`` makes agent state durable: each agent's ``save_state()`` is stored before its answer
        leaves, and loaded when the agent is activated again (a host restarts after a crash, or a later
        driver uses the namespace). A ``postgresql://`` URL keeps it in the namespace's schema of that
        database, which every node reaches; a directory in ``<directory>/<namespace>.db`` (SQLite; a leading
        ``~`` is each node's home). ``state_dir`` is the older name for a directory.

        ``window`` is the backpressure: at most that many calls from one sender (this driver, or a host
        for its agents) in flight to one host; more wait for room, within their timeout.

        ``shards`` splits the bus into that many actors, by recipient and by topic (see ``_shards.py``).

        The first driver of a namespace decides ``state``, ``window`` and ``shards``."""
        check_part("runtime", "namespace", namespace)
        state = state_location(state, state_dir)
        started = False
        if not ray.is_initialized():
            ray.init(address=address, namespace=namespace, **ray_init)
            started = True
        if shards < 1:
            raise ValueError(f"shards={shards}: a bus needs at least one shard")
        first = _bus_shard(namespace, 0).remote(namespace, state, window, 0, shards)
        table, window, shards = ray.get(first.settings.remote())  # the first driver's, if it was not us
        buses = [first] + [_bus_shard(namespace, shard).remote(namespace, state, window, shard, shards)
                           for shard in range(1, shards)]
        return cls(namespace, buses, table, window, started)

    # --- registration -------------------------------------------------------------------------
    def register(
        self,
        agent_type: str,
        agent: type[Agent] | str,
        *,
        subscriptions: Iterable[Subscription] = (),
        placement: Placement | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        """Register an agent type by class or import path (``"actors.manager:Manager"``); agents of
        the type are created on their first message. Registering the same definition again is a no-op."""
        check_part("agent type", "name", agent_type)
        cls = resolve_agent_class(agent)
        spec = AgentTypeSpec(agent_type, agent, placement or Dedicated(), dict(config or {}))
        ray.get(self._bus.register.remote(spec, cls.message_types()))
        self.subscribe(*subscriptions)
        self._client.refresh_table()

    def register_message(self, *message_types: type[BaseModel]) -> None:
        """Make message types known that no registered handler names (for example a published notice)."""
        ray.get(self._bus.register_messages.remote(list(message_types)))
        self._client.refresh_table()

    def intercept(self, *interceptors: Interceptor) -> None:
        """Have every send and publish of this namespace pass ``interceptors`` (in order) where it is routed.
        They travel to the bus and every host, so they must pickle; they stay for the namespace's life."""
        ray.get(self._bus.intercept.remote(list(interceptors)))
        self._client.refresh_table()

    def subscribe(self, *subscriptions: Subscription) -> None:
        """Add subscriptions, all in one bus call (one routing-table push to the hosts)."""
        if subscriptions:
            ray.get(self._bus.subscribe.remote(list(subscriptions)))

    def unsubscribe(self, *subscriptions: Subscription) -> None:
        if subscriptions:
            ray.get(self._bus.unsubscribe.remote(list(subscriptions)))

    # --- messaging ----------------------------------------------------------------------------
    async def send(
        self, recipient: AgentId, message: BaseModel, *, timeout: float | None = None, trace_id: str | None = None
    ) -> Any:
        """Deliver ``message`` to ``recipient`` and return its handler's reply."""
        return await self._client.send(None, recipient, message, trace_id or new_trace_id(), timeout)

    async def publish(self, topic: TopicId, message: BaseModel, *, trace_id: str | None = None) -> None:
        """Fan ``message`` out to the topic's subscribers; returns once the bus has accepted it."""
        await self._client.publish(None, topic, message, trace_id or new_trace_id())

    async def flush(self) -> None:
        """Wait until the bus has accepted everything this driver sent."""
        await self._client.drain()

    @staticmethod
    def new_trace() -> str:
        """A trace id that every hop records; pass it to ``send`` and read it back with ``trace``."""
        return new_trace_id(sampled=True)

    # --- inspection ---------------------------------------------------------------------------
    def trace(self, trace_id: str) -> list[TraceEvent]:
        found = ray.get([bus.trace_events.remote(trace_id) for bus in self._buses])
        # a host that several shards know is asked by each: its events come once
        return sorted({event for events in found for event in events}, key=lambda e: e.at)

    def trace_mermaid(self, trace_id: str) -> str:
        return to_mermaid(self.trace(trace_id))

    def trace_spans(self, trace_id: str, tracer_provider: Any = None) -> list[Any]:
        """The trace as OpenTelemetry spans, through ``tracer_provider`` if given (needs ``raybus[otel]``)."""
        from ._otel import trace_to_spans

        return trace_to_spans(trace_id, self.trace(trace_id), tracer_provider)

    def stats(self) -> dict[str, Any]:
        """Counters of the bus (summed over its shards, each also under ``shards``), each host, the driver."""
        shards = ray.get([bus.stats.remote() for bus in self._buses])
        stats = {"bus": _summed([shard["bus"] for shard in shards]), "shards": [shard["bus"] for shard in shards],
                 "hosts": {endpoint: figures for shard in shards for endpoint, figures in shard["hosts"].items()}}
        stats["driver"] = {"late_answers": self._client.late_answers, **self._client.figures(),
                           "duplicate_answers": self._client.duplicate_answers,
                           "bus_restarts": self._client.bus_restarts,
                           "waiting_for_window": self._client.window.waiting(),
                           "in_flight": len(self._client.pending)}
        return stats

    def settle(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until nothing is held anywhere — not by this driver, the bus shards, or any host: no call
        unanswered, no delivery unacknowledged, no kept publish unreported — seen twice in a row; then
        return ``stats()``. Raises ``NotSettled`` naming what is still held after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        calm = 0
        while True:
            held = self._held()
            calm = 0 if held else calm + 1
            if calm == 2:
                return self.stats()
            if time.monotonic() > deadline:
                where = "; ".join(f"{place}: " + ", ".join(f"{what} {n}" for what, n in found.items())
                                  for place, found in held.items())
                raise NotSettled(f"{self.namespace}: still held after {timeout:g}s: {where}")
            time.sleep(0.25)

    def _held(self) -> dict[str, dict[str, int]]:
        driver = {"calls": len(self._client.pending), **self._client.held()}
        places = {"driver": {what: n for what, n in driver.items() if n}}
        for found in ray.get([bus.held.remote() for bus in self._buses]):
            places.update(found)
        return {place: held for place, held in places.items() if held}

    def agents(self) -> list[str]:
        return sorted({agent for found in ray.get([bus.agents.remote() for bus in self._buses]) for agent in found})

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        found = ray.get([bus.recent_dead_letters.remote(limit) for bus in self._buses])
        return [letter for letters in found for letter in letters][-limit:]

    def call(self, agent_id: AgentId, method: str, *args: Any) -> Any:
        """Run a plain (non-handler) method of an agent, in its mailbox order: for checks and tests. A coroutine
        method is awaited (an hr snapshot reads a ledger on a server off the host's loop)."""
        host = ray.get(self._bus.host_of.remote(str(agent_id)))
        return ray.get(host.call_agent.remote(str(agent_id), method, *args))

    # --- lifecycle ----------------------------------------------------------------------------
    def shutdown(self, destroy: bool = False) -> None:
        """Disconnect this driver. ``destroy=True`` also ends the bus and every host of the namespace."""
        self._client.close()
        if ray.is_initialized():
            ray.get([bus.disconnect.remote(self._client.name) for bus in self._buses])
            if destroy:
                ray.get([bus.destroy_hosts.remote() for bus in self._buses])
                for bus in self._buses:
                    ray.kill(bus, no_restart=True)
            if self._started_ray:
                ray.shutdown()


def _bus_shard(namespace: str, shard: int) -> Any:
    return ray.remote(Bus).options(
        name=bus_name(shard), namespace=namespace, lifetime="detached", get_if_exists=True,
        max_concurrency=100_000, num_cpus=0, max_restarts=-1,
    )


def _summed(figures: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for one in figures:
        for name, value in one.items():
            if isinstance(value, int | float) and name != "pid":
                total[name] = total.get(name, 0) + value
    return total
