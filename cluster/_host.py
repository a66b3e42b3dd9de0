"""Host: a Ray actor that runs agents, each with its own state and serial mailbox.

A call between two agents of this host is delivered in-process, by the host's copy of the routing table
and the same routing step as the bus (``Router``); everything else goes through the bus in batches.
Delivery only enqueues: a batch is accepted at once and answers travel back on their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections import Counter
from typing import Any, NamedTuple

import ray

from ._activation import NEW, OUT_PART, Activation
from ._agent import MessageContext
from ._agent_id import AgentId
from ._endpoint import Endpoint
from ._errors import HandlerError, RaybusError, UnknownMessageType
from ._finishing import Finishing
from ._mailbox import Mailbox
from ._messages import DEAD_LETTER_TYPE, dead_letter
from ._metrics import MetricsExporter, process_figures
from ._router import Router
from ._routing import RoutingTable
from ._shards import UNAVAILABLE, BusOutboxes, shard_key, table_of
from ._state import SqliteStateStore, StateWriter
from ._topic import TopicId
from ._trace import TraceLog
from ._wire import Answer, Call, Copy, Delivered, Publish, unpack
from .constants import DEFAULT_WINDOW, KEEP_TICK, KEPT_AGE, bus_name, shard_of

__all__ = ["Host"]


log = logging.getLogger("raybus.host")


class Inspection(NamedTuple):
    """A plain method of an agent to run in its mailbox order (``Runtime.call``: for checks and tests)."""

    method: str
    args: tuple
    future: asyncio.Future


class Host(Finishing, Endpoint):
    # No routing table among the arguments: Ray keeps a large constructor argument in the object store and a
    # restart fails once it is gone (ray-project/ray#53727); the host asks shard 0 for the table instead.
    def __init__(self, endpoint: str, namespace: str, state_path: str | None = None, window: int = DEFAULT_WINDOW,
                 shards: int = 1) -> None:
        self.namespace = namespace
        self.buses = [ray.get_actor(bus_name(shard), namespace=namespace) for shard in range(shards)]
        super().__init__(endpoint, table_of(self.buses[0], namespace), window)
        self.activations: dict[str, Activation] = {}
        self.taken: dict[str, set[str]] = {}  # message id the bus gave us → its recipients here not finished
        self.finished: dict[str, None] = {}  # the last FINISHED message ids the bus gave us that are done here
        self.to_bus = BusOutboxes(self.buses, lambda: self.name,
                                  lambda message: type(message) is not Call or message.id in self.pending,
                                  self._bus_restarted)
        self.counts: Counter[str] = Counter()
        self.states = StateWriter(SqliteStateStore(state_path), self.counts) if state_path else None
        self.trace = TraceLog(endpoint)
        self.router = Router(lambda: self.table, self.trace)
        self.metrics = MetricsExporter(namespace, endpoint, lambda: self.counts)
        self.cpu_at_start = process_figures()["cpu_s"]
        self.node = ray.get_runtime_context().get_node_id()
        self.sent_at: dict[str, float] = {}  # kept publish id → when it last left for the bus
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        for bus in self.buses:  # where we run, and (restarted) that what we had not finished must come again
            bus.host_up.remote(endpoint, self.node, restarted)
        if self.states is not None:
            ray.get_runtime_context().current_actor.recover.remote()  # once this constructor is done

    # --- Ray-facing methods -------------------------------------------------------------------
    async def deliver(self, batch: list[tuple]) -> None:
        self.metrics.start()
        for message in unpack(batch):
            match message:
                case Call(target=recipient):
                    self._take(message, (recipient,))
                case Copy(recipients=recipients):
                    self._take(message, recipients)
                case Delivered(id=message_id, publisher=publisher):
                    self._published(message_id, publisher)
                case Answer():
                    self.accept_answer(message)

    def _take(self, message: Call | Copy, recipients: tuple[str, ...]) -> None:
        """Per (message id, recipient): a recipient that has this message and has not finished it does not
        get a copy; one that finished it gets it again (and answers again what it answered)."""
        taken = self.taken.get(message.id)
        if taken is None:
            taken = self.taken[message.id] = set()
        for recipient in recipients:
            if recipient in taken:
                self.counts["duplicates_dropped"] += 1
                continue
            taken.add(recipient)
            self._enqueue(recipient, message)

    async def holding(self, message_ids: list[str]) -> tuple[set[str], set[str]]:
        """Of ``message_ids`` (given to us by the bus): those some recipient here still has, and those every
        recipient here has finished lately. The bus sends again what is in neither."""
        held = {message_id for message_id in message_ids if message_id in self.taken}
        return held, {message_id for message_id in message_ids if message_id in self.finished}

    def _published(self, message_id: str, publisher: str) -> None:
        """Every copy of an agent's publish was handled: it leaves the agent's outbox."""
        self.sent_at.pop(message_id, None)
        activation = self.activations.get(publisher)
        if activation is not None and activation.outgoing.pop(message_id, None) is not None and activation.durable:
            self.states.mark(publisher, activation.state)

    def send_kept(self, publish: Publish) -> None:
        """A kept publish on its way to the bus (again): it is checked on if ``Delivered`` does not come."""
        self.sent_at[publish.id] = time.monotonic()
        self.to_bus.put(publish)

    async def recover(self) -> None:
        """After a start: the agents of this host that had publishes not yet handled everywhere come back
        and send them again (recipients drop copies they have had); then kept publishes are watched."""
        for agent_id in self.states.store.agents_with(OUT_PART):
            if self.table.known_endpoint_of(agent_id) == self.name:
                publishes = list(self._activation(agent_id).outgoing.values())
                self.counts["publishes_recovered"] += len(publishes)
                for publish in publishes:
                    self.send_kept(publish)
        await self._watch_kept()

    async def _watch_kept(self) -> None:
        """The host's side of the one redelivery policy: a kept publish sent ``KEPT_AGE`` ago and not yet
        reported ``Delivered`` is checked with its shard (``Bus.tracking``); one the shard does not know goes
        again, whatever lost it (a restart noticed late, an answer that went to a host being restarted)."""
        shards = len(self.buses)
        while True:
            await asyncio.sleep(KEEP_TICK)
            due: dict[int, list[Publish]] = {}
            now = time.monotonic()
            for activation in list(self.activations.values()):
                for publish in list(activation.outgoing.values()):
                    sent = self.sent_at.get(publish.id)
                    if sent is not None and sent + KEPT_AGE < now:
                        due.setdefault(shard_of(publish.topic, shards), []).append(publish)
            for shard, publishes in due.items():
                try:
                    tracked = await self.buses[shard].tracking.remote([publish.id for publish in publishes])
                except UNAVAILABLE:
                    continue  # it restarts and tells us; we send everything kept then
                for publish in publishes:
                    if publish.id in tracked:
                        self.sent_at[publish.id] = now
                    elif publish.id in self.sent_at:  # not Delivered meanwhile
                        self.counts["kept_sent_again"] += 1
                        self.send_kept(publish)

    async def bus_restarted(self, shard: int = 0) -> None:
        """Told by a restarted shard (``heard`` tells us too, at our next batch through it)."""
        self._bus_restarted(shard)

    def _bus_restarted(self, shard: int) -> None:
        """A bus shard lost what it held: our calls through it still waiting for an answer and our agents'
        kept publishes go again (recipients drop copies)."""
        kept = [publish for activation in self.activations.values() for publish in activation.outgoing.values()]
        again = [m for m in [*self.via_bus.values(), *kept] if shard_of(shard_key(m), len(self.buses)) == shard]
        self.buses[shard].host_up.remote(self.name, self.node, False)  # it has forgotten where we run
        self.counts["resent_after_bus_restart"] += len(again)
        for message in again:
            if type(message) is Publish:
                self.send_kept(message)
            else:
                self.to_bus.put(message)

    async def update_table(self, table: RoutingTable) -> None:
        if table.version >= self.table.version:
            self.table = table

    async def agents(self) -> list[str]:
        return list(self.activations)

    async def stats(self) -> dict[str, Any]:
        return dict(self.counts) | await self.held() | {
            "agents": len(self.activations), "late_answers": self.late_answers,
            "duplicate_answers": self.duplicate_answers, "waiting_for_window": self.window.waiting(), "node": self.node,
            **self.to_bus.figures(), **process_figures(self.cpu_at_start),
        }

    async def held(self) -> dict[str, int]:
        """What this host still answers for: messages in mailboxes, messages from the bus not finished,
        publishes kept until every copy is handled, and what waits for the bus to take it."""
        activations = self.activations.values()
        return {"queued": sum(len(a.mailbox) for a in activations), "taken": len(self.taken),
                "kept_publishes": sum(len(a.outgoing) for a in activations), **self.to_bus.held()}

    async def checkpoint(self, agent_id: str) -> None:
        """Store the agent's state now (``MessageContext.checkpoint``); its publishes held for that write go
        once it is done."""
        activation = self.activations.get(agent_id)
        if activation is None or not activation.durable:
            return
        saving = self.states.mark(agent_id, activation.state)
        published = activation.take_held()
        try:
            await saving
        except Exception:
            activation.held[:0] = published  # they go with the next write that succeeds
            raise
        self.counts["checkpoints"] += 1
        for publish in published:
            self.send_kept(publish)

    async def trace_events(self, trace_id: str) -> list:
        return self.trace.events(trace_id)

    async def call_agent(self, agent_id: str, method: str, *args: Any) -> Any:
        """Run a plain method of one agent, queued behind its messages (for inspection and checks)."""
        activation = self._activation(agent_id)
        future = asyncio.get_running_loop().create_future()
        activation.mailbox.put(Inspection(method, args, future))
        return await future

    # --- routing ------------------------------------------------------------------------------
    def _route(self, message: Call | Answer | Publish, key: str | None = None) -> None:
        """``key`` names the bus shard (an answer goes through the shard of the call it answers)."""
        match message:
            case Call(target=target) if self.table.known_endpoint_of(target) == self.name:  # else the bus decides
                try:
                    _, message = self.router.call(message)
                except RaybusError as exc:  # refused by the same step the bus would have run
                    self._fail(message, exc, None)
                    return
                self.counts["local_deliveries"] += 1
                self._enqueue(target, message)
                return
            case Call():
                self.via_bus[message.id] = message
            case Answer(caller=caller) if caller == self.name:
                self.counts["local_answers"] += 1
                self.accept_answer(message)
                return
            case Publish(sender=sender) if sender is not None:
                publisher = self.activations.get(sender)
                if publisher is not None and publisher.durable:
                    # sent once the write of the change that made it is done; kept until the bus says handled
                    publisher.keep(message._replace(kept=True))
                    return
        self.to_bus.put(message, key)

    def _late_answer(self, answer: Answer) -> None:
        super()._late_answer(answer)
        self._dead_letter(answer, "late_answer", "the caller stopped waiting", None)

    def _dead_letter(self, message: Call | Answer | Copy, reason: str, detail: str, sender: str | None) -> None:
        if message.type_name != DEAD_LETTER_TYPE:  # a dead letter about a dead letter would loop
            self.to_bus.put(dead_letter(message, reason, detail, sender))

    # --- agents -------------------------------------------------------------------------------
    def _activation(self, agent_id: str) -> Activation:
        activation = self.activations.get(agent_id)
        if activation is None:
            agent_type, _, key = agent_id.partition("/")
            agent = self.table.agent_class(agent_type)()
            agent.id = AgentId(agent_type, key)
            agent.config = self.table.spec_of(agent_type).config
            handlers = agent.handlers
            mailbox: Mailbox[Call | Copy | Inspection] = Mailbox(
                lambda message: self._process(activation, message),
                lambda message: type(message) is not Inspection and (info := handlers.get(message.type_name))
                is not None and info.interleave,
                lambda: self._start(activation),
            )
            durable = self.states is not None  # its dedup and its publishes outlive us, whatever it keeps
            activation = self.activations[agent_id] = Activation(agent, mailbox, durable)
            state = self.states.load(agent_id) if durable else None
            if state is not None:  # before on_start, which the mailbox runs ahead of the first message
                activation.load(state)
                self.counts["states_loaded"] += 1
            self.counts["activations"] += 1
        return activation

    def _enqueue(self, agent_id: str, message: Call | Copy) -> None:
        try:
            activation = self._activation(agent_id)
        except Exception as exc:
            self._fail(message, exc if isinstance(exc, RaybusError) else HandlerError(
                f"cannot activate {agent_id}: {exc}", type(exc).__qualname__, traceback.format_exc()), agent_id)
            return
        activation.mailbox.put(message)

    async def _start(self, activation: Activation) -> None:
        """An agent whose ``on_start`` raised is not left half-started: the messages already in its mailbox
        are answered with the failure, and the next message starts a new activation."""
        agent = activation.agent
        try:
            await agent.on_start()
        except Exception as exc:
            self.counts["start_errors"] += 1
            activation.start_failed = HandlerError(f"{agent.id} failed to start: {exc}", type(exc).__qualname__,
                                                   traceback.format_exc())
            if self.activations.get(str(agent.id)) is activation:
                del self.activations[str(agent.id)]

    async def _process(self, activation: Activation, message: Call | Copy | Inspection) -> None:
        agent = activation.agent
        if type(message) is Inspection:  # call_agent: a plain method, ordered with the messages
            try:
                if activation.start_failed is not None:
                    raise activation.start_failed
                message.future.set_result(getattr(agent, message.method)(*message.args))
            except Exception as exc:
                message.future.set_exception(exc)
            return
        agent_id = str(agent.id)
        if activation.start_failed is not None:
            self._fail(message, activation.start_failed, agent_id, reason="start_failed")
            return
        admitted = activation.admit(message.id)
        if admitted is not NEW:
            self._repeat(message, agent_id, admitted)
            return
        if type(message) is Call and message.expired(time.time()):
            self._fail(message, None, agent_id, reason="expired")
            return
        info = agent.handlers.get(message.type_name)
        if info is None:
            self._fail(message, UnknownMessageType(
                f"{agent_id} has no handler for {message.type_name}; it handles {', '.join(agent.handlers)}"),
                agent_id)
            return
        try:
            decoded = self.table.messages.decode(message.type_name, message.payload)
        except RaybusError as exc:
            self._fail(message, exc, agent_id)
            return
        context = MessageContext(
            AgentId.from_str(message.sender) if message.sender else None,
            TopicId.from_str(message.topic) if type(message) is Copy else None,
            message.id, message.trace, self, agent_id,
        )
        try:
            result = await getattr(agent, info.method)(decoded, context)
        except RaybusError as exc:  # a refusal the handler means (NotAuthorized...) reaches the caller as is
            self._fail(message, exc, agent_id)
            return
        except Exception as exc:
            self._fail(message, HandlerError(str(exc), type(exc).__qualname__, traceback.format_exc()), agent_id)
            return
        self.counts["handled"] += 1
        self._finish(message, agent_id, self._outcome(message, result, agent_id))
