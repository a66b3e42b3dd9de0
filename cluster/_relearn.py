"""Relearning: a restarted bus shard's first step, before it routes a batch or makes a control call.

The routing table a shard reads back from the store has no moves (they change too often to store), so a
restarted shard asks every host of the namespace where agents were moved: each knows the agents moved to it,
and the agents placed on it that it handed over (and where to). The constructor has no event loop to start
this in, so the first batch or control call starts it and every caller waits for the one relearning."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._wire import Adopt
from .constants import MOVE_WAIT

if TYPE_CHECKING:
    from ._links import HostLinks
    from ._routing import RoutingTable

__all__ = ["Relearning"]


class Relearning:
    __slots__ = ("_counts", "_endpoints", "_links", "_shard", "_table", "_task")

    def __init__(self, endpoints: list[str], table: Callable[[], RoutingTable], links: HostLinks,
                 counts: Counter[str], shard: int) -> None:
        self._endpoints = endpoints  # the hosts there are (Ray's named actors of the namespace)
        self._table, self._links, self._counts, self._shard = table, links, counts, shard
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
        hosts = [links.host(endpoint) for endpoint in endpoints]
        found = await asyncio.gather(*(asyncio.wait_for(host.moves.remote(), MOVE_WAIT) for host in hosts),
                                     return_exceptions=True)
        known = {endpoint: moves for endpoint, moves in zip(endpoints, found, strict=True)
                 if not isinstance(moves, BaseException)}
        self._counts["relearn_unanswered"] += len(endpoints) - len(known)
        here = {agent: endpoint for endpoint, moves in known.items() for agent, to in moves.items() if to == endpoint}
        handed_over = {agent: to for endpoint, moves in known.items() for agent, to in moves.items()
                       if to != endpoint and agent not in here}
        for agent, endpoint in here.items():
            table.place(agent, endpoint)
        for agent, to in handed_over.items():
            table.place(agent, to)
            links.outbox(to).put(Adopt(agent, None))
        self._counts["moves_relearned"] += len(here) + len(handed_over)
        self._counts["adopted_again_after_restart"] += len(handed_over)
        for host in hosts:
            host.bus_restarted.remote(self._shard)
