"""Host: a Ray actor that runs agents, each with its own state and serial mailbox (its ``Processing``).

A call between two agents of this host is delivered in-process, by the host's copy of the routing table
and the same routing step as the bus (``Router``); everything else goes through the bus in batches.
Delivery only enqueues: a batch is accepted at once and answers travel back on their own.
"""

from __future__ import annotations

import gc
from collections import Counter
from typing import Any

import ray
from pydantic import BaseModel

from ._activation import OUT_PART
from ._agent_id import AgentId
from ._direct import DirectCalls
from ._endpoint import Endpoint
from ._errors import NotAuthorized, RaybusError
from ._handover import Handover
from ._inspection import HostInspection
from ._kept_watch import KeptWatch
from ._linger import Lingering, lone_call
from ._location import open_state_store
from ._messages import DEAD_LETTER_TYPE, dead_letter
from ._metrics import MetricsExporter, process_figures
from ._port import CURRENT_AGENT
from ._processing import Processing
from ._router import Router
from ._routing import RoutingTable
from ._self_calls import unwrapped_self_calls
from ._shards import BusOutboxes, from_shard_zero, shard_key, table_of
from ._state_writer import StateWriter
from ._tasks import spawn
from ._topic import TopicId
from ._trace import TraceLog
from ._wire import Adopt, Answer, Call, Copy, Delivered, Move, Publish, pack, unpack
from .constants import ANSWER_LINGER, DEFAULT_WINDOW, bus_name, shard_of

__all__ = ["Host"]


class Host(Endpoint, HostInspection):
    # No routing table among the arguments: Ray keeps a large constructor argument in the object store and a
    # restart fails once it is gone (ray-project/ray#53727); the host asks shard 0 for the table instead.
    def __init__(self, endpoint: str, namespace: str, state: str | None = None, window: int = DEFAULT_WINDOW,
                 shards: int = 1) -> None:
        unwrapped_self_calls(self)
        self.namespace = namespace
        self.buses = [ray.get_actor(bus_name(shard), namespace=namespace) for shard in range(shards)]
        super().__init__(endpoint, table_of(self.buses[0], namespace), window)
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.table.moved.update(from_shard_zero(lambda: self.buses[0].moves_for.remote(endpoint, restarted),
                                                namespace))
        self.to_bus = BusOutboxes(self.buses, lambda: self.name,
                                  lambda message: type(message) is not Call or message.id in self.pending,
                                  self._bus_restarted, answered=self.accept_answer)
        self.lingering = Lingering()  # answers the bus waits for in the reply of ``deliver``
        self.counts: Counter[str] = Counter()
        self.trace = TraceLog(endpoint)
        self.router = Router(lambda: self.table, self.trace)
        states = StateWriter(open_state_store(state, namespace, writer=endpoint), self.counts) if state else None
        self.processing = Processing(self, states, self.counts, self.trace)
        self.handover = Handover(self, self.processing, self.counts)
        self.direct = DirectCalls(self, self.counts)
        self.metrics = MetricsExporter(namespace, endpoint, lambda: self.counts)
        self.cpu_at_start = process_figures()["cpu_s"]
        self.node = ray.get_runtime_context().get_node_id()
        self.kept_watch = KeptWatch(self.buses, self.to_bus, self.processing.kept, self.counts)
        for bus in self.buses:  # where we run, and (restarted) that what we had not finished must come again
            bus.host_up.remote(endpoint, self.node, restarted)
        if states is not None:
            ray.get_runtime_context().current_actor.recover.remote()  # once this constructor is done
        # What the process holds by now lives as long as it: the cyclic collector need not scan it again. No
        # gc.collect() first (Ray Serve's replicas do one): a fresh process holds little garbage, and a full
        # collection (23 ms measured in an idle host process) would be paid by every host, one per agent with
        # Dedicated().
        gc.freeze()

    # --- Ray-facing methods -------------------------------------------------------------------
    async def deliver(self, batch: bytes) -> bytes:
        """Take a batch from the bus; returns once it is taken, never once it is handled. A batch that is one
        call waits up to ``ANSWER_LINGER`` for that call's answer, to return it in the reply."""
        self.metrics.start()
        self.direct.closed = False  # the bus gives a host it stops nothing: it was not stopped after all
        messages = unpack(batch)
        catch = self.lingering.expect(lone_call(messages))
        for message in messages:
            match message:
                case Call(target=recipient):
                    if self.direct.waiting:
                        self.direct.by_bus(message.id)
                    self.processing.take(message, (recipient,))
                case Copy(recipients=recipients):
                    self.processing.take(message, recipients)
                case Delivered(id=message_id, publisher=publisher):
                    self.kept_watch.delivered(message_id)
                    self.direct.settled(message_id)
                    self.processing.published(message_id, publisher)
                case Answer():
                    self.accept_answer(message)
                case Move(agent=agent, to=to):
                    self.handover.move(agent, to)
                case Adopt(agent=agent, state=state):
                    self.handover.adopt(agent, state)
        return pack(await self.lingering.answers(catch, ANSWER_LINGER))

    async def answer_direct(self, origin: str, batch: bytes) -> bytes | None:
        """A call from an agent of the host ``origin``, straight from it: its answer, or ``TAKEN_BY_BUS`` (the
        answer comes through the bus), or None (not taken: it goes through the bus). See ``_direct.py``."""
        (call,) = unpack(batch)
        return await self.direct.answer(origin, call)

    async def traffic(self) -> tuple[list[tuple[str, str, int]], bool]:
        """The messages between agents handled here since the last ask, as (sender, recipient, messages): the
        bus plans moves by them; and whether this host is idle (it may be retired). Counting starts with the
        first ask (a bus that plans no moves never asks)."""
        counted, self.processing.traffic = self.processing.traffic or {}, Counter()
        return [(sender, recipient, calls) for (sender, recipient), calls in counted.items()], self._idle()

    async def retire(self) -> dict[str, list] | None:
        """The bus stops this host if it is idle (it gives it nothing meanwhile): the traces recorded here, to
        keep; None if it is not idle."""
        if not self._idle():
            return None
        self.direct.closed = True  # no call from another host either, until the bus has stopped us
        return self.trace.all()

    def _idle(self) -> bool:
        """No agent here, nothing held for one or on its way, no call of ours waiting: nothing is lost with us."""
        processing = self.processing
        return (not processing.activations and not processing.carried and not self.pending and not self.lingering
                and not self.direct.waiting
                and not self.handover.holding and not self.handover.leaving and not any(processing.held().values())
                and not any(self.to_bus.held().values()) and (processing.states is None or processing.states.idle))

    async def holding(self, message_ids: list[str]) -> tuple[set[str], dict[str, tuple[str, ...]]]:
        """Of ``message_ids`` (given to us by the bus): those some recipient here still has, and those every
        recipient here has finished lately (and who they were). The bus sends again what is in neither, to
        the recipients it gave it to that are not among them."""
        return self.processing.intake.holding(message_ids)

    async def recover(self) -> None:
        """After a start: the agents of this host that had publishes not yet handled everywhere come back,
        and an agent loaded with kept publishes sends them again (recipients drop copies they have had);
        then kept publishes are watched."""
        watching = spawn(self.kept_watch.watch())
        states = self.processing.states
        for agent_id in await states.call(states.store.agents_with, OUT_PART):
            if self.table.known_endpoint_of(agent_id) == self.name:
                try:
                    self.processing.wake(agent_id)
                except Exception:  # its next message tries again, and says why
                    self.counts["recover_errors"] += 1
        await watching

    async def moves(self) -> tuple[dict[str, str], dict[str, str]]:
        """Where the agents moved to or from this host live, and the agents handed over whose ``Moved`` the bus
        has not taken yet, with where they go (a restarted bus asks before it routes anything)."""
        return dict(self.table.moved), dict(self.handover.leaving)

    async def bus_restarted(self, shard: int = 0) -> None:
        """Told by a restarted shard (``heard`` tells us too, at our next batch through it)."""
        self._bus_restarted(shard)

    def _bus_restarted(self, shard: int) -> None:
        """A bus shard lost what it held: our calls through it still waiting for an answer and our agents'
        kept publishes go again (recipients drop copies)."""
        kept = self.processing.kept()
        again = [m for m in [*self.via_bus.values(), *kept] if shard_of(shard_key(m), len(self.buses)) == shard]
        # it has forgotten where we run, and which agents were moved here
        self.buses[shard].host_up.remote(self.name, self.node, False, self.handover.here())
        self.counts["resent_after_bus_restart"] += len(again)
        kept_ids = {publish.id for publish in kept}
        self.direct.bus_restarted(lambda publish_id, topic: publish_id not in kept_ids
                                  and shard_of(topic, len(self.buses)) == shard)
        for message in again:
            if type(message) is Publish:
                self.send_kept(message)
            else:
                self.to_bus.put(message)

    async def update_table(self, table: RoutingTable) -> None:
        if table.version >= self.table.version:
            table.moved = self.table.moved  # the bus's table travels without moves: ours are our own
            self.table = table

    async def send(self, sender: str | None, recipient: AgentId, message: BaseModel, trace_id: str,
                   timeout: float | None) -> Any:
        self._sends_as_itself(sender)
        sending = self.processing.idle.sending  # an agent awaiting an answer is not idle
        sending[sender] += 1
        try:
            return await super().send(sender, recipient, message, trace_id, timeout)
        finally:
            sending[sender] -= 1
            if not sending[sender]:
                del sending[sender]

    async def publish(self, sender: str | None, topic: TopicId, message: BaseModel, trace_id: str) -> None:
        self._sends_as_itself(sender)
        await super().publish(sender, topic, message, trace_id)

    async def checkpoint(self, agent_id: str) -> None:
        self._sends_as_itself(agent_id)
        await self.processing.checkpoint(agent_id)

    def _sends_as_itself(self, sender: str | None) -> None:
        """An agent's messages go out as the agent whose handler is running, whatever id its code passes."""
        running = CURRENT_AGENT.get()
        if sender is None or sender != running:
            self.counts["forged_senders"] += 1
            raise NotAuthorized(f"{running or 'code outside any handler'} may not send as {sender!r}")

    # --- what processing and the endpoint ask -------------------------------------------------
    def route(self, message: Call | Answer | Publish, key: str | None = None) -> None:
        """``key`` names the bus shard (an answer goes through the shard of the call it answers)."""
        match message:
            case Call(id=call_id) if call_id not in self.pending:
                self.counts["calls_over_unsent"] += 1  # its caller stopped waiting (and heard so) while it was
                return  # held behind a move or a call of the same pair: no one waits for what it would do
            case Call(target=target) if self.table.known_endpoint_of(target) == self.name:  # else the bus decides
                if message.sender is not None:
                    self.direct.call_made(message)
                if self.handover.holding and self.handover.hold(message):
                    return
                try:
                    _, message = self.router.call(message)
                except RaybusError as exc:  # refused by the same step the bus would have run
                    self.processing.ending.fail(message, exc, None)
                    return
                self.counts["local_deliveries"] += 1
                self.processing.enqueue(target, message)
                return
            case Call(sender=sender) if sender is not None and self.direct.send(message):
                return  # host to host, or waiting for the call of the same pair that went so
            case Call():
                self.via_bus[message.id] = message
            case Answer() if self.direct.waiting and self.direct.caught(message, key):
                return  # it goes back in the reply of the call from another host
            case Answer(caller=caller) if caller == self.name:
                self.counts["local_answers"] += 1
                self.accept_answer(message)
                return
            case Answer() if self.lingering and self.to_bus.for_key(key or shard_key(message)).idle \
                    and self.lingering.catch(message):
                self.counts["answers_in_replies"] += 1  # the bus waits for it in the reply of ``deliver``
                return
            case Publish(sender=sender) if sender is not None:
                self.direct.published(message)  # its sender's calls go through the bus until it is handled
                publisher = self.processing.activations.get(sender)
                if publisher is not None and publisher.durable:
                    # sent once the write of the change that made it is done; kept until the bus says handled
                    publisher.keep(message._replace(kept=True))
                    return
        self.to_bus.put(message, key)

    def _call_over(self, call_id: str) -> None:
        self.direct.settled(call_id)

    def passed_on(self, message_id: str) -> None:
        """A message that left with its agent in a move: the bus has it now."""
        self.direct.by_bus(message_id)

    def not_here(self, agent_id: str) -> None:
        self.handover.not_here(agent_id)

    def send_kept(self, publish: Publish) -> None:
        self.kept_watch.send(publish)

    def _late_answer(self, answer: Answer) -> None:
        super()._late_answer(answer)
        self.dead_letter(answer, "late_answer", "the caller stopped waiting")

    def dead_letter(self, message: Call | Answer | Copy, reason: str, detail: str) -> None:
        """Published by the runtime (sender None): only the runtime publishes dead letters."""
        if message.type_name != DEAD_LETTER_TYPE:  # a dead letter about a dead letter would loop
            self.to_bus.put(dead_letter(message, reason, detail))

