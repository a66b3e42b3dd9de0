"""Many concurrent PTO requests, then the invariant check on state read back from the agents.

    python -m scenarios.pto_load --requests 5000 --employees 200 --concurrency 1000 --seed 7 [--json PATH]

A share of the requests (``--review-share``) is long enough that the org's review rule leaves it to the
manager: the request answers ``waiting``, and the driver then decides it as its manager would
(``Review``, approving the planned share), so the manager's review runs at scale too.

``--via http`` drives the same mix through the HTTP gateway on Ray Serve (``POST /v1/pto-requests`` as each
employee, the decision route as each manager) with an async HTTP client, and first drives a no-op Serve
endpoint the same way, in the same run, as its baseline.

The requests go over a second connection, as the PTO service (``service/pto``), which the first (the
namespace's admin, which registers the app and reads the agents back) grants; over HTTP the gateway is its own
principal (``service/gateway``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Coroutine
from contextlib import nullcontext
from datetime import datetime, timezone
from typing import Any

from actors.invariants import check, collect
from actors.messages import RequestOutcome, RequestTimeOff, Review
from actors.org import Org
from cluster import AgentId, Runtime

from ._bench_agents import raw_pipelined
from ._common import add_common_flags, connect, guarded, machine, print_table, share, write_json
from ._http_load import drive_http, noop_rate, served
from ._load import Ask, Recorder, ResourceWatch, drive, percentile, settle
from ._mix import PlannedRequest, request_mix
from ._pto import add_org_flags, as_service, load_org, start_app
from ._run_store import run_store
from ._where import print_backlog, run_backlog


async def decide(rt: Runtime, org: Org, planned: PlannedRequest, outcome: RequestOutcome) -> RequestOutcome:
    """The request's final outcome: a waiting one is decided first, as the plan says its manager would."""
    if outcome.status != "waiting":
        return outcome
    manager = AgentId("manager", org.manager_of(planned.employee))
    decision = await rt.send(manager, Review(request_id=planned.request_id, approve=planned.approve,
                                             reason="" if planned.approve else "too long for now"), timeout=300)
    return outcome.model_copy(update={"status": "approved" if decision.approved else "rejected",
                                      "reason": decision.reason})


def deciding(rt: Runtime, org: Org, recorder: Recorder) -> Ask:
    """Each planned request sent to its employee; one that waits is then decided as its manager would."""
    async def ask(planned: PlannedRequest) -> RequestOutcome:
        outcome = await rt.send(AgentId("employee", planned.employee),
                                RequestTimeOff(request_id=planned.request_id, text=planned.text), timeout=300)
        recorder.reviewed += outcome.status == "waiting"
        return await decide(rt, org, planned, outcome)

    return ask


async def drive_bus(rt: Runtime, org: Org, plan: list[PlannedRequest], concurrency: int, recorder: Recorder) -> float:
    """The plan over the bus with ``concurrency`` in flight (a request that waits for its manager stays in flight
    until they decide), until the driver has nothing left to send; returns the wall time."""
    start = time.perf_counter()
    await drive(deciding(rt, org, recorder), plan, concurrency, recorder)
    await rt.flush()
    return time.perf_counter() - start


async def run_load(watch: ResourceWatch, driving: Coroutine[Any, Any, float]) -> float:
    sampler = asyncio.ensure_future(watch.run())
    try:
        return await driving
    finally:
        sampler.cancel()


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--cold", action="store_true",
                        help="start timing with no host created and no agent active (the default warms them up)")
    parser.add_argument("--plot", default=None, help="write latency and completions over time to this PNG")
    parser.add_argument("--review-share", type=share, default=0.1,
                        help="share of requests long enough to wait for the manager (default 0.1)")
    parser.add_argument("--via", choices=("bus", "http"), default="bus",
                        help="send the requests as a driver of the bus, or through the HTTP gateway on Ray Serve")
    parser.add_argument("--replicas", type=int, default=1, help="gateway replicas, with --via http")
    add_org_flags(parser, employees=200)
    add_common_flags(parser)
    args = parser.parse_args(argv)
    org = load_org(args)
    plan = request_mix(org, args.requests, args.seed, review_share=args.review_share)
    store = run_store(args, "pto-load")
    rt = connect(args, "pto-load", store.state)
    try:
        start_app(rt, org, args, store)
        print(f"{args.requests:,} requests from {len(org.employees)} employees in {len(org.teams)} teams, "
              f"{args.concurrency:,} in flight, {args.hosts} PTO hosts, seed {args.seed}", flush=True)
        if not args.cold:
            started = time.perf_counter()
            collect(rt, org)  # asks every agent for its report: creates the hosts and activates every agent
            print(f"warm-up: {len(org.employees) + len(org.teams) + 2 * len(org.departments)} agents active in "
                  f"{time.perf_counter() - started:.1f}s", flush=True)
        with served(rt, org, args.replicas) if args.via == "http" else nullcontext() as http, as_service(rt) as service:
            baseline = raw_pipelined(2.0, 1000)  # this machine, this minute: the yardstick for the ratio
            noop = [asyncio.run(noop_rate(http.noop, args.requests, args.concurrency))] if http else []
            recorder, watch = Recorder(len(plan)), ResourceWatch(service)
            before = watch.sample()  # the CPU each process has spent and the backlog before the clock starts
            driving = (drive_http(http.gateway, org, http.tokens, plan, args.concurrency, recorder) if http
                       else drive_bus(service, org, plan, args.concurrency, recorder))
            wall = asyncio.run(run_load(watch, driving))
            if http:  # before and after: a shared machine's load moves within minutes; the ratio takes the faster
                noop.append(asyncio.run(noop_rate(http.noop, args.requests, args.concurrency)))
            recorder.bar.close()
            stats = settle(service, watch)
        # over HTTP the Idempotency-Key is the planned id, and the request id on the bus names the employee
        requested = {(f"{p.employee}.{p.request_id}" if http else p.request_id): p.employee for p in plan}
        results = check(org, collect(rt, org, keep=False), requested)  # the agents woken to answer go again
        report = figures(args, org, wall, recorder, stats, watch, results, baseline) | _vs_noop(args, wall, noop)
        report["backlog"] = run_backlog(before, stats, wall)
        print_report(report)
        write_json(args.json_path, report)
        if args.plot:
            from ._plot import plot_run
            plot_run(args.plot, recorder.latencies, recorder.completed_at)
        return 0 if all(r.ok for r in results) and not recorder.errors else 1
    finally:
        rt.shutdown(destroy=True)


def figures(args: argparse.Namespace, org: Org, wall: float, recorder: Recorder, stats: dict[str, Any],
            watch: ResourceWatch, results: list, baseline: float) -> dict[str, Any]:
    bus, hosts = stats["bus"], stats["hosts"].values()
    routed = bus.get("sends", 0) + bus.get("publishes", 0) + bus.get("answers", 0)
    local = sum(h.get("local_deliveries", 0) + h.get("local_answers", 0) for h in hosts)
    deliveries = bus.get("sends", 0) + bus.get("publish_deliveries", 0) + sum(h.get("local_deliveries", 0)
                                                                               for h in hosts)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": "python -m scenarios.pto_load " + " ".join(sys.argv[1:]),
        "requests": args.requests, "concurrency": args.concurrency, "hosts": args.hosts, "seed": args.seed,
        "review_share": args.review_share, "reviewed_by_manager": recorder.reviewed,
        "employees": len(org.employees), "placement": args.placement, "cold_start": args.cold,
        "store": args.run_store.shown, "durable": args.durable,
        "wall_s": wall,
        "requests_per_s": args.requests / wall,
        "raw_ray_calls_per_s": baseline,
        "requests_per_raw_call": args.requests / wall / baseline,
        "latency_s": {f"p{q}": percentile(recorder.latencies, q / 100) for q in (50, 95, 99)},
        "outcomes": dict(sorted(recorder.outcomes.items())),
        "errors": dict(recorder.errors),
        "messages": {"routed_by_bus": routed, "delivered_in_process": local,
                     "deliveries": deliveries, "deliveries_per_s": deliveries / wall,
                     "dead_letters": bus.get("dead_letters", 0),
                     "per_call_to_hosts": bus.get("to_host_items", 0) / max(1, bus.get("to_host_batches", 0)),
                     "per_call_to_bus": sum(h.get("to_bus_items", 0) for h in hosts)
                     / max(1, sum(h.get("to_bus_batches", 0) for h in hosts))},
        "agents": {what: sum(h.get(what, 0) for h in hosts) for what in ("activations", "deactivations", "agents")},
        "peak_rss_mb": {"driver": watch.driver / 2**20} | {k: v / 2**20 for k, v in watch.workers.items()},
        "cpu_s": watch.cpu_seconds(),
        "invariants": [r.figures() for r in results],
    }


def _vs_noop(args: argparse.Namespace, wall: float, noop: list[float]) -> dict[str, Any]:
    """Over HTTP: the no-op endpoint's rate before and after the run, and the run's against the faster one."""
    if not noop:
        return {"via": args.via}
    return {"via": args.via, "replicas": args.replicas, "noop_serve_requests_per_s": noop,
            "requests_per_noop_request": args.requests / wall / max(noop)}


def print_report(report: dict[str, Any]) -> None:
    latency, messages = report["latency_s"], report["messages"]
    rows = [
        ("completed requests/s", report["requests_per_s"]),
        ("raw Ray pipelined calls/s, same run", report["raw_ray_calls_per_s"]),
        ("requests/s per raw Ray call/s", report["requests_per_raw_call"]),
        *([("no-op Serve endpoint requests/s, before / after", " / ".join(
            f"{rate:,.0f}" for rate in report["noop_serve_requests_per_s"])),
           ("requests/s per no-op request/s (the faster)", report["requests_per_noop_request"])]
          if "noop_serve_requests_per_s" in report else []),
        ("wall time, s", report["wall_s"]),
        *[(f"latency {q}, s", v) for q, v in latency.items()],
        *[(f"outcome {k}", v) for k, v in report["outcomes"].items()],
        ("waited for the manager (then decided)", report["reviewed_by_manager"]),
        ("messages routed by the bus", messages["routed_by_bus"]),
        ("messages delivered in-process", messages["delivered_in_process"]),
        ("deliveries/s", messages["deliveries_per_s"]),
        ("dead letters", messages["dead_letters"]),
        ("messages per call, hosts to bus", messages["per_call_to_bus"]),
        ("messages per call, bus to hosts", messages["per_call_to_hosts"]),
        ("activations / deactivations / active at the end", " / ".join(
            f"{report['agents'][what]:,}" for what in ("activations", "deactivations", "agents"))),
        *[(f"peak RSS {k}, MB", v) for k, v in report["peak_rss_mb"].items()],
        *[(f"CPU {k}, s", v) for k, v in report["cpu_s"].items()],
    ]
    print_table(f"pto_load, {report['date']}, {report['machine']}", ("figure", "value"), rows)
    print_backlog(report["backlog"], "pto_load")
    print_table("invariants", ("invariant", "result"),
                [(r["name"], "ok" if r["ok"] else f"VIOLATED x{r['violations']}: {r['example']}")
                 for r in report["invariants"]])


if __name__ == "__main__":
    raise SystemExit(main())
