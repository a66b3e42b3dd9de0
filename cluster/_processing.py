"""Processing: the agents of one host at work — their activations, the messages the host takes for them,
running each handler in its agent's mailbox, and how a message ends.

The end of a message: its answer is remembered by the agent (a copy of the message gets it again), stored
with the agent's state when it is durable, and only then sent, with the publishes the handler made; a
message the bus gave that has no answer is acknowledged with ``Done`` once every recipient here finished
it. A write that fails is tried again, its answer and publishes waiting for it: a caller never hears that
something did not happen which a later write stores.

The host owns one ``Processing`` and is its ``Carrier``: where answers and dead letters go, the way to the
bus, and the port its agents' contexts send through."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import traceback
from collections import Counter
from typing import Any, NamedTuple, Protocol

from ._activation import NEW, RUNNING, STORED, Activation, Outcome
from ._agent import MessageContext
from ._agent_id import AgentId
from ._errors import AgentMoved, Fenced, HandlerError, RaybusError, StoreUnavailable, UnknownMessageType, error_payload
from ._idle import Idle
from ._intake import Intake
from ._mailbox import Mailbox
from ._port import CURRENT_AGENT, Port
from ._principal import stamped
from ._routing import RoutingTable
from ._shards import BusOutboxes
from ._state_writer import StateWriter
from ._topic import TopicId
from ._trace import Kind, TraceLog, is_sampled
from ._wire import Answer, Call, Copy, Done, Publish, new_message_id
from .constants import RETRY_DELAY, SEEN

__all__ = ["Carrier", "Inspection", "Processing"]


class Inspection(NamedTuple):
    """An ``@inspectable`` method of an agent to run in its mailbox order (``Runtime.inspect``)."""

    method: str
    args: tuple
    future: asyncio.Future


class Carrier(Port, Protocol):
    """What processing needs of its host."""

    name: str
    table: RoutingTable
    to_bus: BusOutboxes
    buses: list[Any]  # the bus shards' actors

    def route(self, message: Answer, key: str | None = None) -> None: ...

    def dead_letter(self, message: Call | Copy, reason: str, detail: str) -> None: ...

    def send_kept(self, publish: Publish) -> None: ...

    def passed_on(self, message_id: str) -> None: ...

    def not_here(self, agent_id: str) -> None: ...


class Processing:
    def __init__(self, host: Carrier, states: StateWriter | None, counts: Counter[str], trace: TraceLog) -> None:
        self.host = host
        self.states = states
        self.counts = counts
        self.trace = trace
        self.activations: dict[str, Activation] = {}
        self.intake = Intake()
        # message id → the answer it had from an activation whose on_start raised (the last SEEN): that activation
        # is gone, so a later copy (the bus's redelivery racing the answer) is answered so again, never run
        self.start_failures: dict[str, Outcome] = {}
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
            self.fail(message, exc if isinstance(exc, RaybusError) else HandlerError(
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

    def fail(self, message: Call | Copy, error: BaseException | None, agent_id: str | None, reason: str = "") -> None:
        self._report_failure(message, error, agent_id, reason or type(error).__name__)
        self._finish(message, agent_id, _failure(message, error))

    def _fail_start(self, message: Call | Copy, error: BaseException, agent_id: str) -> None:
        """A message that hears its agent's on_start failure: remembered with that answer, as ``seen`` would."""
        self._report_failure(message, error, agent_id, "start_failed")
        outcome = self.start_failures[message.id] = _failure(message, error)
        if len(self.start_failures) > SEEN:
            del self.start_failures[next(iter(self.start_failures))]
        self._conclude(message, agent_id, outcome)

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
        agent_id = str(agent.id)
        if activation.start_failed is not None:
            self._fail_start(message, activation.start_failed, agent_id)
            return
        admitted = activation.admit(message.id) if message.id not in self.start_failures else \
            self.start_failures[message.id]
        if admitted is STORED:
            try:
                admitted = activation.answer_in(await self.states.load(agent_id), message.id)
            except Exception as exc:  # the store cannot be read: the copy hears it (its first answer stays stored)
                self._report_failure(message, exc, agent_id, "answer_unreadable")
                self._conclude(message, agent_id, _failure(message, StoreUnavailable(
                    f"{agent_id}: the answer of {message.id} could not be read back: {exc}")), replayed=True)
                return
            self.counts["answers_read_back"] += 1
        if admitted is not NEW:
            self._repeat(message, agent_id, admitted)
            return
        if type(message) is Call and message.expired(time.time()):
            self.fail(message, None, agent_id, reason="expired")
            return
        info = agent.handlers.get(message.type_name)
        if info is None:
            self.fail(message, UnknownMessageType(
                f"{agent_id} has no handler for {message.type_name}; it handles {', '.join(agent.handlers)}"),
                agent_id)
            return
        try:
            decoded = self.host.table.messages.decode(message.type_name, message.payload)
        except RaybusError as exc:
            self.fail(message, exc, agent_id)
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
            self.fail(message, exc, agent_id)
            return
        except Exception as exc:
            self.fail(message, HandlerError(str(exc), type(exc).__qualname__, traceback.format_exc()), agent_id)
            return
        finally:
            CURRENT_AGENT.reset(running)
        self.counts["handled"] += 1
        self._finish(message, agent_id, self._outcome(message, result, agent_id), remember=not info.pure)

    # --- the end of a message -----------------------------------------------------------------
    def _outcome(self, message: Call | Copy, result: Any, agent_id: str) -> Outcome:
        """What a handler's result answers: nothing for a publish copy."""
        if type(message) is Copy:
            return None
        try:
            type_name, payload = ("", None) if result is None else self.host.table.messages.encode(result)
        except RaybusError as exc:
            error = HandlerError(f"cannot send the reply of {agent_id}: {exc}", type(exc).__name__)
            self._report_failure(message, error, agent_id, type(error).__name__)
            return (True, "", error_payload(error))
        return (False, type_name, payload)

    def _finish(self, message: Call | Copy, agent_id: str | None, outcome: Outcome, remember: bool = True) -> None:
        """The agent is done with the message: its answer is remembered, stored with the agent's state (when
        durable), and only then sent, so an answered message is a durable one. A pure handler's answer is not
        remembered (``remember``): a copy runs it again."""
        activation = self.activations.get(agent_id) if agent_id is not None else None
        if activation is None or message.id not in activation.running or not remember:
            self._conclude(message, agent_id, outcome)
            return
        activation.record(message.id, outcome)
        if not activation.durable:
            self._conclude(message, agent_id, outcome)
            return
        self._save_then_conclude(activation, message, agent_id, outcome)

    def _save_then_conclude(self, activation: Activation, message: Call | Copy, agent_id: str,
                            outcome: Outcome) -> None:
        saving = self.states.mark(agent_id, activation.state)  # the mailbox goes on meanwhile
        published = activation.take_held()

        def saved(done: asyncio.Future) -> None:
            activation.written(published, stored=done.exception() is None)
            if done.exception() is None:
                for publish in published:
                    self.host.send_kept(publish)
                self._conclude(message, agent_id, outcome)
                return
            if isinstance(done.exception(), Fenced):  # a ghost: its successor has the message, we say nothing
                self.counts["fenced"] += 1
                return
            self.counts["state_write_retries"] += 1  # the change stays in memory: store it, then answer
            asyncio.get_running_loop().call_later(RETRY_DELAY, self._save_then_conclude, activation, message,
                                                  agent_id, outcome)

        saving.add_done_callback(saved)

    def _conclude(self, message: Call | Copy, agent_id: str | None, outcome: Outcome, replayed: bool = False) -> None:
        """Send the answer (which the bus takes as the message's acknowledgement), or acknowledge a message
        the bus gave that has none."""
        activation = self.activations.get(agent_id) if agent_id is not None else None
        if activation is not None:
            activation.release(message.id)
        finished = self.intake.let_go(message.id, agent_id) if agent_id is not None else ()
        if outcome is not None:
            self._answer(message, *outcome, agent_id, replayed)
        elif finished:  # every recipient here is done with a message the bus gave that has no answer
            self.host.to_bus.put(Done(message.id, finished), message.target)

    def _repeat(self, message: Call | Copy, agent_id: str, admitted: Any) -> None:
        """A copy of a message the agent has had: the first copy answers, or answered and is answered again."""
        self.counts["duplicates_dropped"] += 1
        if admitted is not RUNNING:
            self.counts["answers_replayed"] += admitted is not None
            self._conclude(message, agent_id, admitted, replayed=True)

    def _answer(self, call: Call, failed: bool, type_name: str, payload: Any, agent_id: str | None,
                replayed: bool = False) -> None:
        answer = Answer(new_message_id(), call.trace, agent_id, call.origin, type_name, payload, call.id, failed,
                        replayed)
        if is_sampled(call.trace):
            self.trace.record(call.trace, Kind.ERROR if failed else Kind.REPLY, agent_id, call.sender or "driver",
                              type_name or ("error" if failed else ""), call.id)
        self.host.route(answer, call.target)

    def _report_failure(self, message: Call | Copy, error: BaseException | None, agent_id: str | None,
                        reason: str) -> None:
        self.counts[f"failed_{reason}"] += 1
        self.host.dead_letter(message, reason, str(error or reason))


def _failure(message: Call | Copy, error: BaseException | None) -> Outcome:
    """The answer a failed message gets: the error for a call, nothing for a publish copy."""
    return (True, "", error_payload(error)) if type(message) is Call and error is not None else None
