"""Finishing: how a host ends a message. The answer is remembered by the agent (a copy of the message gets
it again), stored with the agent's state when it is durable, and only then sent, with the publishes the
handler made; a message the bus delivered that has no answer is acknowledged once every recipient here
finished it. A write that fails is tried again, its answer and publishes waiting for it: a caller never
hears that something did not happen which a later write stores."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from ._activation import RUNNING, Activation, Outcome
from ._errors import HandlerError, RaybusError, error_payload
from ._routing import RoutingTable
from ._shards import BusOutboxes
from ._state import StateWriter
from ._trace import Kind, TraceLog, is_sampled
from ._wire import Answer, Call, Copy, Done, Publish, new_message_id
from .constants import FINISHED, RETRY_DELAY

__all__ = ["Finishing"]


class Finishing:
    """Mixed into ``Host``, whose state it works on."""

    name: str
    table: RoutingTable
    activations: dict[str, Activation]
    taken: dict[str, set[str]]
    finished: dict[str, None]
    states: StateWriter | None
    to_bus: BusOutboxes
    counts: Counter[str]
    trace: TraceLog

    def _route(self, message: Answer, key: str | None = None) -> None:
        raise NotImplementedError

    def send_kept(self, publish: Publish) -> None:
        raise NotImplementedError

    def _dead_letter(self, message: Call | Copy, reason: str, detail: str, sender: str | None) -> None:
        raise NotImplementedError

    def _outcome(self, message: Call | Copy, result: Any, agent_id: str) -> Outcome:
        """What a handler's result answers: nothing for a publish copy."""
        if type(message) is Copy:
            return None
        try:
            type_name, payload = ("", None) if result is None else self.table.messages.encode(result)
        except RaybusError as exc:
            error = HandlerError(f"cannot send the reply of {agent_id}: {exc}", type(exc).__name__)
            self._report_failure(message, error, agent_id, type(error).__name__)
            return (True, "", error_payload(error))
        return (False, type_name, payload)

    def _finish(self, message: Call | Copy, agent_id: str, outcome: Outcome) -> None:
        """The agent is done with the message: its outcome is remembered, stored with the agent's state (when
        durable), and only then sent, so an answered message is a durable one."""
        activation = self.activations.get(agent_id)
        if activation is None or message.id not in activation.running:
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
            if done.exception() is None:
                for publish in published:
                    self.send_kept(publish)
                self._conclude(message, agent_id, outcome)
                return
            self.counts["state_write_retries"] += 1  # the change stays in memory: store it, then outcome
            activation.held[:0] = published
            asyncio.get_running_loop().call_later(RETRY_DELAY, self._save_then_conclude, activation, message,
                                                  agent_id, outcome)

        saving.add_done_callback(saved)

    def _conclude(self, message: Call | Copy, agent_id: str, outcome: Outcome, replayed: bool = False) -> None:
        """Send the answer (which the bus takes as the message's acknowledgement), or acknowledge a message
        the bus delivered that has none."""
        activation = self.activations.get(agent_id)
        if activation is not None:
            activation.release(message.id)
        last = self._let_go(message.id, agent_id)
        if outcome is not None:
            self._answer(message, *outcome, agent_id, replayed)
        elif last:  # every recipient here is done with a message the bus gave us that has no answer
            self.to_bus.put(Done(message.id), message.target)

    def _let_go(self, message_id: str, agent_id: str) -> bool:
        """``agent_id`` finished a message the bus gave us: True if it was the last recipient here."""
        taken = self.taken.get(message_id)
        if taken is None or agent_id not in taken:
            return False  # delivered in-process, or an inspection
        taken.discard(agent_id)
        if taken:
            return False
        del self.taken[message_id]
        self.finished[message_id] = None
        if len(self.finished) > FINISHED:
            del self.finished[next(iter(self.finished))]
        return True

    def _repeat(self, message: Call | Copy, agent_id: str, admitted: Any) -> None:
        """A copy of a message the agent has had: the first copy answers, or answered and is answered again."""
        self.counts["duplicates_dropped"] += 1
        if admitted is not RUNNING:
            self.counts["answers_replayed"] += admitted is not None
            self._conclude(message, agent_id, admitted, replayed=True)

    def _answer(self, call: Call, failed: bool, type_name: str, payload: Any, agent_id: str,
                replayed: bool = False) -> None:
        answer = Answer(new_message_id(), call.trace, agent_id, call.origin, type_name, payload, call.id, failed,
                        replayed)
        if is_sampled(call.trace):
            self.trace.record(call.trace, Kind.ERROR if failed else Kind.REPLY, agent_id, call.sender or "driver",
                              type_name or ("error" if failed else ""), call.id)
        self._route(answer, call.target)

    def _report_failure(self, message: Call | Copy, error: BaseException | None, agent_id: str, reason: str) -> None:
        self.counts[f"failed_{reason}"] += 1
        self._dead_letter(message, reason, str(error or reason), agent_id)

    def _fail(self, message: Call | Copy, error: BaseException | None, agent_id: str, reason: str = "") -> None:
        self._report_failure(message, error, agent_id, reason or type(error).__name__)
        outcome = (True, "", error_payload(error)) if type(message) is Call and error is not None else None
        self._finish(message, agent_id, outcome)
