"""OpenTelemetry export of a trace: unit tests on hand-made events, and one traced request on real Ray."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
import sample_agents as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cluster import AgentId, Runtime, TraceEvent, trace_to_spans
from cluster._trace import Kind

TRACE = "0123456789abcdef+"


def event(at: float, kind: int, sender: str | None, recipient: str, type_name: str, message_id: str) -> TraceEvent:
    return TraceEvent(at, kind, sender, recipient, type_name, message_id, "raybus.bus")


def relay_chain() -> list[TraceEvent]:
    """The driver asks relayer/r1, which asks echo/e1 while handling it (as ``test_bus`` records it)."""
    return [
        event(100.0, Kind.SEND, None, "relayer/r1", "Relay", "m1"),
        event(100.1, Kind.SEND, "relayer/r1", "echo/e1", "Ping", "m2"),
        event(100.3, Kind.REPLY, "echo/e1", "relayer/r1", "Pong", "m2"),
        event(100.5, Kind.REPLY, "relayer/r1", "driver", "Pong", "m1"),
    ]


def collecting_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def by_type(spans: list[Any]) -> dict[str, Any]:
    return {span.attributes["raybus.message_type"]: span for span in spans}


def test_a_send_and_its_reply_become_one_span_with_the_routing_facts() -> None:
    [span] = trace_to_spans(TRACE, [
        event(10.0, Kind.SEND, None, "echo/e1", "Ping", "m1"),
        event(10.25, Kind.REPLY, "echo/e1", "driver", "Pong", "m1"),
    ])
    assert span.name == "send Ping to echo"
    assert span.kind == trace.SpanKind.CLIENT
    assert span.parent is None
    assert span.start_time == 10_000_000_000
    assert span.end_time - span.start_time == 250_000_000
    assert span.status.status_code == trace.StatusCode.UNSET
    assert dict(span.attributes) == {
        "raybus.sender": "driver",
        "raybus.target": "echo/e1",
        "raybus.message_type": "Ping",
        "raybus.message_id": "m1",
        "raybus.trace_id": TRACE,
        "raybus.recorded_by": "raybus.bus",
        "raybus.answered": True,
        "raybus.reply_type": "Pong",
    }


def test_an_error_answer_gives_the_span_an_error_status() -> None:
    [span] = trace_to_spans(TRACE, [
        event(1.0, Kind.SEND, None, "echo/e1", "Boom", "m1"),
        event(1.1, Kind.ERROR, "echo/e1", "driver", "error", "m1"),
    ])
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.attributes["raybus.reply_type"] == "error"


def test_a_send_made_while_handling_a_message_is_a_child_of_that_message() -> None:
    spans = by_type(trace_to_spans(TRACE, relay_chain()))
    relay, ping = spans["Relay"], spans["Ping"]
    assert relay.parent is None
    assert ping.parent.span_id == relay.context.span_id
    assert relay.start_time < ping.start_time < ping.end_time < relay.end_time
    assert relay.end_time - relay.start_time == pytest.approx(500_000_000, abs=1_000)


def test_the_innermost_open_message_of_the_sender_is_the_parent() -> None:
    # employee/e1 handles Ask, and meanwhile a Decision; its Notify during the Decision belongs to the Decision.
    spans = by_type(trace_to_spans(TRACE, [
        event(1.0, Kind.SEND, None, "employee/e1", "Ask", "m1"),
        event(1.1, Kind.SEND, "employee/e1", "manager/m", "Review", "m2"),
        event(1.2, Kind.SEND, "manager/m", "employee/e1", "Decision", "m3"),
        event(1.3, Kind.SEND, "employee/e1", "team/t", "Notify", "m4"),
        event(1.4, Kind.REPLY, "team/t", "employee/e1", "", "m4"),
        event(1.5, Kind.REPLY, "employee/e1", "manager/m", "", "m3"),
        event(1.6, Kind.REPLY, "manager/m", "employee/e1", "", "m2"),
        event(1.7, Kind.SEND, "employee/e1", "team/t", "Close", "m5"),
        event(1.8, Kind.REPLY, "team/t", "employee/e1", "", "m5"),
        event(1.9, Kind.REPLY, "employee/e1", "driver", "", "m1"),
    ]))
    assert spans["Review"].parent.span_id == spans["Ask"].context.span_id
    assert spans["Decision"].parent.span_id == spans["Review"].context.span_id
    assert spans["Notify"].parent.span_id == spans["Decision"].context.span_id
    assert spans["Close"].parent.span_id == spans["Ask"].context.span_id  # the Decision had ended by then


def test_each_publish_delivery_is_an_instant_span_under_what_its_publisher_was_handling() -> None:
    # The bus records the publish after the handler that made it has answered: it still nests there.
    spans = trace_to_spans(TRACE, [
        event(1.0, Kind.SEND, None, "caster/c1", "Cast", "m1"),
        event(1.1, Kind.REPLY, "caster/c1", "driver", "", "m1"),
        event(1.2, Kind.PUBLISH, "caster/c1", "listener/l1", "Notice", "p1"),
        event(1.2001, Kind.PUBLISH, "caster/c1", "listener/l2", "Notice", "p1"),
    ])
    cast, *notices = spans
    assert [span.attributes["raybus.target"] for span in notices] == ["listener/l1", "listener/l2"]
    for notice in notices:
        assert notice.kind == trace.SpanKind.PRODUCER
        assert notice.name == "publish Notice to listener"
        assert notice.start_time == notice.end_time
        assert notice.parent.span_id == cast.context.span_id
        assert "raybus.answered" not in notice.attributes


def test_each_answer_closes_the_send_it_answers_and_an_unanswered_send_stays_open() -> None:
    spans = trace_to_spans(TRACE, [
        event(1.0, Kind.SEND, None, "echo/e1", "Ping", "m1"),
        event(1.1, Kind.SEND, None, "echo/e1", "Ping", "m2"),
        event(1.2, Kind.SEND, None, "echo/e1", "Hang", "m3"),
        event(1.3, Kind.REPLY, "echo/e1", "driver", "Pong", "m2"),  # the second Ping answers first
        event(1.4, Kind.REPLY, "echo/e1", "driver", "Pong", "m1"),
    ])
    ends = {span.attributes["raybus.message_id"]: span.end_time for span in spans}
    assert ends == {"m1": 1_400_000_000, "m2": 1_300_000_000, "m3": 1_400_000_000}
    assert [span.attributes["raybus.answered"] for span in spans] == [True, True, False]


def test_one_raybus_trace_id_always_gives_the_same_otel_ids() -> None:
    first = trace_to_spans(TRACE, relay_chain())
    again = trace_to_spans(TRACE, relay_chain()[:2])
    other = trace_to_spans("fedcba9876543210+", relay_chain())
    assert len({span.context.trace_id for span in first + again}) == 1
    assert [span.context.span_id for span in first] == [span.context.span_id for span in again]
    assert first[0].context.trace_id != other[0].context.trace_id
    assert all(span.context.trace_id == other[0].context.trace_id for span in other)


def test_a_given_provider_exports_the_spans_and_an_active_span_does_not_adopt_them() -> None:
    provider, exporter = collecting_provider()
    with provider.get_tracer("caller").start_as_current_span("unrelated") as unrelated:
        spans = trace_to_spans(TRACE, relay_chain(), provider)
    exported = exporter.get_finished_spans()
    assert [span.name for span in exported] == ["send Relay to relayer", "send Ping to echo", "unrelated"]
    assert [span.context.span_id for span in exported[:2]] == [span.context.span_id for span in spans]
    assert spans[0].parent is None
    assert spans[0].context.trace_id != unrelated.get_span_context().trace_id


def test_without_the_sdk_the_export_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # makes its import fail
    with pytest.raises(ImportError, match=r"pip install 'raybus\[otel\]'"):
        trace_to_spans(TRACE, relay_chain())


def test_a_traced_request_on_ray_exports_one_span_per_send(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo)
    runtime.register("relayer", sa.Relayer)
    trace_id = runtime.new_trace()
    asyncio.run(
        runtime.send(AgentId("relayer", "r1"), sa.Relay(to_key="e1", text="traced"), trace_id=trace_id, timeout=60)
    )
    sends = [e for e in runtime.trace(trace_id) if e.kind == Kind.SEND]
    provider, exporter = collecting_provider()
    spans = runtime.trace_spans(trace_id, provider)
    exported = exporter.get_finished_spans()
    assert len(exported) == len(spans) == len(sends) == 2
    relay, ping = by_type(exported)["Relay"], by_type(exported)["Ping"]
    assert ping.parent.span_id == relay.context.span_id
    assert relay.attributes["raybus.trace_id"] == trace_id
    assert relay.attributes["raybus.answered"] and ping.attributes["raybus.answered"]
    assert relay.start_time <= ping.start_time <= ping.end_time <= relay.end_time
