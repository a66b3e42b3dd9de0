"""Many concurrent PTO requests, then the invariant check on state read back from the agents.

    python -m scenarios.pto_load --requests 5000 --employees 200 --concurrency 1000 --seed 7 [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime, timezone
from typing import Any

from actors.invariants import check, collect
from actors.messages import RequestTimeOff
from actors.org import Org
from cluster import AgentId, Runtime

from ._bench_agents import raw_pipelined
from ._common import add_common_flags, connect, guarded, machine, print_table, write_json
from ._load import Recorder, ResourceWatch, percentile, settle
from ._mix import PlannedRequest, request_mix
from ._pto import add_org_flags, load_org, start_app
from ._run_store import run_store


async def drive(rt: Runtime, plan: list[PlannedRequest], concurrency: int, recorder: Recorder) -> float:
    """Keep exactly ``concurrency`` requests in flight until the plan is done; returns the wall time."""
    pending = iter(plan)

    async def worker() -> None:
        for planned in pending:
            started = time.perf_counter()
            try:
                outcome = await rt.send(AgentId("employee", planned.employee),
                                        RequestTimeOff(request_id=planned.request_id, text=planned.text), timeout=300)
                recorder.done(started, outcome, None)
            except Exception as exc:  # counted and reported: the checker will name the request
                recorder.done(started, None, exc)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await rt.flush()
    return time.perf_counter() - start


async def run_load(rt: Runtime, plan: list[PlannedRequest], concurrency: int, recorder: Recorder,
                   watch: ResourceWatch) -> float:
    sampler = asyncio.ensure_future(watch.run())
    try:
        return await drive(rt, plan, concurrency, recorder)
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
    add_org_flags(parser, employees=200)
    add_common_flags(parser)
    args = parser.parse_args(argv)
    org = load_org(args)
    plan = request_mix(org, args.requests, args.seed)
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
        baseline = raw_pipelined(2.0, 1000)  # this machine, this minute: the yardstick for the ratio
        recorder, watch = Recorder(len(plan)), ResourceWatch(rt)
        watch.sample()  # the CPU each process has spent before the clock starts
        wall = asyncio.run(run_load(rt, plan, args.concurrency, recorder, watch))
        recorder.bar.close()
        stats = settle(rt, watch)
        results = check(org, collect(rt, org), {p.request_id: p.employee for p in plan})
        report = figures(args, org, wall, recorder, stats, watch, results, baseline)
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
        "peak_rss_mb": {"driver": watch.driver / 2**20} | {k: v / 2**20 for k, v in watch.workers.items()},
        "cpu_s": watch.cpu_seconds(),
        "invariants": [{"name": r.name, "ok": r.ok, "violations": r.violations, "example": r.example}
                       for r in results],
    }


def print_report(report: dict[str, Any]) -> None:
    latency, messages = report["latency_s"], report["messages"]
    rows = [
        ("completed requests/s", report["requests_per_s"]),
        ("raw Ray pipelined calls/s, same run", report["raw_ray_calls_per_s"]),
        ("requests/s per raw Ray call/s", report["requests_per_raw_call"]),
        ("wall time, s", report["wall_s"]),
        *[(f"latency {q}, s", v) for q, v in latency.items()],
        *[(f"outcome {k}", v) for k, v in report["outcomes"].items()],
        ("messages routed by the bus", messages["routed_by_bus"]),
        ("messages delivered in-process", messages["delivered_in_process"]),
        ("deliveries/s", messages["deliveries_per_s"]),
        ("dead letters", messages["dead_letters"]),
        ("messages per call, hosts to bus", messages["per_call_to_bus"]),
        ("messages per call, bus to hosts", messages["per_call_to_hosts"]),
        *[(f"peak RSS {k}, MB", v) for k, v in report["peak_rss_mb"].items()],
        *[(f"CPU {k}, s", v) for k, v in report["cpu_s"].items()],
    ]
    print_table(f"pto_load, {report['date']}, {report['machine']}", ("figure", "value"), rows)
    print_table("invariants", ("invariant", "result"),
                [(r["name"], "ok" if r["ok"] else f"VIOLATED x{r['violations']}: {r['example']}")
                 for r in report["invariants"]])


if __name__ == "__main__":
    raise SystemExit(main())
