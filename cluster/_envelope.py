"""Envelope: one message in flight. Travels between processes as a plain tuple (pickles ~4x faster)."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

__all__ = ["KEPT", "REPLAYED", "Envelope", "Kind", "new_message_id"]


class Kind:
    """What an envelope carries. Ints, because they travel in every tuple."""

    SEND = 0
    PUBLISH = 1
    REPLY = 2
    ERROR = 3
    ACK = 4  # ``(ACK, message_id)``: a host is done with a message the bus delivered that has no answer


# In an answer's ``origin`` (unused by answers): a copy of an answer already sent, which its caller may
# have had; one that finds no caller waiting is counted, not reported as a dead letter.
REPLAYED = "replayed"

# In a publish's ``recipients`` on its way to the bus (unused until the bus fills it in): its publisher keeps
# it until every copy is handled, and wants an ``ACK`` then. Other publishes are not tracked.
KEPT: tuple[str, ...] = ()


_PREFIX = f"{os.getpid():x}{int(time.time() * 1e3) & 0xFFFFFF:x}{os.urandom(3).hex()}"
_COUNTER = itertools.count()


def new_message_id() -> str:
    """A cluster-unique id, cheaper than uuid4 on the hot path: process prefix + counter."""
    return f"{_PREFIX}-{next(_COUNTER)}"


class Envelope:
    """A message with its routing facts.

    ``target`` is the recipient agent id (SEND), the topic (PUBLISH), or the endpoint of the caller
    waiting for an answer (REPLY, ERROR). ``sender`` is stamped by the runtime, never taken from user
    code; ``None`` means a driver. ``origin`` is the endpoint that receives the reply to a SEND.
    ``recipients`` is filled by the bus for a PUBLISH: the agents of one host that get this copy.
    """

    __slots__ = (
        "deadline",
        "kind",
        "message_id",
        "origin",
        "payload",
        "recipients",
        "reply_to",
        "sender",
        "target",
        "trace_id",
        "type_name",
    )

    def __init__(
        self,
        kind: int,
        message_id: str,
        trace_id: str,
        sender: str | None,
        target: str,
        type_name: str,
        payload: Any,
        deadline: float = 0.0,
        reply_to: str | None = None,
        origin: str | None = None,
        recipients: tuple[str, ...] | None = None,
    ) -> None:
        self.kind = kind
        self.message_id = message_id
        self.trace_id = trace_id
        self.sender = sender
        self.target = target
        self.type_name = type_name
        self.payload = payload
        self.deadline = deadline
        self.reply_to = reply_to
        self.origin = origin
        self.recipients = recipients

    def to_wire(self) -> tuple:
        return (
            self.kind, self.message_id, self.trace_id, self.sender, self.target, self.type_name,
            self.payload, self.deadline, self.reply_to, self.origin, self.recipients,
        )

    @classmethod
    def from_wire(cls, wire: tuple) -> Envelope:
        return cls(*wire)

    def answer(self, kind: int, type_name: str, payload: Any, sender: str | None) -> Envelope:
        """The REPLY or ERROR envelope that answers this SEND, addressed to its origin."""
        return Envelope(
            kind, new_message_id(), self.trace_id, sender, self.origin or "", type_name, payload,
            self.deadline, self.message_id,
        )

    def expired(self, now: float) -> bool:
        return 0.0 < self.deadline < now

    def __repr__(self) -> str:
        return (
            f"Envelope(kind={self.kind}, id={self.message_id}, {self.sender} -> {self.target}, "
            f"{self.type_name})"
        )
