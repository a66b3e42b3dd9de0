"""One PTO request end to end, with the trace of every envelope it caused.

    python -m scenarios.pto_request [--employee ID] [--text "next Thursday and Friday"] [--today YYYY-MM-DD]
                                    [--otel-json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from actors.messages import RequestTimeOff
from actors.org import Org
from cluster import AgentId, Runtime

from ._audit import AuditError, audit_flags, print_decisions, read_decisions
from ._common import add_common_flags, connect, guarded
from ._pto import add_org_flags, as_service, load_org, start_app
from ._run_store import run_store


def pick_employee(org: Org, wanted: str | None) -> str:
    """The one asked for, else the first employee in two teams (the interesting case)."""
    if wanted:
        org.department_of(wanted)  # raises UnknownEmployee naming the id
        return wanted
    return next((e.id for e in org.employees.values() if len(e.teams) > 1), next(iter(org.employees)))


def who_was_told(rt: Runtime, org: Org, employee: str, request_id: str) -> list[str]:
    profile = org.employees[employee]
    told = []
    notifier = AgentId("notifier", profile.department)
    if rt.inspect(notifier, "received").get(request_id):
        told.append(f"{notifier} (department {profile.department})")
    for mate in sorted(org.task_mates(employee)):
        notices = rt.inspect(AgentId("employee", mate), "report")["task_notices"]
        topics = [key.split("|")[1] for key in notices if key.startswith(f"{request_id}|")]
        if topics:
            told.append(f"employee/{mate} (via {', '.join(topics)})")
    return told


async def request(rt: Runtime, employee: str, text: str, trace_id: str) -> object:
    outcome = await rt.send(AgentId("employee", employee), RequestTimeOff(request_id="r1", text=text),
                            trace_id=trace_id, timeout=60)
    await rt.flush()
    return outcome


def span_collector() -> tuple[Any, Any]:
    """A tracer provider keeping its spans in memory, and that memory; raises ImportError without the SDK."""
    # Imported here: the OpenTelemetry SDK is the optional raybus[otel] extra, needed only for --otel-json.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "raybus"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def write_otel_json(rt: Runtime, trace_id: str, collector: tuple[Any, Any], path: str) -> int:
    """The trace's OpenTelemetry spans as a JSON list, one object per span; returns how many."""
    provider, exporter = collector
    rt.trace_spans(trace_id, provider)
    spans = exporter.get_finished_spans()
    Path(path).write_text(json.dumps([json.loads(span.to_json()) for span in spans], indent=2) + "\n")
    return len(spans)


@guarded
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employee", default=None, help="employee id (default: one who is in two teams)")
    parser.add_argument("--text", default="next Thursday and Friday", help="the request, in words")
    parser.add_argument("--otel-json", default=None, metavar="PATH",
                        help="also write the trace as OpenTelemetry spans to this JSON file (needs raybus[otel])")
    add_org_flags(parser, employees=40)
    add_common_flags(parser)
    args = parser.parse_args(argv)
    collector = None
    if args.otel_json:
        try:  # before the run, not after it
            collector = span_collector()
        except ImportError:
            parser.error("--otel-json needs opentelemetry-sdk: pip install 'raybus[otel]'")
    org = load_org(args)
    employee = pick_employee(org, args.employee)
    profile = org.employees[employee]
    store = run_store(args, "pto-request")
    rt = connect(args, "pto-request", store.state)
    try:
        start_app(rt, org, args, store)
        print(f"org: seed {org.seed}, {len(org.employees)} employees, {len(org.teams)} teams, today {org.today}")
        print(f"employee/{employee}: department {profile.department}, teams {', '.join(profile.teams)}, "
              f"tasks {', '.join(profile.tasks)}, manager {profile.manager}")
        print(f'asks: "{args.text}"\n')
        trace_id = rt.new_trace()
        with as_service(rt) as service:  # the request goes as the PTO service; the admin reads the trace
            outcome = asyncio.run(request(service, employee, args.text, trace_id))
        time.sleep(0.5)  # notices are fire-and-forget: let them land before we read who heard
        print(f"resolved days: {', '.join(d.isoformat() for d in outcome.days) or 'none'}")
        print(f"decision: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else "")
              + f"; balance now {outcome.balance}")
        print("\nsteps:")
        for number, event in enumerate(rt.trace(trace_id), 1):
            print(f"  {number:2}. {event.sender} {event.arrow} {event.recipient}: "
                  f"{event.type_name or '(no reply)'}  [{event.where}]")
        told = who_was_told(rt, org, employee, "r1")
        print("\nnotified: " + (", ".join(told) if told else "nobody"))
        print(f"\ntrace {trace_id} as a Mermaid sequence diagram:\n```mermaid\n{rt.trace_mermaid(trace_id)}\n```")
        if collector is not None:
            count = write_otel_json(rt, trace_id, collector, args.otel_json)
            print(f"\n{count} OpenTelemetry spans written to {args.otel_json}")
        try:
            _, audited = read_decisions(store.ledgers, employee, "r1")
        except AuditError:  # no hr database: the request never reached hr, which opens it on first use
            audited = []
        if audited:
            print_decisions(f"audit record (python -m scenarios.audit --employee {employee} {audit_flags(args)})",
                            audited)
        else:
            print("\naudit: no manager decision for r1: the dates or hr refused it before review")
    finally:
        rt.shutdown(destroy=True)


if __name__ == "__main__":
    main()
