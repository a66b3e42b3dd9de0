"""Activation: one agent at work in a host, with its serial mailbox and the messages it has had.

Delivery is at least once (the bus sends again what a dead host had not finished), so a message can
arrive twice. The activation remembers the last ``SEEN`` message ids with their answers: a copy of a
message still being handled is dropped (the first copy answers), a copy of one already handled gets the
first answer again. With durable state the ids and answers are stored with the agent's state, in the
same transaction, so a restarted host still knows them; once stored, an answer is kept in the store alone
(its id stays in memory), and a copy, which comes rarely, has it read back (``STORED``).

With durable state an agent's publishes are an outbox kept with its state: held until the write that
stores them (and the change that made them) is done, then sent, and kept until the bus says every copy
was handled; a restarted host sends again what was still kept."""

from __future__ import annotations

import time
from typing import Any, Final

from ._agent import Agent
from ._mailbox import Mailbox
from ._state import IN_STORE, EncodedStateMap, StateMap
from ._wire import Call, Copy, Publish
from .constants import SEEN

__all__ = ["NEW", "OUT_PART", "RUNNING", "STORED", "Activation"]

_SEEN_PART = "\x1eseen"  # cannot clash with an agent's own part names, which are identifiers
OUT_PART = "\x1eout"

NEW: Final = object()  # admit: a first copy, now running
RUNNING: Final = object()  # admit: a copy of a message still being handled
STORED: Final = object()  # admit: a copy of a message handled, whose answer is in the store alone

Outcome = tuple[bool, str, Any] | None  # (failed, type name, payload) of an answer; None: nothing to say


class Activation:
    __slots__ = ("agent", "durable", "held", "idle", "mailbox", "outgoing", "running", "seen", "start_failed",
                 "writing")

    def __init__(self, agent: Agent, mailbox: Mailbox[Call | Copy | Any], durable: bool,
                 idle: float | None = None) -> None:
        self.agent = agent
        self.mailbox = mailbox
        self.durable = durable
        self.idle = idle  # seconds without a message before it is deactivated; None: never
        self.running: set[str] = set()
        # message id → [when, answer]; when durable, kept as the JSON text stored (the entries that changed)
        self.seen: dict[str, Any] = EncodedStateMap() if durable else {}
        self.outgoing: dict[str, Publish] = StateMap() if durable else {}  # publish id → it, until all handled
        self.held: list[Publish] = []  # publishes whose write has not been asked for yet
        self.writing: set[str] = set()  # ids of publishes whose write is under way: sent once it is done
        self.start_failed: BaseException | None = None  # what on_start raised: every message hears it

    def keep(self, publish: Publish) -> None:
        """A publish of this (durable) agent: stored with its next write, sent once that is done."""
        self.outgoing[publish.id] = publish
        self.held.append(publish)

    def take_held(self) -> list[Publish]:
        """The publishes the write being asked for now stores."""
        held, self.held = self.held, []
        self.writing.update(publish.id for publish in held)
        return held

    def written(self, published: list[Publish], stored: bool) -> None:
        """The write that took ``published`` is over: they go now (``stored``), or wait for the next one."""
        self.writing.difference_update(publish.id for publish in published)
        if stored:
            self.stored()
        else:
            self.held[:0] = published

    def sendable(self) -> list[Publish]:
        """The kept publishes that are on their way or due: neither waiting for nor in a write."""
        if not self.held and not self.writing:
            return list(self.outgoing.values())
        waiting = self.writing | {publish.id for publish in self.held}
        return [publish for publish in self.outgoing.values() if publish.id not in waiting]

    def admit(self, message_id: str) -> Any:
        """``NEW`` for a first copy (now running), ``RUNNING`` for a copy of one still being handled,
        ``STORED`` for one whose answer is in the store alone (``answer_in``), else the first copy's answer."""
        if message_id in self.running:
            return RUNNING
        found = self.seen.decoded(message_id) if isinstance(self.seen, EncodedStateMap) else self.seen.get(message_id)
        if found == IN_STORE:
            return STORED
        if found is not None:
            return _outcome(found[1])
        self.running.add(message_id)
        return NEW

    @staticmethod
    def answer_in(state: dict[str, Any] | None, message_id: str) -> Outcome:
        """The answer ``message_id`` had, from the agent's state as the store gave it; KeyError if not there."""
        entry = (state or {}).get(_SEEN_PART, {}).get(message_id)
        if entry is None:
            raise KeyError(f"no answer stored for message {message_id}")
        return _outcome(entry[1])

    def stored(self) -> None:
        """A write of this agent's state is done: the answers it took are kept in the store alone."""
        if isinstance(self.seen, EncodedStateMap):
            self.seen.stored()

    def record(self, message_id: str, answer: Outcome) -> None:
        """The message is handled and this is its answer: remembered (and saved with the state) before it
        leaves, so a copy that comes later, even after a restart, gets the same one."""
        self.seen[message_id] = [time.time(), answer]
        if len(self.seen) > SEEN:
            del self.seen[next(iter(self.seen))]

    def release(self, message_id: str) -> None:
        """Its answer has left: a copy from now on is answered from ``seen``."""
        self.running.discard(message_id)

    def state(self) -> dict[str, Any]:
        return {**(self.agent.save_state() or {}), _SEEN_PART: self.seen, OUT_PART: self.outgoing}

    def load(self, state: dict[str, Any]) -> None:
        for message_id, stored in state.pop(OUT_PART, {}).items():
            self.outgoing[message_id] = Publish._make(stored)  # JSON gave a list back
        seen = sorted(state.pop(_SEEN_PART, {}).items(), key=lambda item: item[1][0])
        if isinstance(self.seen, EncodedStateMap):  # as stored: read back if a copy comes
            self.seen.kept(message_id for message_id, _ in seen)
            self.outgoing.changed.clear()
        else:
            for message_id, entry in seen:
                self.seen[message_id] = [entry[0], _outcome(entry[1])]
        if state:
            self.agent.load_state(state)


def _outcome(answer: Any) -> Outcome:
    """An answer as remembered, whether kept as it was or read back from JSON (which gives a list)."""
    return None if answer is None else tuple(answer)
