"""Tracing: every message carries a trace id; sampled traces are recorded where they are routed
(the bus, or the host that delivers in-process) and can be drawn as a Mermaid sequence diagram."""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["Kind", "TraceEvent", "TraceLog", "is_sampled", "new_trace_id", "to_mermaid"]


class Kind:
    """What a trace event records."""

    SEND = 0
    PUBLISH = 1
    REPLY = 2
    ERROR = 3

_SAMPLED = "+"


def new_trace_id(sampled: bool = False) -> str:
    """A random trace id; a sampled one ends with ``+`` so every hop knows to record it for free. From
    ``random``, not ``os.urandom``: a trace id is no secret, and the system call was a visible share of a
    driver's work per send (cProfile, 1,000 sends in flight, 2026-12-04)."""
    return f"{random.getrandbits(64):016x}" + (_SAMPLED if sampled else "")


def is_sampled(trace_id: str) -> bool:
    return trace_id.endswith(_SAMPLED)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One hop of a sampled trace. ``message_id`` is the message's own id; for a REPLY or ERROR, the id of
    the message it answers, so an answer pairs with its request exactly."""

    at: float
    kind: int
    sender: str | None
    recipient: str
    type_name: str
    message_id: str
    where: str

    @property
    def arrow(self) -> str:
        return {Kind.SEND: "->>", Kind.PUBLISH: "-)", Kind.REPLY: "-->>", Kind.ERROR: "--x"}[self.kind]


class TraceLog:
    """The events of the most recent sampled traces, bounded so a long run cannot grow it."""

    def __init__(self, where: str, max_traces: int = 256) -> None:
        self._where = where
        self._max = max_traces
        self._traces: OrderedDict[str, list[TraceEvent]] = OrderedDict()

    def record(
        self, trace_id: str, kind: int, sender: str | None, recipient: str, type_name: str, message_id: str
    ) -> None:
        self._add(trace_id, TraceEvent(time.time(), kind, sender, recipient, type_name, message_id, self._where))

    def keep(self, traces: dict[str, list[TraceEvent]]) -> None:
        """Events recorded elsewhere (by a host that was retired), kept here as they were recorded."""
        for trace_id, events in traces.items():
            for event in events:
                self._add(trace_id, event)

    def all(self) -> dict[str, list[TraceEvent]]:
        return {trace_id: list(events) for trace_id, events in self._traces.items()}

    def _add(self, trace_id: str, event: TraceEvent) -> None:
        events = self._traces.get(trace_id)
        if events is None:
            events = self._traces[trace_id] = []
            if len(self._traces) > self._max:
                self._traces.popitem(last=False)
        events.append(event)

    def events(self, trace_id: str) -> list[TraceEvent]:
        return list(self._traces.get(trace_id, ()))


def _participant(name: str | None) -> str:
    return "driver" if not name or name.startswith("client.") else name.replace("/", "_").replace(".", "_")


def to_mermaid(events: list[TraceEvent]) -> str:
    """A ``sequenceDiagram`` of the events in time order; replies go back to whoever asked."""
    lines = ["sequenceDiagram"]
    seen: list[str] = []
    for event in sorted(events, key=lambda e: e.at):
        for name in (event.sender, event.recipient):
            participant = _participant(name)
            if participant not in seen:
                seen.append(participant)
                label = "driver" if participant == "driver" else name
                lines.insert(len(seen), f"    participant {participant} as {label}")
        label = event.type_name or "(no reply)"
        lines.append(f"    {_participant(event.sender)}{event.arrow}{_participant(event.recipient)}: {label}")
    return "\n".join(lines)
