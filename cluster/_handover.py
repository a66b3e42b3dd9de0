"""Handover: a host's side of a move (the bus's side, and the order of it all, is ``_moves.py``).

Asked to hand an agent over (``Move``), the host holds its own agents' calls to it and pauses its mailbox: once
the serial handler under way is over and the agent holds nothing but its queue (no interleaved handler running,
no answer waiting for its write, no kept publish, no call of its own unanswered), it stores the agent's state
(durable) or takes it along (in memory), drops the activation, and says ``Moved`` with the messages that were
queued; then it sends the held calls on through the bus, which routes them to the agent's new host. Told an
agent lives here now (``Adopt``), the host keeps the state it carries for its activation. Each host's table
knows the moves to and from itself: it delivers in-process only to agents that live here, and never activates
one that does not. Until the bus has taken its ``Moved``, the host counts the agent as leaving (``leaving``): a
bus shard that restarts meanwhile hears it, and waits for that ``Moved`` instead of starting the agent anew."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from time import monotonic
from typing import TYPE_CHECKING

from ._processing import Inspection
from ._state import encode_state
from ._tasks import spawn
from ._wire import Call, Copy, Done, Moved, Stayed
from .constants import MOVE_WAIT

if TYPE_CHECKING:
    from ._carrier import Carrier
    from ._outbox import Outbox
    from ._processing import Processing

__all__ = ["Handover"]

log = logging.getLogger("raybus.moves")

_QUIET_POLL = 0.005  # seconds between two looks at an agent being handed over


class Handover:
    __slots__ = ("_asking", "_host", "_processing", "counts", "holding", "leaving")

    def __init__(self, host: Carrier, processing: Processing, counts: Counter[str]) -> None:
        self._host = host
        self._processing = processing
        self.counts = counts
        self.holding: dict[str, list[Call]] = {}  # agent → calls from this host's agents, held until it is gone
        self.leaving: dict[str, str] = {}  # agent handed over → where to, until the bus has taken its ``Moved``
        self._asking: set[str] = set()  # agents whose whereabouts we asked the bus, not answered yet

    def hold(self, call: Call) -> bool:
        """Hold a call from one of this host's agents to an agent being handed over."""
        held = self.holding.get(call.target)
        if held is None:
            return False
        held.append(call)
        return True

    def move(self, agent_id: str, to: str) -> None:
        if agent_id not in self.holding:  # asked again (the bus restarted): the first handover answers
            self.holding[agent_id] = []
            self.counts["handovers_asked"] += 1
            spawn(self._hand_over(agent_id, to))

    def adopt(self, agent_id: str, state: str | None) -> None:
        self._host.table.place(agent_id, self._host.name)
        if state is not None and agent_id not in self._processing.activations:  # an Adopt sent again comes late
            self._processing.carried[agent_id] = state
        self.counts["adopted"] += 1

    def not_here(self, agent_id: str) -> None:
        """The bus gave us a message for an agent our table says lives at another host, and we did not take it:
        ask the bus where it routes the agent now. Here: our table was behind (the ``Adopt`` that said so went
        to an earlier life of this host), and the bus's next try is taken. Elsewhere: the bus's table was behind,
        and its next try goes there."""
        if agent_id not in self._asking:
            self._asking.add(agent_id)
            spawn(self._ask_where(agent_id))

    async def _ask_where(self, agent_id: str) -> None:
        host = self._host
        try:
            where = await host.buses[0].locate.remote(agent_id)
        except Exception:  # restarting: the next message for it asks again
            return
        finally:
            self._asking.discard(agent_id)
        if where == host.name and host.table.known_endpoint_of(agent_id) != where:
            host.table.place(agent_id, where)
            self.counts["table_behind_the_bus"] += 1

    def here(self) -> list[str]:
        """The agents moved to this host (a restarted bus asks)."""
        name = self._host.name
        return [agent for agent, endpoint in self._host.table.moved.items() if endpoint == name]

    async def _hand_over(self, agent_id: str, to: str) -> None:
        try:
            found = await self._pause_then_drop(agent_id)
        except Exception:
            self.counts["handover_errors"] += 1
            log.exception("handing %s over failed", agent_id)
            found = None
        held = self.holding.pop(agent_id)
        if found is None:
            self._host.to_bus.put(Stayed(agent_id), agent_id)
            self.counts["handovers_called_off"] += 1
        else:
            self._host.table.handed_over(agent_id, to, self._host.name)
            state, queued = found
            self._host.to_bus.put(Moved(agent_id, to, state, queued), agent_id)
            self.leaving[agent_id] = to
            outbox = self._host.to_bus.for_key(agent_id)
            calls = [item.id for item in queued if type(item) is Call]
            spawn(self._until_taken(agent_id, outbox, outbox.accepted(), calls))  # asked now: it leaves this turn
            for item in queued:  # not handled here: the bus passes it on where the agent went
                finished = self._processing.intake.passed_on(item.id, agent_id)
                if finished and type(item) is Copy:  # the agents still here have all finished it: done, for them
                    self._host.to_bus.put(Done(item.id, finished), item.target)
            self.counts["handed_over"] += 1
        for call in held:  # routed as if just sent: in-process if it stayed, else through the bus, behind ``Moved``
            self._host.route(call)

    async def _until_taken(self, agent_id: str, outbox: Outbox, accepted: asyncio.Future, calls: list[str]) -> None:
        """Until the bus has taken the ``Moved`` just put for ``agent_id``. Only then does another host that called
        the agent host to host hear its answer comes through the bus (``Host.passed_on``): had it heard so before,
        and this host died with the ``Moved`` unsent, no one would have the call to send again (the bus never had
        it; the caller sends its calls again only when the bus restarts), and it would wait out its timeout."""
        await outbox.until_accepted(accepted)
        self.leaving.pop(agent_id, None)
        for call_id in calls:
            self._host.passed_on(call_id)

    async def _pause_then_drop(self, agent_id: str) -> tuple[str | None, list[Call | Copy]] | None:
        """Once the serial handler under way is over and the agent holds nothing but its queue: its state as
        JSON (None: the store has it, or it has none) and its queued messages, the activation gone. None if that
        takes ``MOVE_WAIT``, or an interleaved handler is at work (the agent stays, and goes on)."""
        processing, deadline = self._processing, monotonic() + MOVE_WAIT
        activation = processing.activations.get(agent_id)
        if activation is None:  # not started here since it came: the state it brought goes on with it
            return processing.carried.pop(agent_id, None), []
        mailbox = activation.mailbox
        try:
            await asyncio.wait_for(asyncio.shield(mailbox.pause()), MOVE_WAIT)
            if not mailbox.stopped:  # interleaved handlers at work may take any time: not now
                raise TimeoutError
            while processing.idle.in_hand(agent_id, activation):
                if monotonic() > deadline:
                    raise TimeoutError
                await asyncio.sleep(_QUIET_POLL)
            if processing.states is None:  # as a store would give it back: load_state reads JSON values
                state = encode_state(activation.state())
            else:
                await processing.states.mark(agent_id, activation.state)
                state = None
        except TimeoutError:
            mailbox.resume()
            return None
        except Exception:
            mailbox.resume()
            raise
        queued = mailbox.take()
        if any(type(item) is Inspection for item in queued) or processing.activations.get(agent_id) is not activation:
            for item in queued:  # an inspection's answer is awaited here: it is read first, and the move waits
                mailbox.put(item)
            mailbox.resume()
            return None
        processing.idle.drop(agent_id, activation)
        return state, queued
