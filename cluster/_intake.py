"""Intake: what the bus gave one host, per (message id, recipient).

A recipient that has a message and has not finished it does not get a copy of it again; the host is done
with a message (and says ``Done``, or answers) only when every recipient there has finished it; and it
remembers the last ``FINISHED`` ids it was done with, so the bus asking after one hears it need not send it
again."""

from __future__ import annotations

from collections import OrderedDict

from .constants import FINISHED

__all__ = ["Intake"]


class Intake:
    __slots__ = ("finished", "taken")

    def __init__(self) -> None:
        self.taken: dict[str, set[str]] = {}  # message id → its recipients here that have it, not finished
        # the last FINISHED message ids every recipient here finished; an OrderedDict, since dropping the oldest
        # of a plain dict (next(iter(...))) walks the slots its earlier deletions left
        self.finished: OrderedDict[str, None] = OrderedDict()

    def take(self, message_id: str, recipient: str) -> bool:
        """False if ``recipient`` has this message already and has not finished it."""
        taken = self.taken.get(message_id)
        if taken is None:
            taken = self.taken[message_id] = set()
        elif recipient in taken:
            return False
        taken.add(recipient)
        return True

    def let_go(self, message_id: str, recipient: str) -> bool:
        """``recipient`` finished the message: True if it was the last recipient here that had it."""
        taken = self.taken.get(message_id)
        if taken is None or recipient not in taken:
            return False  # delivered in-process, not by the bus
        taken.discard(recipient)
        if taken:
            return False
        del self.taken[message_id]
        self.finished[message_id] = None
        if len(self.finished) > FINISHED:
            self.finished.popitem(last=False)
        return True

    def holding(self, message_ids: list[str]) -> tuple[set[str], set[str]]:
        """Of ``message_ids``: those some recipient here still has, and those every recipient here finished."""
        return ({message_id for message_id in message_ids if message_id in self.taken},
                {message_id for message_id in message_ids if message_id in self.finished})

    def __len__(self) -> int:
        return len(self.taken)
