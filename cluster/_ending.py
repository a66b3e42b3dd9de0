"""Ending: how a message ends on a host.

Its answer is remembered by the agent (a copy of the message gets it again), stored with the agent's state when
it is durable, and only then sent, with the publishes the handler made; a message the bus gave that has no
answer is acknowledged with ``Done`` once every recipient here finished it. A write that fails is tried again,
its answer and publishes waiting for it: a caller never hears that something did not happen which a later write
stores. A failed message is reported on the dead-letter topic and answered with its error."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from ._activation import RUNNING, Activation, Outcome
from ._carrier import Carrier
from ._errors import Fenced, HandlerError, RaybusError, error_payload
from ._intake import Intake
from ._state_writer import StateWriter
from ._trace import Kind, TraceLog, is_sampled
from ._wire import Answer, Call, Copy, Done, new_message_id
from .constants import RETRY_DELAY, SEEN

__all__ = ["Ending", "error_outcome"]


class Ending:
    __slots__ = ("activations", "counts", "host", "intake", "start_failures", "states", "trace")

    def __init__(self, host: Carrier, states: StateWriter | None, counts: Counter[str], trace: TraceLog,
                 activations: dict[str, Activation], intake: Intake) -> None:
        self.host = host
        self.states = states
        self.counts = counts
        self.trace = trace
        self.activations = activations
        self.intake = intake
        # message id → the answer it had from an activation whose on_start raised (the last SEEN): that activation
        # is gone, so a later copy (the bus's redelivery racing the answer) is answered so again, never run
        self.start_failures: dict[str, Outcome] = {}

    def fail(self, message: Call | Copy, error: BaseException | None, agent_id: str | None, reason: str = "") -> None:
        self.reporterror_outcome(message, error, agent_id, reason or type(error).__name__)
        self.finish(message, agent_id, error_outcome(message, error))

    def fail_start(self, message: Call | Copy, error: BaseException, agent_id: str) -> None:
        """A message that hears its agent's on_start failure: remembered with that answer, as ``seen`` would."""
        self.reporterror_outcome(message, error, agent_id, "start_failed")
        outcome = self.start_failures[message.id] = error_outcome(message, error)
        if len(self.start_failures) > SEEN:
            del self.start_failures[next(iter(self.start_failures))]
        self.conclude(message, agent_id, outcome)

    def outcome(self, message: Call | Copy, result: Any, agent_id: str) -> Outcome:
        """What a handler's result answers: nothing for a publish copy."""
        if type(message) is Copy:
            return None
        try:
            type_name, payload = ("", None) if result is None else self.host.table.messages.encode(result)
        except RaybusError as exc:
            error = HandlerError(f"cannot send the reply of {agent_id}: {exc}", type(exc).__name__)
            self.reporterror_outcome(message, error, agent_id, type(error).__name__)
            return (True, "", error_payload(error))
        return (False, type_name, payload)

    def finish(self, message: Call | Copy, agent_id: str | None, outcome: Outcome, remember: bool = True) -> None:
        """The agent is done with the message: its answer is remembered, stored with the agent's state (when
        durable), and only then sent, so an answered message is a durable one. A pure handler's answer is not
        remembered (``remember``): a copy runs it again."""
        activation = self.activations.get(agent_id) if agent_id is not None else None
        if activation is None or message.id not in activation.running or not remember:
            self.conclude(message, agent_id, outcome)
            return
        activation.record(message.id, outcome)
        if not activation.durable:
            self.conclude(message, agent_id, outcome)
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
                self.conclude(message, agent_id, outcome)
                return
            if isinstance(done.exception(), Fenced):  # a ghost: its successor has the message, we say nothing
                self.counts["fenced"] += 1
                return
            self.counts["state_write_retries"] += 1  # the change stays in memory: store it, then answer
            asyncio.get_running_loop().call_later(RETRY_DELAY, self._save_then_conclude, activation, message,
                                                  agent_id, outcome)

        saving.add_done_callback(saved)

    def conclude(self, message: Call | Copy, agent_id: str | None, outcome: Outcome, replayed: bool = False) -> None:
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

    def repeat(self, message: Call | Copy, agent_id: str, admitted: Any) -> None:
        """A copy of a message the agent has had: the first copy answers, or answered and is answered again."""
        self.counts["duplicates_dropped"] += 1
        if admitted is not RUNNING:
            self.counts["answers_replayed"] += admitted is not None
            self.conclude(message, agent_id, admitted, replayed=True)

    def _answer(self, call: Call, failed: bool, type_name: str, payload: Any, agent_id: str | None,
                replayed: bool = False) -> None:
        answer = Answer(new_message_id(), call.trace, agent_id, call.origin, type_name, payload, call.id, failed,
                        replayed)
        if is_sampled(call.trace):
            self.trace.record(call.trace, Kind.ERROR if failed else Kind.REPLY, agent_id, call.sender or "driver",
                              type_name or ("error" if failed else ""), call.id)
        self.host.route(answer, call.target)

    def reporterror_outcome(self, message: Call | Copy, error: BaseException | None, agent_id: str | None,
                       reason: str) -> None:
        self.counts[f"failed_{reason}"] += 1
        self.host.dead_letter(message, reason, str(error or reason))


def error_outcome(message: Call | Copy, error: BaseException | None) -> Outcome:
    """The answer a failed message gets: the error for a call, nothing for a publish copy."""
    return (True, "", error_payload(error)) if type(message) is Call and error is not None else None
