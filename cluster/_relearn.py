"""Relearning: a restarted bus shard's first step, before it routes a batch or makes a control call.

The routing table a shard reads back from the store has no moves (they change too often to store), so a
restarted shard asks every host of the namespace where agents were moved: each knows the agents moved to it,
and the agents placed on it that it handed over (and where to), and the agents it handed over whose ``Moved``
the bus has not taken (the old shard died first, or before it replied): if the new host has the agent, that
``Moved`` is one heard again, and the messages that come again from the old host before it are the agent's
(``Mover.left``); if not, the move goes on and ends when it comes. An agent its home host handed over that
the host it went to does not have, while some host did not answer, may have moved on to one of those: the bus
waits for them to say (``Mover.find``) before it has it adopted where it went. The constructor has no event
loop to start this in, so the first batch or control call starts it and every caller waits for the one
relearning."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from .constants import MOVE_WAIT

if TYPE_CHECKING:
    from ._links import HostLinks
    from ._moves import Mover
    from ._routing import RoutingTable

__all__ = ["Relearning"]


class Relearning:
    __slots__ = ("_counts", "_endpoints", "_links", "_mover", "_shard", "_table", "_task")

    def __init__(self, endpoints: list[str], table: Callable[[], RoutingTable], links: HostLinks, mover: Mover,
                 counts: Counter[str], shard: int) -> None:
        self._endpoints = endpoints  # the hosts there are (Ray's named actors of the namespace)
        self._table, self._links, self._mover, self._counts, self._shard = table, links, mover, counts, shard
        self._task: asyncio.Future | None = None

    async def wait(self) -> None:
        """Until the one relearning is over (started by the first caller). One that fails is not tried again:
        routing goes on, and the hosts say where agents live in ``host_up``."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._relearn())
        await asyncio.shield(self._task)

    async def _relearn(self) -> None:
        """An agent its old host handed over that its new host does not know yet (the old shard died with its
        ``Adopt`` on the way) is adopted there now, with no state carried: a store has its state; in memory,
        what it carried is lost. A host that does not answer within ``MOVE_WAIT`` says it in its ``host_up``,
        as it is told to now."""
        table, links, endpoints = self._table(), self._links, self._endpoints
        hosts = [links.actors.get(endpoint) for endpoint in endpoints]
        found = await asyncio.gather(*(asyncio.wait_for(host.moves.remote(), MOVE_WAIT) for host in hosts),
                                     return_exceptions=True)
        known = {endpoint: moves for endpoint, moves in zip(endpoints, found, strict=True)
                 if not isinstance(moves, BaseException)}
        self._counts["relearn_unanswered"] += len(endpoints) - len(known)
        here = {agent: endpoint for endpoint, (moves, _) in known.items() for agent, to in moves.items()
                if to == endpoint}
        leaving = {agent: (endpoint, to) for endpoint, (_, handing) in known.items() for agent, to in handing.items()}
        handed_over = {agent: to for endpoint, (moves, _) in known.items() for agent, to in moves.items()
                       if to != endpoint and agent not in here and agent not in leaving}
        for agent, endpoint in here.items():
            table.place(agent, endpoint)
        for agent, (source, to) in leaving.items():
            if agent in here:
                self._mover.left[agent] = source
            else:
                table.place(agent, source)
                self._mover.under_way(agent, source, to)
        self._counts["moves_under_way_after_restart"] += len(leaving.keys() - here.keys())
        unanswered = set(endpoints) - known.keys()
        for agent, to in handed_over.items():  # it may have moved on to a host that did not answer
            self._mover.find(agent, to, unanswered)
        self._counts["moves_relearned"] += len(here) + len(handed_over)
        for host in hosts:
            host.bus_restarted.remote(self._shard)
