"""OpenTelemetry export of one sampled trace: its recorded events become OTel spans.

The SDK is an optional extra (``pip install 'raybus[otel]'``): nothing here imports it until an export is
asked for, so the runtime itself never needs it.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._trace import Kind, TraceEvent

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

__all__ = ["trace_to_spans"]

_DRIVER = "driver"
_INSTALL_HINT = "OpenTelemetry export needs opentelemetry-sdk: pip install 'raybus[otel]'"


@dataclass(slots=True, eq=False)  # hashed by identity: keys the spans made for each
class _Delivery:
    """A SEND with the answer that closed it (if one was recorded), or one PUBLISH delivery."""

    opened: TraceEvent
    answer: TraceEvent | None = None
    end: float = 0.0

    @property
    def is_send(self) -> bool:
        return self.opened.kind == Kind.SEND


class _FixedIds:
    """Duck-types the SDK's IdGenerator to hand its tracer the ids we derived: the same raybus trace then
    exports with the same OTel ids every time, so a backend that receives it twice can deduplicate."""

    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id

    def is_trace_id_random(self) -> bool:
        return False


def _hash_id(text: str, size: int) -> int:
    # OTel treats an all-zero id as invalid; 1 stands in for the (2^-64 likely) zero digest.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big") or 1


def _pair(events: list[TraceEvent]) -> list[_Delivery]:
    """Deliveries in time order, each SEND closed by the answer that carries its message id."""
    ordered = sorted(events, key=lambda e: e.at)
    deliveries = [_Delivery(e) for e in ordered if e.kind in (Kind.SEND, Kind.PUBLISH)]
    sends = {d.opened.message_id: d for d in deliveries if d.is_send}
    for event in ordered:
        if event.kind in (Kind.REPLY, Kind.ERROR) and event.message_id in sends:
            sends[event.message_id].answer = event
    # A SEND still unanswered when the trace was read is drawn as open until the last thing recorded.
    last = ordered[-1].at if ordered else 0.0
    for delivery in deliveries:
        delivery.end = delivery.answer.at if delivery.answer else (last if delivery.is_send else delivery.opened.at)
    return deliveries


def _parent(delivery: _Delivery, earlier: dict[str, list[_Delivery]]) -> _Delivery | None:
    """What the sender was handling when it sent or published this, from timing alone.

    Events do not record which message a handler was working on, so the parent is derived per agent:
    a SEND is awaited by its sender, hence falls inside the span of the message that caused it, the
    innermost (latest started) delivery to the sender still open at that moment. A PUBLISH is not awaited
    and the bus records it one batch hop later, possibly after that handler has answered, so it goes under
    the latest delivery to the publisher, as does a SEND made while handling a publish (which has no end).
    Two messages handled at once by one interleaving agent can thus be confused.
    """
    if delivery.opened.sender is None:
        return None  # the driver's own sends and publishes are the roots
    handled = earlier.get(delivery.opened.sender, [])
    at = delivery.opened.at
    if delivery.is_send:
        for candidate in reversed(handled):
            if candidate.is_send and candidate.opened.at <= at <= candidate.end:
                return candidate
    return handled[-1] if handled else None


def trace_to_spans(
    trace_id: str, events: list[TraceEvent], tracer_provider: TracerProvider | None = None
) -> list[ReadableSpan]:
    """The events of one raybus trace as finished OpenTelemetry spans.

    One span per SEND, from when it was routed to when its answer was made (status ERROR if the answer
    was an error), and one instant span per PUBLISH delivery; a span nests under the delivery its sender
    was handling, derived by time containment per agent (see ``_parent``). Every span carries
    ``raybus.sender``, ``raybus.target``, ``raybus.message_type``, ``raybus.message_id`` and
    ``raybus.trace_id``; the OTel trace id is a hash of ``trace_id``. Spans go through the processors of
    ``tracer_provider`` (an SDK ``TracerProvider``), or are only returned when none is given.
    """
    try:
        from opentelemetry import context, trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc

    provider = tracer_provider or TracerProvider(resource=Resource.create({"service.name": "raybus"}))
    tracer = provider.get_tracer("raybus")
    if not hasattr(tracer, "id_generator"):
        raise TypeError(f"trace_to_spans needs an opentelemetry-sdk TracerProvider, not {type(provider).__name__}")
    # A private copy, so the provider's cached tracer keeps its own id generator for everyone else.
    tracer = copy.copy(tracer)
    ids = tracer.id_generator = _FixedIds(_hash_id(trace_id, 16))

    spans: dict[_Delivery, trace.Span] = {}
    earlier: dict[str, list[_Delivery]] = {}
    publish_parents: dict[str, _Delivery | None] = {}
    for delivery in _pair(events):
        opened = delivery.opened
        if delivery.is_send:
            parent = _parent(delivery, earlier)
        else:  # every delivery of one publish has the parent of its first one
            if opened.message_id not in publish_parents:
                publish_parents[opened.message_id] = _parent(delivery, earlier)
            parent = publish_parents[opened.message_id]
        parent_context = context.Context()  # empty, so a span active in the caller does not adopt the roots
        if parent is not None:
            parent_context = trace.set_span_in_context(spans[parent], parent_context)
        ids.span_id = _hash_id(f"{trace_id} {opened.message_id} {opened.recipient}", 8)
        verb, kind = ("send", trace.SpanKind.CLIENT) if delivery.is_send else ("publish", trace.SpanKind.PRODUCER)
        attributes: dict[str, str | bool] = {
            "raybus.sender": opened.sender or _DRIVER,
            "raybus.target": opened.recipient,
            "raybus.message_type": opened.type_name,
            "raybus.message_id": opened.message_id,
            "raybus.trace_id": trace_id,
            "raybus.recorded_by": opened.where,
        }
        if delivery.is_send:
            attributes["raybus.answered"] = delivery.answer is not None
            if delivery.answer is not None:
                attributes["raybus.reply_type"] = delivery.answer.type_name
        span = tracer.start_span(
            f"{verb} {opened.type_name} to {opened.recipient.split('/')[0]}", context=parent_context, kind=kind,
            attributes=attributes, start_time=int(opened.at * 1e9),
        )
        if delivery.answer is not None and delivery.answer.kind == Kind.ERROR:
            span.set_status(trace.Status(trace.StatusCode.ERROR, "the handler answered with an error"))
        span.end(end_time=int(delivery.end * 1e9))
        spans[delivery] = span
        earlier.setdefault(opened.recipient, []).append(delivery)
    # A sampler of the caller's provider may have dropped some: those are not real spans.
    return [span for span in spans.values() if isinstance(span, ReadableSpan)]
