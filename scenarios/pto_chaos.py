"""A PTO load run while agent hosts and the bus are killed (Ray restarts them) and, with ``--nodes``, a simulated
multi-node cluster loses a worker node; then the invariant check and what surviving it took.

    python -m scenarios.pto_chaos --requests 2000 --kills 5 [--nodes 3] [--seed 7] [--json PATH]

State is always durable: a restarted host must find its agents' state. The driver retries a failed request
with the same request id (the PTO flow is idempotent by it). Exit code 1 if an invariant fails, if a request
has not exactly one terminal outcome (``lost``), or if a killed actor did not come back.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Any

import ray

from actors.invariants import check, collect
from actors.messages import RequestTimeOff
from actors.org import Org
from cluster import AgentId, Runtime
from cluster.constants import BUS_NAME

from ._chaos import Chaos, ChaosWatch, start_cluster
from ._common import add_common_flags, connect, machine, print_table, write_json
from ._mix import PlannedRequest, request_mix
from ._pto import add_org_flags, load_org, start_app, state_dir
from .pto_load import Recorder, percentile, settle


class Driver:
    """Keeps ``concurrency`` requests in flight, each retried with its own id until it has an outcome; a request
    past a chaos moment waits until that moment has come, so every strike lands with requests in flight."""

    def __init__(self, rt: Runtime, args: argparse.Namespace, recorder: Recorder) -> None:
        self.rt, self.args, self.recorder = rt, args, recorder
        self.started = 0
        self.retries: Counter[str] = Counter()  # by the error that caused them
        self.retried: set[str] = set()
        self.gave_up: dict[str, str] = {}
        self.gates: list[tuple[int, asyncio.Event]] = []

    async def attempt(self, planned: PlannedRequest) -> Any:
        deadline, tries = time.monotonic() + self.args.deadline, 0
        while True:
            try:
                return await self.rt.send(AgentId("employee", planned.employee),
                                          RequestTimeOff(request_id=planned.request_id, text=planned.text),
                                          timeout=min(self.args.timeout, max(1.0, deadline - time.monotonic())))
            except Exception as exc:  # whatever it was, the same request id again: the flow is idempotent by it
                pause = min(5.0, 0.25 * 2**tries)
                if time.monotonic() + pause >= deadline:
                    raise
                tries += 1
                self.retries[type(exc).__name__] += 1
                self.retried.add(planned.request_id)
                await asyncio.sleep(pause)

    async def drive(self, plan: list[PlannedRequest]) -> None:
        pending = iter(enumerate(plan))

        async def worker() -> None:
            for index, planned in pending:
                for at, gate in self.gates:
                    if index >= at:
                        await gate.wait()
                self.started += 1
                started = time.perf_counter()
                try:
                    self.recorder.done(started, await self.attempt(planned), None)
                except Exception as exc:
                    self.gave_up[planned.request_id] = f"{type(exc).__name__}: {exc}"
                    self.recorder.done(started, None, exc)

        await asyncio.gather(*(worker() for _ in range(self.args.concurrency)))
        await self.rt.flush()


async def run(rt: Runtime, plan: list[PlannedRequest], driver: Driver, chaos: Chaos, watch: ChaosWatch) -> float:
    sampler = asyncio.ensure_future(watch.run(every=1.0))
    killer = asyncio.ensure_future(chaos.run(driver))
    driving = asyncio.ensure_future(driver.drive(plan))
    start = time.perf_counter()
    try:
        await asyncio.wait([driving, killer], return_when=asyncio.FIRST_COMPLETED)
        await killer  # a strike still waiting for its victims is part of the run
        if all(c["survived"] for c in chaos.log):  # else requests to a dead actor would only time out
            await driving
        return time.perf_counter() - start
    finally:
        for task in (sampler, killer, driving):
            task.cancel()


def verify(rt: Runtime, org: Org, plan: list[PlannedRequest], watch: ChaosWatch) -> tuple[list, list[str]]:
    """Once nothing is queued: the invariants, and the requests without exactly one terminal outcome as the
    employees themselves recorded them."""
    settle(rt, watch)
    snap = collect(rt, org)
    recorded: dict[str, list[str]] = defaultdict(list)
    for report in snap.employees.values():
        for rid, status in report["requests"].items():
            recorded[rid].append(status)
    lost = [p.request_id for p in plan if len(recorded[p.request_id]) != 1
            or recorded[p.request_id][0] not in ("approved", "rejected", "cancelled")]
    return check(org, snap, {p.request_id: p.employee for p in plan}), lost


def figures(args: argparse.Namespace, wall: float, recorder: Recorder, driver: Driver, chaos: Chaos,
            watch: ChaosWatch, lost: list[str] | None, results: list) -> dict[str, Any]:
    on_bus = {id(c) for c in chaos.log if c["actors"] and c["actors"][0].startswith(BUS_NAME)}
    kills = {side: [c for c in chaos.log if c["kind"] == "kill" and (id(c) in on_bus) == (side == "bus")]
             for side in ("hosts", "bus")}
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
        "command": "python -m scenarios.pto_chaos " + " ".join(sys.argv[1:]),
        "requests": args.requests, "concurrency": args.concurrency, "hosts": args.hosts, "seed": args.seed,
        "employees": args.employees, "nodes": args.nodes, "wall_s": wall,
        "requests_completed": len(recorder.latencies) - recorder.outcomes["error"],
        "requests_given_up": len(driver.gave_up), "requests_not_finished": args.requests - len(recorder.latencies),
        "given_up_examples": dict(list(driver.gave_up.items())[:5]),
        "outcomes": dict(sorted((k, v) for k, v in recorder.outcomes.items() if v)),
        "latency_s": {f"p{q}": percentile(recorder.latencies, q / 100) for q in (50, 99)},
        "kills_planned": args.kills,
        "kills": {side: len(done) for side, done in kills.items()},
        "kills_survived": {side: sum(c["survived"] for c in done) for side, done in kills.items()},
        "node_lost": any(c["kind"] == "node" for c in chaos.log), "chaos": chaos.log,
        "redeliveries": watch.totals["bus.redeliveries"],
        "duplicates_suppressed": watch.totals["hosts.duplicates_dropped"],
        "answers_replayed": watch.totals["hosts.answers_replayed"], "dead_letters": watch.totals["bus.dead_letters"],
        "counters": dict(sorted(watch.totals.items())),
        "requests_retried": len(driver.retried), "retries": sum(driver.retries.values()),
        "retry_causes": dict(driver.retries),
        "lost": None if lost is None else len(lost), "lost_examples": (lost or [])[:10],
        "invariants": [{"name": r.name, "ok": r.ok, "violations": r.violations, "example": r.example}
                       for r in results],
    }


def print_report(report: dict[str, Any]) -> None:
    names = ("requests_completed", "requests_given_up", "requests_not_finished", "wall_s", "redeliveries",
             "duplicates_suppressed", "answers_replayed", "dead_letters", "requests_retried", "retries", "lost")
    rows = [(name.replace("_", " "), report[name]) for name in names]
    rows += [(f"outcome {k}", v) for k, v in report["outcomes"].items()]
    rows += [(f"kills of {k} (survived)", f"{v} ({report['kills_survived'][k]})") for k, v in report["kills"].items()]
    rows += [("node lost", "yes" if report["node_lost"] else "no")]
    rows += [(f"retries after {k}", v) for k, v in report["retry_causes"].items()]
    rows += [(k, v) for k, v in report["counters"].items() if ".failed_" in k]
    print_table(f"pto_chaos, {report['date']}, {report['machine']}", ("figure", "value"), rows)
    print_table("chaos", ("at request", "what", "actor", "back after, s"),
                [(c["at_request"], c["kind"], name, back.split("\n")[0] if isinstance(back, str) else back)
                 for c in report["chaos"] for name, back in (c["back_after_s"] or {"(none of ours)": "-"}).items()])
    if report["lost"] is None:
        print("\nNOT CHECKED: an actor did not come back, so the run stopped there (see the chaos table)")
    print_table("invariants", ("invariant", "result"),
                [(r["name"], "ok" if r["ok"] else f"VIOLATED x{r['violations']}: {r['example']}")
                 for r in report["invariants"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=5, help="host or bus kills, one at a time")
    parser.add_argument("--nodes", type=int, default=0, help="simulate a cluster of this many nodes; lose one")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per attempt of a request")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds before a request is given up")
    add_org_flags(parser, employees=200)
    add_common_flags(parser)
    args = parser.parse_args(argv)
    if args.nodes == 1 or (args.nodes and args.address):
        parser.error("--nodes needs at least 2 (a head and a worker to lose), and starts its own cluster")
    args.durable = True
    org = load_org(args)
    plan = request_mix(org, args.requests, args.seed)
    cluster, own_tmp, rt = None, None, None
    try:
        if args.nodes:
            cluster, own_tmp = start_cluster(args.nodes)
            args.address = cluster.address
        rt = connect(args, "pto-chaos", state_dir(args, "pto_chaos"))
        start_app(rt, org, args, "pto_chaos")
        print(f"{args.requests:,} requests from {len(org.employees)} employees, {args.concurrency:,} in flight, "
              f"{args.hosts} PTO hosts, {args.kills} kills, {args.nodes or 1} node(s), seed {args.seed}", flush=True)
        collect(rt, org)  # warm-up: every host exists and every agent is active before the first kill
        recorder, watch = Recorder(len(plan)), ChaosWatch(rt)
        driver, chaos = Driver(rt, args, recorder), Chaos(rt, args, watch, cluster)
        watch.sample()
        wall = asyncio.run(run(rt, plan, driver, chaos, watch))
        recorder.bar.close()
        survived = all(c["survived"] for c in chaos.log)
        results, lost = verify(rt, org, plan, watch) if survived else ([], None)
        report = figures(args, wall, recorder, driver, chaos, watch, lost, results)
        print_report(report)
        write_json(args.json_path, report)
        return 0 if survived and not lost and all(r.ok for r in results) else 1
    finally:
        if cluster is not None:
            ray.shutdown()
            cluster.shutdown()
            if own_tmp:
                shutil.rmtree(own_tmp, ignore_errors=True)
        elif rt is not None:
            rt.shutdown(destroy=True)


if __name__ == "__main__":
    raise SystemExit(main())
