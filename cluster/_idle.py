"""Idle agents: found by when they last had a message, their state stored, their activation dropped.

A host keeps only the agents at work: one that has had no message for its type's ``idle_after`` and holds
nothing — no message queued or running, no answer waiting for its write, no kept publish unreported, no call
of its own awaiting an answer — is deactivated. Its state is stored first (durable agents), then, if it still
holds nothing (a message may have come during the write: then it stays), its activation, mailbox and the
writer's record of its stored parts are dropped and ``on_start``'s counterpart ``on_stop`` runs. Its next
message activates it again and loads what was stored, remembered message ids included, so a copy of a message
it handled before is still answered, not handled again. The check and the drop happen in one step of the event
loop: a message either finds the old activation (and keeps it) or a new one, never both."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from collections import Counter, OrderedDict
from time import monotonic
from typing import TYPE_CHECKING, Any

from ._activation import Activation
from ._backlog import retire
from ._port import CURRENT_AGENT
from ._tasks import spawn
from .constants import IDLE_TICK

if TYPE_CHECKING:
    from ._processing import Processing

__all__ = ["Idle", "IdleClock"]

log = logging.getLogger("raybus.idle")


class IdleClock:
    """When each agent last had a message, least recently first, one order per idle time: a look for the due
    ones stops at the first that is not, so it costs what it finds, not what the host holds."""

    __slots__ = ("_used",)

    def __init__(self) -> None:
        self._used: dict[float, OrderedDict[str, float]] = {}  # idle time → agent id → when last used

    def used(self, agent_id: str, idle: float, now: float) -> None:
        order = self._used.get(idle)
        if order is None:
            order = self._used[idle] = OrderedDict()
        order[agent_id] = now
        order.move_to_end(agent_id)

    def forget(self, agent_id: str, idle: float) -> None:
        order = self._used.get(idle)
        if order is not None:
            order.pop(agent_id, None)

    def due(self, now: float) -> list[tuple[str, float]]:
        """The agents unused for their idle time or longer, with that time; they leave the clock (``used``
        puts one back)."""
        found = []
        for idle, order in self._used.items():
            while order:
                agent_id, last = next(iter(order.items()))
                if last + idle > now:
                    break
                order.popitem(last=False)
                found.append((agent_id, idle))
        return found

    @property
    def tick(self) -> float:
        """How often to look: every ``IDLE_TICK``, or the shortest idle time if that is shorter."""
        return min((IDLE_TICK, *self._used))

    def __len__(self) -> int:
        return sum(len(order) for order in self._used.values())


class Idle:
    """A host's side of deactivation (owned by its ``Processing``)."""

    __slots__ = ("_clock", "_processing", "_sweeping", "counts", "retired", "sending")

    def __init__(self, processing: Processing, counts: Counter[str]) -> None:
        self._processing = processing
        self._clock = IdleClock()
        self._sweeping: asyncio.Task | None = None
        self.counts = counts
        self.sending: Counter[str] = Counter()  # agent id → its calls awaiting an answer
        self.retired: dict[str, dict[str, Any]] = {}  # agent type → backlog figures of its deactivated agents

    def used(self, agent_id: str, activation: Activation) -> None:
        """The agent has a message (or is looked at): its idle time starts again."""
        if activation.idle is not None:
            self._clock.used(agent_id, activation.idle, monotonic())
            if self._sweeping is None:
                self._sweeping = spawn(self._sweep())

    def holds_nothing(self, agent_id: str, activation: Activation) -> bool:
        return activation.mailbox.idle and not self.in_hand(agent_id, activation)

    def in_hand(self, agent_id: str, activation: Activation) -> bool:
        """Anything the agent holds but its mailbox: an answer waiting for its write, a kept publish, a call of
        its own awaiting an answer."""
        return bool(activation.running or activation.outgoing or activation.held or activation.writing
                    or self.sending.get(agent_id))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._clock.tick)
            try:
                await self.deactivate(self._clock.due(monotonic()))
            except Exception:  # the sweep must outlive any one look
                self.counts["deactivate_errors"] += 1
                log.exception("deactivating idle agents failed")

    async def deactivate(self, due: list[tuple[str, float]]) -> None:
        """Store the state of those of ``due`` that hold nothing, all in one write, then drop those that still
        hold nothing; the others go back on the clock."""
        activations, now = self._processing.activations, monotonic()
        ready = []
        for agent_id, idle in due:
            activation = activations.get(agent_id)
            if activation is None:
                continue
            if self.holds_nothing(agent_id, activation):
                ready.append((agent_id, activation))
            else:
                self._clock.used(agent_id, idle, now)
        states = self._processing.states
        if states is not None and ready:  # marked together, they go in one write (or two, if one is under way)
            writes = [states.mark(agent_id, activation.state) for agent_id, activation in ready]
            await asyncio.wait(set(writes))
            stored = []
            for (agent_id, activation), write in zip(ready, writes, strict=True):
                if write.exception() is None:
                    stored.append((agent_id, activation))
                else:  # it stays; its next message, or the next look, stores it
                    self.counts["deactivations_unsaved"] += 1
                    self.used(agent_id, activation)
            ready = stored
        dropped = 0
        for agent_id, activation in ready:
            if activations.get(agent_id) is not activation:
                continue
            if not self.holds_nothing(agent_id, activation):  # a message came during the write: it stays
                self.counts["deactivations_called_off"] += 1
                continue
            self.drop(agent_id, activation)
            dropped += 1
        if dropped:
            _give_back_memory()

    def drop(self, agent_id: str, activation: Activation) -> None:
        """The activation is gone (its state stored first, where there is a store); ``on_stop`` runs."""
        del self._processing.activations[agent_id]
        self._clock.forget(agent_id, activation.idle)
        if self._processing.states is not None:
            self._processing.states.forget(agent_id)
        retire(self.retired, agent_id, activation.mailbox)
        self.counts["deactivations"] += 1
        spawn(self._stop(agent_id, activation))

    async def _stop(self, agent_id: str, activation: Activation) -> None:
        running = CURRENT_AGENT.set(agent_id)
        try:
            await activation.agent.on_stop()
        except Exception:
            self.counts["stop_errors"] += 1
            log.exception("on_stop of %s failed", agent_id)
        finally:
            CURRENT_AGENT.reset(running)


def _give_back_memory() -> None:
    """What the C allocator holds free goes back to the system (glibc only; elsewhere nothing to do): agents come
    and go all day, and without it a host's memory creeps up to what it once held, not what it holds."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
