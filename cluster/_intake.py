"""Intake: what the bus gave one host, per (message id, recipient).

A recipient that has a message and has not finished it does not get a copy of it again; the host is done
with a message (and says ``Done`` naming the recipients that had it, or answers) only when every recipient
there has finished it; and it remembers the last ``FINISHED`` ids it was done with, and for whom, so the bus
asking after one hears it need not send it again to them."""

from __future__ import annotations

from collections import OrderedDict

from .constants import FINISHED

__all__ = ["Intake"]


class Intake:
    __slots__ = ("finished", "taken")

    def __init__(self) -> None:
        # message id → its recipients here that have it and have not finished it, and those that finished it
        self.taken: dict[str, tuple[set[str], set[str]]] = {}
        # the last FINISHED message ids every recipient here finished, and those recipients; an OrderedDict,
        # since dropping the oldest of a plain dict (next(iter(...))) walks the slots its earlier deletions left
        self.finished: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def take(self, message_id: str, recipient: str) -> bool:
        """False if ``recipient`` has this message already and has not finished it (one that finished it, or
        took it along in a move, takes it again: it may be back with it)."""
        taken = self.taken.get(message_id)
        if taken is None:
            taken = self.taken[message_id] = (set(), set())
        elif recipient in taken[0]:
            return False
        taken[0].add(recipient)
        return True

    def let_go(self, message_id: str, recipient: str) -> tuple[str, ...]:
        """``recipient`` finished the message: if it was the last here that had it, every recipient that finished
        it here (the host is done with it); else nothing."""
        return self._leave(message_id, recipient, finished=True)

    def passed_on(self, message_id: str, recipient: str) -> tuple[str, ...]:
        """``recipient`` left with the message, unhandled (a move): it neither has it nor finished it here — the
        bus asking after the message must not hear it was handled, or it could tell the publisher so before the
        copy is kept where the agent went. As ``let_go``, the recipients that finished it here if it was the last
        that had it."""
        return self._leave(message_id, recipient, finished=False)

    def _leave(self, message_id: str, recipient: str, finished: bool) -> tuple[str, ...]:
        taken = self.taken.get(message_id)
        if taken is None or recipient not in taken[0]:
            return ()  # delivered in-process, not by the bus
        having, done = taken
        having.discard(recipient)
        if finished:
            done.add(recipient)
        if having:
            return ()
        del self.taken[message_id]
        if not done:
            return ()
        recipients = tuple(done)
        self.finished[message_id] = (*self.finished.pop(message_id, ()), *recipients)
        if len(self.finished) > FINISHED:
            self.finished.popitem(last=False)
        return recipients

    def holding(self, message_ids: list[str]) -> tuple[set[str], dict[str, tuple[str, ...]]]:
        """Of ``message_ids``: those some recipient here still has, and those every recipient here finished
        (with the recipients that did)."""
        return ({message_id for message_id in message_ids if message_id in self.taken},
                {message_id: self.finished[message_id] for message_id in message_ids if message_id in self.finished})

    def __len__(self) -> int:
        return len(self.taken)
