"""Inspection at the bus: what a shard and its hosts answer about the namespace (stats, what is held where, the
agents, traces, dead letters), and a method the agents' classes mark ``@inspectable`` (``Runtime.inspect``, the
admin's alone), asked of each agent where it lives, queued behind its messages (``Host.inspect``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import Container
from typing import TYPE_CHECKING, Any

from ._agent import is_inspectable
from ._backlog import backlog
from ._errors import AgentMoved, InvalidMessage, NotAuthorized
from ._metrics import process_figures
from .constants import MOVE_WAIT, bus_name

if TYPE_CHECKING:
    from ._drivers import DriverQueues
    from ._links import HostLinks
    from ._moves import Mover
    from ._processing import Processing
    from ._routing import RoutingTable
    from ._shards import BusOutboxes
    from ._trace import TraceLog
    from ._window import SendWindow

__all__ = ["BusInspection", "HostInspection", "inspect_agents"]


class BusInspection:
    """The bus's answers about its namespace (the ``Bus`` actor's methods: for ``Runtime.stats``, ``settle``,
    ``agents``, ``where``, and the admin's ``inspect``, ``trace`` and ``dead_letters``)."""

    shard: int
    counts: Counter[str]
    cpu_at_start: float
    links: HostLinks
    mover: Mover
    drivers: DriverQueues
    trace: TraceLog
    dead_letters: deque[dict[str, Any]]
    table: RoutingTable

    async def stats(self) -> dict[str, Any]:
        hosts = {endpoint: {"unavailable": str(figures)} if isinstance(figures, BaseException) else figures
                 for endpoint, figures in (await self.links.actors.ask_all("stats")).items()}  # one restarting says so
        return {
            "bus": dict(self.counts) | self.links.figures() | process_figures(self.cpu_at_start)
            | {"moved_agents": len(self.table.moved), "moving": len(self.mover.moving)},
            "hosts": hosts,
        }

    async def held(self) -> dict[str, dict[str, int]]:
        """By place (this shard, each of its hosts): what is still held there, only what is not zero."""
        found = await self.links.actors.ask_all("held")
        mine = self.links.held() | {"answers_for_drivers": self.drivers.held(),
                                    "waiting_for_moves": self.mover.held()}
        places = {bus_name(self.shard): mine}
        for endpoint, held in found.items():
            places[endpoint] = {"restarting": 1} if isinstance(held, BaseException) else held
        return {place: {what: n for what, n in held.items() if n} for place, held in places.items()}

    async def agents(self) -> list[str]:
        return sorted(agent for agents in await self.links.actors.ask_each("agents") for agent in agents)

    async def where(self, agent_id: str) -> str:
        return self.table.endpoint_of(agent_id)

    async def host_of(self, agent_id: str) -> Any:
        return self.links.actors.get(self.table.endpoint_of(agent_id))

    async def _inspect(self, agent_ids: list[str], name: str, args: tuple, keep: bool = True) -> list[Any]:
        return await inspect_agents(self.links, self.table, self.mover.moving, agent_ids, name, args, keep)

    async def _trace_events(self, trace_id: str) -> list:
        found = await self.links.actors.ask_each("trace_events", trace_id)
        return self.trace.events(trace_id) + [event for events in found for event in events]

    async def _dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.dead_letters)[-limit:]


async def inspect_agents(links: HostLinks, table: RoutingTable, moving: Container[str], agent_ids: list[str],
                         name: str, args: tuple, keep: bool = True) -> list[Any]:
    """With JSON arguments (the hosts check the mark): one call per host, the answers in the order of
    ``agent_ids``. An agent being moved (in ``moving``) is asked once it arrives; one a host no longer has (it
    moved meanwhile) is asked again where it went, for at most twice ``MOVE_WAIT``. ``keep=False``: agents the
    inspection woke go again once it is done (``Host.inspect``)."""
    try:
        json.dumps(args)
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"inspect {', '.join(agent_ids[:3])} {name}: arguments must be plain JSON values "
                             f"({exc})") from None
    answers: list[Any] = [None] * len(agent_ids)
    pending = list(range(len(agent_ids)))
    deadline = time.monotonic() + 2 * MOVE_WAIT
    while True:
        by_host: dict[str, list[int]] = {}
        later = []
        for index in pending:
            if agent_ids[index] in moving:
                later.append(index)
            else:
                by_host.setdefault(table.endpoint_of(agent_ids[index]), []).append(index)
        found = await asyncio.gather(*(links.actors.get(endpoint).inspect.remote(
            [agent_ids[i] for i in indexes], name, args, keep) for endpoint, indexes in by_host.items()))
        for indexes, (values, elsewhere) in zip(by_host.values(), found, strict=True):
            for index, value in zip(indexes, values, strict=True):
                answers[index] = value
            later.extend(indexes[i] for i in elsewhere)
        if not later:
            return answers
        if time.monotonic() > deadline:
            raise AgentMoved(f"inspect {agent_ids[later[0]]}: it kept moving for {2 * MOVE_WAIT:g}s")
        pending = later
        await asyncio.sleep(0.05)


class HostInspection:
    """A host's answers about itself and its agents (the ``Host`` actor's methods, asked by its bus shard)."""

    name: str
    counts: Counter[str]
    cpu_at_start: float
    node: str
    table: RoutingTable
    processing: Processing
    to_bus: BusOutboxes
    window: SendWindow
    late_answers: int
    duplicate_answers: int
    trace: TraceLog

    async def agents(self) -> list[str]:
        return list(self.processing.activations)

    async def stats(self) -> dict[str, Any]:
        return dict(self.counts) | await self.held() | {
            "agents": len(self.processing.activations), "late_answers": self.late_answers,
            "duplicate_answers": self.duplicate_answers, "waiting_for_window": self.window.waiting(), "node": self.node,
            **self.to_bus.figures(), **process_figures(self.cpu_at_start),
            "backlog": backlog(((agent_id, activation.mailbox)
                                for agent_id, activation in self.processing.activations.items()),
                               retired=self.processing.idle.retired),
        }

    async def held(self) -> dict[str, int]:
        """What this host still answers for: messages in mailboxes, messages from the bus not finished,
        publishes kept until every copy is handled, and what waits for the bus to take it."""
        return self.processing.held() | self.to_bus.held()

    async def trace_events(self, trace_id: str) -> list:
        return self.trace.events(trace_id)

    async def inspect(self, agent_ids: list[str], name: str, args: tuple,
                      keep: bool = True) -> tuple[list[Any], list[int]]:
        """Run a method the agents' classes mark ``@inspectable``, each queued behind its agent's messages
        (``Runtime.inspect``, the admin's alone, which the bus checked); any other name is refused. Returns the
        answers, and the indexes of the agents that do not live here (moved away: the bus asks where they went).
        ``keep=False``: the agents it woke that may be deactivated are, at once, together (a read-back of every
        agent of a large org would otherwise hold them all for their idle time)."""
        for agent_type in {agent_id.partition("/")[0] for agent_id in agent_ids}:
            if not is_inspectable(self.table.agent_class(agent_type), name):
                self.counts["inspect_refused"] += 1
                example = next(a for a in agent_ids if a.partition("/")[0] == agent_type)
                raise NotAuthorized(f"{name} of {example} is not inspectable: its class does not mark it @inspectable")
        here = [self.table.known_endpoint_of(agent_id) == self.name for agent_id in agent_ids]
        woken = [] if keep else [agent_id for agent_id, local in zip(agent_ids, here, strict=True)
                                 if local and agent_id not in self.processing.activations]
        found = await asyncio.gather(*(self.processing.inspect(agent_id, name, args) if local else _nothing()
                                       for agent_id, local in zip(agent_ids, here, strict=True)))
        if woken:
            await self.processing.let_go(woken)
        return list(found), [index for index, local in enumerate(here) if not local]


async def _nothing() -> None:
    return None
