"""Processing: the agents of one host at work — their activations, the messages the host takes for them, and
running each handler in its agent's mailbox. How a message ends (its answer remembered, stored, then sent) is
``Ending``'s.

The host owns one ``Processing`` and is its ``Carrier``."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import traceback
from collections import Counter
from typing import Any, NamedTuple

from ._activation import NEW, STORED, Activation
from ._agent import MessageContext
from ._agent_id import AgentId
from ._carrier import Carrier
from ._ending import Ending, error_outcome
from ._errors import AgentMoved, HandlerError, RaybusError, StoreUnavailable, UnknownMessageType
from ._idle import Idle
from ._intake import Intake
from ._mailbox import Mailbox
from ._port import CURRENT_AGENT
from ._principal import stamped
from ._state_writer import StateWriter
from ._topic import TopicId
from ._trace import TraceLog
from ._wire import Call, Copy, Publish

__all__ = ["Inspection", "Processing"]


class Inspection(NamedTuple):
    """An ``@inspectable`` method of an agent to run in its mailbox order (``Runtime.inspect``)."""

    method: str
    args: tuple
    future: asyncio.Future


class Processing:
    def __init__(self, host: Carrier, states: StateWriter | None, counts: Counter[str], trace: TraceLog) -> None:
        self.host = host
        self.states = states
        self.counts = counts
        self.activations: dict[str, Activation] = {}
        self.intake = Intake()
        self.ending = Ending(host, states, counts, trace, self.activations, self.intake)
        self.idle = Idle(self, counts)
        self.carried: dict[str, str] = {}  # agent id → the state it brought as JSON, moved here in memory
        # (sender, recipient) → calls handled, for moves; None until the bus first asks (it plans no moves else)
        self.traffic: Counter[tuple[str, str]] | None = None

    # --- what the host asks -------------------------------------------------------------------
    def take(self, message: Call | Copy, recipients: tuple[str, ...]) -> None:
        """A message the bus gave: each recipient gets it once while it has it (``Intake``). A recipient our
        table says lives at another host now is not given it, nor is it refused: the bus, asking what we hold,
        hears we do not have it, and gives it again where the recipient lives (``HostLinks._redeliver``); and
        we ask the bus where that is (``Handover.not_here``: our table may be the one behind)."""
        for recipient in recipients:
            if recipient not in self.activations and self._lives_elsewhere(recipient):
                self.counts["not_here"] += 1
                self.host.not_here(recipient)
            elif self.intake.take(message.id, recipient):
                self.enqueue(recipient, message)
            else:
                self.counts["duplicates_dropped"] += 1

    def enqueue(self, agent_id: str, message: Call | Copy) -> None:
        try:
            activation = self.activation(agent_id)
        except Exception as exc:
            self.ending.fail(message, exc if isinstance(exc, RaybusError) else HandlerError(
                f"cannot activate {agent_id}: {exc}", type(exc).__qualname__, traceback.format_exc()), agent_id)
            return
        activation.mailbox.put(message)

    def published(self, message_id: str, publisher: str) -> None:
        """Every copy of an agent's publish was handled: it leaves the agent's outbox."""
        activation = self.activations.get(publisher)
        if activation is not None and activation.outgoing.pop(message_id, None) is not None and activation.durable:
            self.states.mark(publisher, activation.state)

    def kept(self) -> list[Publish]:
        """Every publish this host's agents keep until the bus says it was handled, but those waiting for
        (or in) the write that stores them."""
        return [publish for activation in list(self.activations.values()) for publish in activation.sendable()]

    async def inspect(self, agent_id: str, method: str, args: tuple) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.activation(agent_id).mailbox.put(Inspection(method, args, future))
        return await future

    async def let_go(self, agent_ids: list[str]) -> None:
        """Deactivate those of the agents that may be (their type has an idle time) now, as if idle."""
        found = ((agent_id, self.activations.get(agent_id)) for agent_id in agent_ids)
        await self.idle.deactivate([(agent_id, activation.idle) for agent_id, activation in found
                                    if activation is not None and activation.idle is not None])

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
            activation.written(published, stored=False)  # they go with the next write that succeeds
            raise
        activation.written(published, stored=True)
        self.counts["checkpoints"] += 1
        for publish in published:
            self.host.send_kept(publish)

    def held(self) -> dict[str, int]:
        activations = list(self.activations.values())
        return {"queued": sum(len(a.mailbox) for a in activations), "taken": len(self.intake),
                "kept_publishes": sum(len(a.outgoing) for a in activations)}

    # --- agents -------------------------------------------------------------------------------
    def _lives_elsewhere(self, agent_id: str) -> str | None:
        """The host our table says ``agent_id`` was moved to, if not this one."""
        where = self.host.table.known_endpoint_of(agent_id)
        return where if where is not None and where != self.host.name else None

    def activation(self, agent_id: str) -> Activation:
        activation = self.activations.get(agent_id)
        if activation is None:
            table = self.host.table
            if where := self._lives_elsewhere(agent_id):  # moved away: the bus routes to it there
                raise AgentMoved(f"{agent_id} lives at {where} now, not at {self.host.name}")
            agent_type, _, key = agent_id.partition("/")
            agent = table.agent_class(agent_type)()
            agent.id = AgentId(agent_type, key)
            spec = table.spec_of(agent_type)
            agent.config = spec.config
            handlers = agent.handlers
            mailbox: Mailbox[Call | Copy | Inspection] = Mailbox(
                lambda message: self._process(activation, message),
                lambda message: type(message) is not Inspection and (info := handlers.get(message.type_name))
                is not None and info.interleave,
                lambda: self._start(activation),
            )
            durable = self.states is not None  # its dedup and its publishes outlive the host, whatever it keeps
            activation = self.activations[agent_id] = Activation(agent, mailbox, durable, spec.idle_time(durable))
            self.counts["activations"] += 1
        self.idle.used(agent_id, activation)
        return activation

    def wake(self, agent_id: str) -> None:
        """Activate the agent and start it now, before any message: it loads its state and sends again the
        publishes an earlier life kept."""
        self.activation(agent_id).mailbox.start()

    async def _load(self, activation: Activation) -> None:
        """The agent's stored state, read off the loop before ``on_start`` (the mailbox runs both ahead of the
        first message)."""
        state = await self.states.load(str(activation.agent.id))
        if state is not None:
            activation.load(state)
            self.counts["states_loaded"] += 1
            self.counts["publishes_recovered"] += len(activation.outgoing)
            for publish in activation.outgoing.values():  # kept by an earlier life: they go again
                self.host.send_kept(publish)

    async def _start(self, activation: Activation) -> None:
        """An agent whose ``on_start`` raised is not left half-started: the messages already in its mailbox
        are answered with the failure, and the next message starts a new activation."""
        agent = activation.agent
        running = CURRENT_AGENT.set(str(agent.id))
        try:
            if activation.durable:
                await self._load(activation)
            elif (carried := self.carried.pop(str(agent.id), None)) is not None:
                activation.load(json.loads(carried))
            await agent.on_start()
        except Exception as exc:
            self.counts["start_errors"] += 1
            activation.start_failed = HandlerError(f"{agent.id} failed to start: {exc}", type(exc).__qualname__,
                                                   traceback.format_exc())
            if self.activations.get(str(agent.id)) is activation:
                del self.activations[str(agent.id)]
        finally:
            CURRENT_AGENT.reset(running)

    async def _process(self, activation: Activation, message: Call | Copy | Inspection) -> None:
        agent = activation.agent
        if type(message) is Inspection:  # a plain method, ordered with the messages
            try:
                if activation.start_failed is not None:
                    raise activation.start_failed
                result = getattr(agent, message.method)(*message.args)
                message.future.set_result(await result if inspect.isawaitable(result) else result)
            except Exception as exc:
                message.future.set_exception(exc)
            return
        agent_id, ending = str(agent.id), self.ending
        if activation.start_failed is not None:
            ending.fail_start(message, activation.start_failed, agent_id)
            return
        admitted = activation.admit(message.id) if message.id not in ending.start_failures else \
            ending.start_failures[message.id]
        if admitted is STORED:
            try:
                admitted = activation.answer_in(await self.states.load(agent_id), message.id)
            except Exception as exc:  # the store cannot be read: the copy hears it (its first answer stays stored)
                error = StoreUnavailable(f"{agent_id}: the answer of {message.id} could not be read back: {exc}")
                ending.report_failure(message, exc, agent_id, "answer_unreadable")
                ending.conclude(message, agent_id, error_outcome(message, error), replayed=True)
                return
            self.counts["answers_read_back"] += 1
        if admitted is not NEW:
            ending.repeat(message, agent_id, admitted)
            return
        if type(message) is Call and message.expired(time.time()):
            ending.fail(message, None, agent_id, reason="expired")
            return
        info = agent.handlers.get(message.type_name)
        if info is None:
            ending.fail(message, UnknownMessageType(
                f"{agent_id} has no handler for {message.type_name}; it handles {', '.join(agent.handlers)}"),
                agent_id)
            return
        try:
            decoded = self.host.table.messages.decode(message.type_name, message.payload)
        except RaybusError as exc:
            ending.fail(message, exc, agent_id)
            return
        sender, principal = stamped(message.sender)
        if sender is not None and self.traffic is not None:  # calls and publish copies alike: both cross hosts
            self.traffic[(message.sender, agent_id)] += 1
        context = MessageContext(sender, TopicId.from_str(message.topic) if type(message) is Copy else None,
                                 message.id, message.trace, self.host, agent_id, principal,
                                 info.method if info.pure else "")
        running = CURRENT_AGENT.set(agent_id)
        try:
            result = await getattr(agent, info.method)(decoded, context)
        except RaybusError as exc:  # a refusal the handler means (NotAuthorized...) reaches the caller as is
            ending.fail(message, exc, agent_id)
            return
        except Exception as exc:
            ending.fail(message, HandlerError(str(exc), type(exc).__qualname__, traceback.format_exc()), agent_id)
            return
        finally:
            CURRENT_AGENT.reset(running)
        self.counts["handled"] += 1
        ending.finish(message, agent_id, ending.outcome(message, result, agent_id), remember=not info.pure)
