"""Authority: who may send and answer as whom, judged by a bus shard for every message it routes.

A driver sends as the principal its connection is bound to; a host only as the agents that live there (or, after
a restart, had just left it or may live there: ``Mover.holds``), or as the runtime for a dead letter; only the
runtime publishes on the dead-letter topic. An answer is taken only from the host that was given its call, as
the agent the call was for, and goes to the caller the call named, whatever the answer says. Anything else is
refused and counted (``forged_senders``, ``forged_answers``), never rewritten."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ._errors import NotAuthorized
from ._messages import DEAD_LETTER_TYPE, DEAD_LETTERS
from ._wire import Answer, Call, Copy, Publish

__all__ = ["Authority"]


class Authority:
    __slots__ = ("_holds", "counts")

    def __init__(self, holds: Callable[[str, str], bool], counts: Counter[str]) -> None:
        """``holds(origin, agent)``: does the host ``origin`` send as ``agent`` by right."""
        self._holds = holds
        self.counts = counts

    def refusal(self, origin: str, message: Call | Publish, principal: str | None) -> NotAuthorized | None:
        """Why ``message`` from ``origin`` (a driver's connection bound to ``principal``, or a host: None) may not
        be routed; None if it may."""
        sender = message.sender
        reporting = type(message) is Publish and message.topic == DEAD_LETTERS
        if principal is not None:
            allowed = sender == principal and not reporting
        elif reporting:
            allowed = sender is None and message.type_name == DEAD_LETTER_TYPE  # the host reports a failure
        else:
            allowed = sender is not None and self._holds(origin, sender)
        if allowed:
            return None
        self.counts["forged_senders"] += 1
        return NotAuthorized(f"{origin} may not send {message.type_name} as {sender!r}"
                             f"{' on the dead-letter topic' if reporting else ''}")

    def answer(self, origin: str, answer: Answer, call: Call | Copy | None, from_client: bool) -> Answer | None:
        """``answer`` as it goes on (to the caller ``call`` named), or None if ``origin`` may not give it: ``call``
        is the call the bus had given ``origin`` under that id (None for one this shard does not keep, whose
        answer is taken from the agent's host)."""
        if type(call) is Call:
            if call.target != answer.sender:
                return self._forged()
            return answer if answer.caller == call.origin else answer._replace(caller=call.origin)
        if from_client or not self._holds(origin, answer.sender or ""):
            return self._forged()
        return answer

    def _forged(self) -> None:
        self.counts["forged_answers"] += 1
