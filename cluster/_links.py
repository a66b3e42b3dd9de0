"""HostLinks: the bus's side of its hosts. One outbox per host, and, per (message id, host), what the bus
gave a host and has not heard back of: a host is done with a message when it answers it or acknowledges it
(``Done``, naming the recipients there that finished it); until then the bus keeps it. A host has at most one
copy of a publish kept for it: another for more recipients there joins it. Each kept copy of an agent's publish
is counted in its publish's tracking (``PublishTracking``) while the bus keeps it.

One redelivery policy serves every loss: a kept message unacknowledged for ``KEEP_AGE`` is checked with its
host (``Host.holding``): what the host finished counts as done, what it holds is left alone, and what it does
not know is sent again. A restarted host gets everything kept for it at once. Past its deadline (a call) or
``GIVE_UP_AFTER`` (a publish copy) a message is refused or dead-lettered; a publish copy given up is never
reported handled, so its publisher keeps the publish."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ._errors import RaybusError
from ._host_actors import HostActors
from ._linger import Lingering, lone_call
from ._outbox import Outbox
from ._publish_tracking import PublishTracking, Tracked
from ._tasks import spawn
from ._trace import TraceLog
from ._wire import Adopt, Answer, Call, Copy, Delivered, Move, Wire, pack, unpack
from .constants import BUS_RETRY_DELAY, GIVE_UP_AFTER, KEEP_AGE, KEEP_TICK

__all__ = ["HostLinks"]


class _Kept:
    """A message given to one host, until it is done with it (a copy: and the tracking it is counted in)."""

    __slots__ = ("check_at", "counted", "give_up_at", "wire")

    def __init__(self, wire: Call | Copy, now: float, counted: Tracked | None) -> None:
        self.wire = wire
        self.counted = counted
        self.check_at = now + KEEP_AGE
        deadline = wire.deadline if type(wire) is Call else 0.0
        self.give_up_at = now + (deadline - time.time() if deadline else GIVE_UP_AFTER)


class Whereabouts(Protocol):
    """Where agents live now (the bus's moves): a message kept for a host its recipient left goes where it went."""

    def locate(self, agent: str) -> str | None:
        """The host the agent lives at now; None while it is being moved."""

    def park(self, wire: Call | Copy) -> bool:
        """Keep a message for one agent being moved until it arrives (False: it is not being moved)."""


class HostLinks:
    def __init__(self, namespace: str, state: str | None, window: int, shards: int, counts: Counter[str],
                 give_up: Callable[[Call | Answer | Copy, RaybusError], None],
                 take_answer: Callable[[str, Answer], None], lingering: Lingering, trace: TraceLog) -> None:
        self.actors = HostActors(namespace, state, window, shards, counts)
        self.counts = counts
        self._give_up = give_up  # refuses a call, dead-letters anything else
        self._take_answer = take_answer  # an answer a host returned in the reply of ``deliver``
        self.lingering = lingering  # the bus's: the calls whose answers it waits for, for their callers' replies
        self.trace = trace  # the bus's: it keeps the traces a retired host recorded
        self.outboxes: dict[str, Outbox[Wire]] = {}
        self.kept: dict[str, dict[str, _Kept]] = {}  # host → message id → what it was given
        # an agent's publishes and their copies outstanding: counted where a copy is made (``deliver``) and ended
        # (``done``, a move), each once: a copy given again where the same copy is kept already is that copy
        self.publishes = PublishTracking(lambda host, delivered: self.outbox(host).put(delivered))
        self._checking: set[str] = set()  # hosts asked what they hold, not answered yet
        self._watch: asyncio.Task | None = None
        self.whereabouts: Whereabouts | None = None  # the bus's moves, once it has them

    def deliver(self, endpoint: str, wire: Call | Copy) -> None:
        """A call, or one host's copy of a publish: kept until the host is done with it. A copy for a host that
        has one of the same publish already, for other recipients, joins it: the host is given the new
        recipients' part, and the bus keeps one copy for them all until each is done with it."""
        if self._watch is None:
            self._watch = spawn(self._watch_kept())
        kept = self.kept.get(endpoint)
        if kept is None:
            kept = self.kept[endpoint] = {}
        given = kept.get(wire.id)
        tracked = self.publishes.of(wire.id) if type(wire) is Copy else None
        if given is None or given.counted is not tracked:
            self.publishes.added(tracked)  # the same copy kept here already (and counted) is this one, sent again
        if given is not None and type(wire) is Copy:
            known = given.wire.recipients
            joining = tuple(agent for agent in wire.recipients if agent not in known)
            if joining:
                wire = wire._replace(recipients=joining)
                given.wire = given.wire._replace(recipients=known + joining)
            given.counted = tracked
            given.check_at = time.monotonic() + KEEP_AGE
        else:
            kept[wire.id] = _Kept(wire, time.monotonic(), tracked)
        self.outbox(endpoint).put(wire)

    def done(self, endpoint: str, message_id: str, recipients: tuple[str, ...] | None = None) -> Call | Copy | None:
        """The host is done with the message (a copy: for ``recipients``; None, for all): the kept wire once
        no recipient there is left to hear back of, else None (or if this shard did not keep it for it)."""
        found = self._finish(endpoint, message_id, recipients)
        self.publishes.settle(message_id)
        return found

    def _finish(self, endpoint: str, message_id: str, recipients: Iterable[str] | None) -> Call | Copy | None:
        """``recipients`` (None: all) at ``endpoint`` are done with the message: the kept wire if none is left."""
        kept = self.kept.get(endpoint)
        found = kept.get(message_id) if kept else None
        if found is None:
            return None
        wire = found.wire
        if recipients is not None and type(wire) is Copy:
            left = tuple(agent for agent in wire.recipients if agent not in recipients)
            if left:
                found.wire = wire._replace(recipients=left)
                return None
        del kept[message_id]
        self.publishes.ended(message_id, found.counted)
        return wire

    def unparked(self, endpoint: str, wire: Call | Copy) -> None:
        """A message that waited for a move goes to its recipient's host."""
        if type(wire) is Copy:
            self.publishes.ended(wire.id, self.publishes.of(wire.id))
        self.deliver(endpoint, wire)
        self.publishes.settle(wire.id)

    def pass_on(self, source: str, to: str | None, wire: Call | Copy, agent: str) -> None:
        """A message queued for ``agent`` at ``source`` goes with it to ``to`` (None: it waits for the agent's
        move under way): kept for ``to`` now, and for ``source`` no more for that agent (a copy: still for its
        other recipients there)."""
        if type(wire) is Copy:
            wire = wire._replace(recipients=(agent,))
        self._finish(source, wire.id, (agent,))
        if to is not None:
            self.deliver(to, wire)
        elif self.whereabouts is not None and self.whereabouts.park(wire):
            self.publishes.parked(wire.id)
        self.publishes.settle(wire.id)

    async def _watch_kept(self) -> None:
        while True:
            await asyncio.sleep(KEEP_TICK)
            now = time.monotonic()
            for endpoint, kept in self.kept.items():
                if endpoint not in self._checking:
                    due = [message_id for message_id, one in kept.items() if one.check_at <= now]
                    if due:
                        self._checking.add(endpoint)
                        spawn(self._check(endpoint, due))

    async def _check(self, endpoint: str, message_ids: list[str]) -> None:
        """Ask the host what it has of ``message_ids``: finished ones are done, the rest it lacks go again."""
        try:
            held, finished = await self.actors.get(endpoint).holding.remote(message_ids)
        except Exception:  # restarting: it says so when it is back, and gets everything kept for it then
            return
        finally:
            self._checking.discard(endpoint)
        for message_id, recipients in finished.items():
            self.done(endpoint, message_id, recipients)
        self.counts["kept_checked"] += len(message_ids)  # what is left of them, and not held, goes again
        self._put(endpoint, self._redeliver(endpoint, [m for m in message_ids if m not in held], "not at its host"))

    def outbox(self, endpoint: str) -> Outbox[Wire]:
        outbox = self.outboxes.get(endpoint)
        if outbox is None:
            self.actors.get(endpoint)  # started now: it is up sooner
            outbox = self.outboxes[endpoint] = Outbox(
                lambda batch: self._deliver(endpoint, self.actors.get(endpoint), batch),  # a retired host starts anew
                lambda batch, error: self._unreachable(endpoint, batch, error),
            )
        return outbox

    async def _deliver(self, endpoint: str, host: Any, batch: list[Wire]) -> None:
        """A lone call's host returns its answer in the reply if it has it soon (``Host.deliver``); if not, the
        bus need not wait for it in its caller's reply either."""
        answers = unpack(await host.deliver.remote(pack(batch)))
        for answer in answers:
            self._take_answer(endpoint, answer)
        if not answers:
            for call_id in lone_call(batch):
                self.lingering.release(call_id)

    def idle(self, endpoint: str) -> bool:
        """Nothing given to the host's outbox is still on its way to it."""
        outbox = self.outboxes.get(endpoint)
        return outbox is None or outbox.idle

    async def retire(self, endpoint: str) -> bool:
        """Stop a host that holds nothing (its agents moved away): an idle Ray actor still costs CPU and memory.
        What comes for it meanwhile waits in its outbox, and starts it anew once it is gone. False if it is
        not idle after all (or did not answer)."""
        host, outbox = self.actors.hosts.get(endpoint), self.outboxes.get(endpoint)
        if host is None or self.kept.get(endpoint) or (outbox is not None and not outbox.idle):
            return False
        if outbox is not None:
            outbox.pause()
        try:
            traces = await host.retire.remote()
            if traces is None:
                return False
            self.trace.keep(traces)
            await self.actors.stop(endpoint)
        except Exception:  # restarting, or gone already: it stays as Ray has it
            return False
        finally:
            if outbox is not None:
                outbox.resume()
        return True

    def up(self, endpoint: str, node: str, restarted: bool) -> None:
        self.actors.nodes[endpoint] = node
        if restarted:
            self.counts["host_restarts"] += 1
            self._put(endpoint, self._redeliver(endpoint, list(self.kept.get(endpoint, ())), "host restarted"))

    def _unreachable(self, endpoint: str, batch: list[Wire], error: BaseException) -> None:
        """A batch the host did not take (it died; hosts restart; or Ray could not reach it for a moment): calls
        and publish copies go again shortly, ahead of what came for the host meanwhile (one sender's messages
        keep their order), the host drops what it has handled already; a move's ``Move`` and ``Adopt`` go again
        too, ahead of them (a host that restarted is asked again anyway, and takes either twice as once; one that
        did not would never hear them, and the move would hang); answers for its callers, who died with it, are
        let go."""
        self.counts["host_unreachable"] += len(batch)
        again, moves = [], []
        for wire in batch:
            match wire:
                case Call() | Copy():
                    again.append(wire.id)
                case Move() | Adopt():
                    moves.append(wire)
                case Answer():
                    self._give_up(wire, RaybusError(f"host {endpoint} is unreachable: {error}"))
                case Delivered():
                    pass  # the host sends its kept publishes again once back, and hears of them then
        self.outbox(endpoint).retry(lambda: self._again(endpoint, moves, again, str(error)), BUS_RETRY_DELAY)

    def _again(self, endpoint: str, moves: list[Move | Adopt], message_ids: list[str], why: str) -> list[Wire]:
        """A move's messages first, then calls and copies: an agent hears it lives here before its messages."""
        self.counts["moves_sent_again"] += len(moves)
        return [*moves, *self._redeliver(endpoint, message_ids, why)]

    def _redeliver(self, endpoint: str, message_ids: Iterable[str], why: str) -> list[Call | Copy]:
        """What of ``message_ids`` goes to the host again: not what was handled meanwhile, nor what is past its
        time (given up), nor what is for an agent that left it (it goes where the agent went)."""
        kept = self.kept.get(endpoint, {})
        now = time.monotonic()
        wires = []
        for message_id in message_ids:
            one = kept.get(message_id)
            if one is None:
                continue  # handled meanwhile
            if one.give_up_at < now:
                del kept[message_id]
                self.publishes.forget(message_id)
                self.counts["given_up"] += 1
                self._give_up(one.wire, RaybusError(f"host {endpoint} did not handle it in time: {why}"))
                continue
            self.counts["redeliveries"] += 1
            if self._elsewhere(endpoint, one.wire):
                continue
            one.check_at = now + KEEP_AGE
            wires.append(one.wire)
        return wires

    def _put(self, endpoint: str, wires: list[Call | Copy]) -> None:
        outbox = self.outbox(endpoint)
        for wire in wires:
            outbox.put(wire)

    def _elsewhere(self, endpoint: str, wire: Call | Copy) -> bool:
        """A message for the host again (sent again, or a copy that waited for one before it) whose recipients
        left it, or are leaving: it goes where each went (or waits for the move), and True; False if every
        recipient still lives there."""
        whereabouts = self.whereabouts
        if whereabouts is None:
            return False
        agents = (wire.target,) if type(wire) is Call else wire.recipients
        places = {agent: whereabouts.locate(agent) for agent in agents}
        if all(place == endpoint for place in places.values()):
            return False
        self.counts["sent_where_moved"] += 1
        self._finish(endpoint, wire.id, None)  # kept for where each recipient is now, instead
        for place in dict.fromkeys(places.values()):
            together = tuple(agent for agent, at in places.items() if at == place)
            for part in [together] if place is not None else [(agent,) for agent in together]:  # one per move
                one = wire if type(wire) is Call else wire._replace(recipients=part)
                if place is None:
                    self.publishes.parked(wire.id)
                    whereabouts.park(one)
                else:
                    self.deliver(place, one)
        self.publishes.settle(wire.id)
        return True

    def held(self) -> dict[str, int]:
        """What this shard still answers for: queued for hosts, given and not done, publishes not reported."""
        return {"queued": sum(len(o) + o.in_flight for o in self.outboxes.values()),
                "unacked": sum(len(kept) for kept in self.kept.values()),
                "publishes_tracked": len(self.publishes)}

    def figures(self) -> dict[str, int]:
        outboxes = self.outboxes.values()
        return self.held() | {"to_host_batches": sum(o.batches for o in outboxes),
                              "to_host_items": sum(o.items for o in outboxes)}

    def destroy(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self.actors.destroy()
        self.outboxes.clear()
        self.kept.clear()
