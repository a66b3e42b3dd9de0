"""Handover: a host's side of a move (the bus's side, and the order of it all, is ``_moves.py``).

Asked to hand an agent over (``Move``), the host holds its own agents' calls to it, waits until the agent holds
nothing, stores its state (durable) or takes it along (in memory), drops the activation, says ``Moved`` and
sends the held calls on through the bus, which routes them to the agent's new host. Told an agent lives here now
(``Adopt``), the host keeps the state it carries for its activation. Each host's table knows the moves to and from
itself: it delivers in-process only to agents that live here, and never activates one that does not."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from time import monotonic
from typing import TYPE_CHECKING, Any

from ._tasks import spawn
from ._wire import Call, Moved, Stayed
from .constants import MOVE_WAIT

if TYPE_CHECKING:
    from ._processing import Carrier, Processing

__all__ = ["Handover"]

log = logging.getLogger("raybus.moves")

_QUIET_POLL = 0.005  # seconds between two looks at an agent being handed over


class Handover:
    __slots__ = ("_host", "_processing", "counts", "leaving")

    def __init__(self, host: Carrier, processing: Processing, counts: Counter[str]) -> None:
        self._host = host
        self._processing = processing
        self.counts = counts
        self.leaving: dict[str, list[Call]] = {}  # agent → calls from this host's agents, held until it is gone

    def hold(self, call: Call) -> bool:
        """Hold a call from one of this host's agents to an agent being handed over."""
        held = self.leaving.get(call.target)
        if held is None:
            return False
        held.append(call)
        return True

    def move(self, agent_id: str, to: str) -> None:
        if agent_id not in self.leaving:  # asked again (the bus restarted): the first handover answers
            self.leaving[agent_id] = []
            spawn(self._hand_over(agent_id, to))

    def adopt(self, agent_id: str, state: dict[str, Any] | None) -> None:
        self._host.table.place(agent_id, self._host.name)
        if state is not None:
            self._processing.carried[agent_id] = state
        self.counts["adopted"] += 1

    def here(self) -> list[str]:
        """The agents moved to this host (a restarted bus asks)."""
        name = self._host.name
        return [agent for agent, endpoint in self._host.table.moved.items() if endpoint == name]

    async def _hand_over(self, agent_id: str, to: str) -> None:
        try:
            state = await self._quiet_then_drop(agent_id)
        except Exception:
            self.counts["handover_errors"] += 1
            log.exception("handing %s over failed", agent_id)
            state = _STAY
        held = self.leaving.pop(agent_id)
        if state is _STAY:
            self._host.to_bus.put(Stayed(agent_id), agent_id)
            self.counts["handovers_called_off"] += 1
        else:
            self._host.table.place(agent_id, to)
            self._host.to_bus.put(Moved(agent_id, to, state), agent_id)
            self.counts["handed_over"] += 1
        for call in held:  # routed as if just sent: in-process if it stayed, else through the bus, behind ``Moved``
            self._host.route(call)

    async def _quiet_then_drop(self, agent_id: str) -> Any:
        """The state the agent carries (None: the store has it, or it has none), or ``_STAY``."""
        processing, deadline = self._processing, monotonic() + MOVE_WAIT
        while True:
            activation = processing.activations.get(agent_id)
            if activation is None:
                return None
            if processing.idle.holds_nothing(agent_id, activation):
                if processing.states is None:
                    state = activation.state()
                else:  # stored first; a message that came during the write (an inspection) keeps it a while
                    await processing.states.mark(agent_id, activation.state)
                    state = None
                if processing.activations.get(agent_id) is activation and \
                        processing.idle.holds_nothing(agent_id, activation):
                    processing.idle.drop(agent_id, activation)
                    return state
            if monotonic() > deadline:
                return _STAY
            await asyncio.sleep(_QUIET_POLL)


_STAY = object()
