"""Runtime: what user code holds. Connects to Ray, registers agent types, sends and publishes."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable
from typing import Any

import ray
from pydantic import BaseModel

from ._agent import Agent
from ._agent_id import AgentId
from ._backlog import merged
from ._bus import Bus
from ._bus_calls import BusCalls
from ._client import Client
from ._errors import NotSettled, RaybusError, cause_of
from ._ids import check_part
from ._interceptor import Interceptor
from ._location import state_location
from ._messages import DEAD_LETTER_TOPIC
from ._placement import Dedicated, Placement
from ._principal import Principal, check_agent_type
from ._routing import AgentTypeSpec, resolve_agent_class
from ._subscription import Subscription
from ._topic import TopicId
from ._trace import TraceEvent, new_trace_id, to_mermaid
from .constants import CREDENTIAL_ENV, DEFAULT_WINDOW, INSPECT_BATCH, bus_name

__all__ = ["DEAD_LETTER_TOPIC", "Runtime"]

log = logging.getLogger("raybus")


class Runtime:
    """A driver's handle on one namespace's bus: one connection, bound to the principal its credential names.
    Agents outlive it: a second driver that connects to the same namespace reaches the same agents."""

    def __init__(self, namespace: str, buses: list[Any], client: Client, started_ray: bool) -> None:
        self.namespace = namespace
        self._buses = buses
        self._bus = buses[0]  # shard 0 keeps the registry and the credentials
        self._started_ray = started_ray
        self._client = client
        self._calls = BusCalls(namespace, buses, client)

    @classmethod
    def connect(cls, namespace: str = "raybus", address: str | None = None, state_dir: str | None = None,
                window: int = DEFAULT_WINDOW, shards: int = 1, state: str | None = None,
                credential: str | None = None, **ray_init: Any) -> Runtime:
        """Attach to a running cluster (``address``, ``RAY_ADDRESS``, or a local ``ray start``), or
        start a local Ray when there is none. Extra keywords go to ``ray.init``.

        ``state`` makes agent state durable: each agent's ``save_state()`` is stored before its answer
        leaves, and loaded when the agent is activated again (a host restarts after a crash, or a later
        driver uses the namespace). A ``postgresql://`` URL keeps it in the namespace's schema of that
        database, which every node reaches; a directory in ``<directory>/<namespace>.db`` (SQLite; a leading
        ``~`` is each node's home). ``state_dir`` is the older name for a directory.

        ``credential`` (default: the ``RAYBUS_CREDENTIAL`` environment variable) names this driver's principal
        in the namespace. The first driver of a namespace that comes without one is its admin, and holds the
        admin credential (``credential``); later ones without are ``anonymous``. A credential the namespace
        does not know (never granted there, or revoked) raises ``NotAuthorized`` naming the namespace.

        ``window`` is the backpressure: at most that many calls from one sender (this driver, or a host
        for its agents) in flight to one host; more wait for room, within their timeout.

        ``shards`` splits the bus into that many actors, by recipient and by topic (see ``_shards.py``).

        The first driver of a namespace decides ``state``, ``window`` and ``shards``."""
        check_part("runtime", "namespace", namespace)
        credential = credential if credential is not None else os.environ.get(CREDENTIAL_ENV) or None
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
        session = uuid.uuid4().hex  # this connection; the endpoints of its event loops are named after it
        try:
            principal, issued = ray.get(first.join.remote(session, credential))
            ray.get([bus.bind.remote(session, issued or credential) for bus in buses[1:]])
        except RaybusError as exc:
            raise cause_of(exc) from None
        return cls(namespace, buses, Client(buses, table, window, session, principal, issued or credential), started)

    @property
    def principal(self) -> Principal:
        """Who this driver is in the namespace: ``admin``, ``user/<id>``, ``service/<name>`` or ``anonymous``."""
        return Principal.parse(self._client.principal)

    @property
    def credential(self) -> str | None:
        """The secret this driver connected with (the admin's, if the namespace handed it out to this driver);
        another driver connects as the same principal with it (``credential=``, or ``RAYBUS_CREDENTIAL``)."""
        return self._client.credential

    # --- credentials (the admin's) --------------------------------------------------------------
    def grant(self, principal: str | Principal) -> str:
        """A new secret credential naming ``principal`` (``user/<id>``, ``service/<name>`` or ``admin``): a
        driver that connects with it is that principal. Only a hash of it is kept."""
        return self._calls.control("grant", str(Principal.parse(principal)))

    def revoke(self, principal: str | Principal) -> int:
        """Forget every credential of ``principal`` and drop its connections on every shard: their next message
        is refused (``NotAuthorized``). Returns how many credentials it had."""
        return self._calls.control("revoke", str(Principal.parse(principal)))

    # --- registration -------------------------------------------------------------------------
    def register(
        self,
        agent_type: str,
        agent: type[Agent] | str,
        *,
        subscriptions: Iterable[Subscription] = (),
        placement: Placement | None = None,
        config: dict[str, Any] | None = None,
        idle_after: float | None = None,
    ) -> None:
        """Register an agent type by class or import path (``"actors.manager:Manager"``); agents of
        the type are created on their first message. Registering the same definition again is a no-op.

        ``idle_after``: an agent of the type that has had no message for that many seconds, and has nothing
        in hand, is deactivated (its state saved first) and comes back on its next message. The default is
        ``IDLE_AFTER`` when the namespace keeps state, and never when it does not: an agent whose state lives
        only in memory would lose it (give a time to have such agents forgotten anyway)."""
        check_agent_type(check_part("agent type", "name", agent_type))
        cls = resolve_agent_class(agent)
        spec = AgentTypeSpec(agent_type, agent, placement or Dedicated(movable=True), dict(config or {}), idle_after)
        self._calls.control("register", spec, cls.message_types())
        self.subscribe(*subscriptions)
        self._client.refresh_table()

    def register_message(self, *message_types: type[BaseModel]) -> None:
        """Make message types known that no registered handler names (for example a published notice)."""
        self._calls.control("register_messages", list(message_types))
        self._client.refresh_table()

    def intercept(self, *interceptors: Interceptor) -> None:
        """Have every send and publish of this namespace pass ``interceptors`` (in order) where it is routed.
        They travel to the bus and every host, so they must pickle; they stay for the namespace's life."""
        self._calls.control("intercept", list(interceptors))
        self._client.refresh_table()

    def subscribe(self, *subscriptions: Subscription) -> None:
        """Add subscriptions, all in one bus call (one routing-table push to the hosts)."""
        if subscriptions:
            self._calls.control("subscribe", list(subscriptions))

    def unsubscribe(self, *subscriptions: Subscription) -> None:
        if subscriptions:
            self._calls.control("unsubscribe", list(subscriptions))

    # --- messaging ----------------------------------------------------------------------------
    async def send(
        self, recipient: AgentId, message: BaseModel, *, timeout: float | None = None, trace_id: str | None = None
    ) -> Any:
        """Deliver ``message`` to ``recipient`` and return its handler's reply."""
        return await self._client.send(self._client.principal, recipient, message, trace_id or new_trace_id(), timeout)

    async def publish(self, topic: TopicId, message: BaseModel, *, trace_id: str | None = None) -> None:
        """Fan ``message`` out to the topic's subscribers; returns once the bus has accepted it."""
        await self._client.publish(self._client.principal, topic, message, trace_id or new_trace_id())

    async def flush(self) -> None:
        """Wait until the bus has accepted everything this driver sent."""
        await self._client.drain()

    @staticmethod
    def new_trace() -> str:
        """A trace id that every hop records; pass it to ``send`` and read it back with ``trace``."""
        return new_trace_id(sampled=True)

    # --- inspection ---------------------------------------------------------------------------
    # The traces, dead letters and agents' inspectable methods are the admin's; stats, agents and settle are
    # open to every principal of the namespace.
    def trace(self, trace_id: str) -> list[TraceEvent]:
        found = self._calls.control("trace", trace_id, everywhere=True)
        # a host that several shards know is asked by each: its events come once
        return sorted({event for events in found for event in events}, key=lambda e: e.at)

    def trace_mermaid(self, trace_id: str) -> str:
        return to_mermaid(self.trace(trace_id))

    def trace_spans(self, trace_id: str, tracer_provider: Any = None) -> list[Any]:
        """The trace as OpenTelemetry spans, through ``tracer_provider`` if given (needs ``raybus[otel]``)."""
        from ._otel import trace_to_spans

        return trace_to_spans(trace_id, self.trace(trace_id), tracer_provider)

    def stats(self) -> dict[str, Any]:
        """Counters of the bus (summed over its shards, each also under ``shards``), each host, the driver;
        and under ``backlog`` the hosts' mailboxes by agent type (queued now, deepest, seconds serial
        handlers held them while messages waited) with the agents that held theirs longest."""
        shards = self._calls.each("stats")
        stats = {"bus": _summed([shard["bus"] for shard in shards]), "shards": [shard["bus"] for shard in shards],
                 "hosts": {endpoint: figures for shard in shards for endpoint, figures in shard["hosts"].items()}}
        stats["backlog"] = merged(host["backlog"] for host in stats["hosts"].values() if "backlog" in host)
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
        for found in self._calls.each("held"):
            places.update(found)
        return {place: held for place, held in places.items() if held}

    def agents(self) -> list[str]:
        return sorted({agent for agents in self._calls.each("agents") for agent in agents})

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        found = self._calls.control("dead_letters", limit, everywhere=True)
        return [letter for letters in found for letter in letters][-limit:]

    def inspect(self, agent_id: AgentId, name: str, *args: Any) -> Any:
        """Run a method the agent's class marks ``@inspectable`` (read-only, plain JSON arguments), queued
        behind the agent's messages: its own account, for checks and tests (a coroutine method is awaited).
        Anything not marked is refused."""
        return self.inspect_all([agent_id], name, *args)[0]

    def inspect_all(self, agent_ids: Iterable[AgentId], name: str, *args: Any, keep: bool = True) -> list[Any]:
        """``inspect`` of many agents, their answers in order: one bus call per ``INSPECT_BATCH`` agents and one
        host call per host in each, so reading a large org back costs a few round trips, not one per agent.
        ``keep=False``: an agent this woke goes again once asked, if its type may be deactivated (idle time, or
        durable state), instead of staying for its idle time — for reading back every agent of a large org."""
        ids = [str(agent_id) for agent_id in agent_ids]
        return [answer for start in range(0, len(ids), INSPECT_BATCH)
                for answer in self._calls.control("inspect", ids[start:start + INSPECT_BATCH], name, args, keep)]

    def where(self, agent_id: AgentId) -> str:
        """The host an agent lives at now (an endpoint: ``pool:<pool>.<n>`` or ``agent:<type>/<key>``)."""
        return self._calls.first("where", str(agent_id))

    def move(self, agent_id: AgentId, endpoint: str) -> bool:
        """Move an agent to the host ``endpoint`` (as ``where`` names hosts), the admin's alone: its messages
        wait while it is handed over, and none is lost or handled twice. False if it is there already or on its
        way. The runtime moves agents next to their peers by itself; this is for operators and tests."""
        return self._calls.control("move", [(str(agent_id), endpoint)])[0]

    # --- lifecycle ----------------------------------------------------------------------------
    def shutdown(self, destroy: bool = False) -> None:
        """Disconnect this driver. ``destroy=True`` (the admin's alone) also ends the bus and every host of the
        namespace."""
        self._client.close()
        if not ray.is_initialized():
            return
        try:
            ray.get([bus.disconnect.remote(self._client.name) for bus in self._buses])
            if destroy:
                self._calls.control("destroy", everywhere=True)  # refused before anything is ended
                for bus in self._buses:
                    ray.kill(bus, no_restart=True)
        finally:
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
