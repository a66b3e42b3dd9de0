"""A PTO load run with cancellations while hosts, the busiest host and bus shards are killed (Ray restarts them)
and, with ``--nodes``, a simulated multi-node cluster loses a worker node; then every host is restarted and
the state read back from the store is checked. It forgives nothing. The requests and cancellations go as the
PTO service (``service/pto``), over a connection of their own that the namespace's admin grants.

    python -m scenarios.pto_chaos --requests 2000 --kills 5 [--nodes 3] [--shards 2] [--placement hash]
                                  [--seed 7] [--json PATH]

State is always durable. The driver makes exactly one attempt per request and per cancellation: a
DeliveryTimeout is a failure, never retried away. About one request in twenty gets a cancellation sent while
it is still being decided, and about one approved request in twenty one sent after its approval. At the end
the run waits for the runtime to settle, restarts every host, and checks the invariants on the state as the
agents reload it and as the store holds it. Exit code 1 unless the verdict is PASSED (see _chaos_report).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ray

from actors.invariants import DriverAnswers, InvariantResult, Snapshot, check, collect
from actors.messages import CancelRequest, RequestTimeOff
from actors.org import Org
from actors.stored import collect_stored, same_state
from cluster import AgentId, Runtime, is_postgres

from ._chaos import Chaos, ChaosWatch, came_back, restart_hosts, settled
from ._chaos_report import RUNTIME_LOSSES, print_verdict
from ._common import ScenarioError, add_common_flags, connect, guarded, machine, print_table, write_json
from ._load import Recorder, percentile
from ._mix import PlannedRequest, request_mix
from ._pto import add_org_flags, as_service, load_org, start_app
from ._run_store import run_store
from ._simulated import schedulable, start_cluster

RACING = 0.05  # of all requests: a cancellation sent while the request is being decided
AFTER = 0.05  # of approved requests: a cancellation sent once the approval is answered


class Driver:
    """Keeps ``concurrency`` requests in flight, one attempt each; a request past a chaos moment waits until
    that moment has come, so every strike lands with requests in flight."""

    def __init__(self, rt: Runtime, args: argparse.Namespace, recorder: Recorder, plan: list[PlannedRequest]) -> None:
        self.rt, self.args, self.recorder = rt, args, recorder
        rng = random.Random(f"cancel-{args.seed}")
        self.racing = {p.request_id for p in plan if rng.random() < RACING}
        self.after = {p.request_id for p in plan if rng.random() < AFTER} - self.racing
        self.delays = random.Random(f"race-{args.seed}")
        self.started = 0
        self.attempts: Counter[str] = Counter()  # by request id: the rule is one each
        self.answers = DriverAnswers()
        self.gave_up: dict[str, str] = {}
        self.cancels: Counter[str] = Counter()
        self.gates: list[tuple[int, asyncio.Event]] = []

    async def ask(self, planned: PlannedRequest) -> Any:
        started = time.perf_counter()
        self.attempts[planned.request_id] += 1
        try:
            outcome = await self.rt.send(AgentId("employee", planned.employee),
                                         RequestTimeOff(request_id=planned.request_id, text=planned.text),
                                         timeout=self.args.timeout)
        except Exception as exc:  # one attempt: whatever it was, it is reported, not retried
            self.gave_up[planned.request_id] = f"{type(exc).__name__}: {exc}"
            self.recorder.done(started, None, exc)
            return None
        self.answers.outcomes[planned.request_id] = outcome.model_dump(mode="json", include={"status", "reason",
                                                                                            "days"})
        self.recorder.done(started, outcome, None)
        return outcome

    async def cancel(self, planned: PlannedRequest, racing: bool) -> None:
        self.cancels["sent"] += 1
        self.cancels["racing"] += racing
        try:
            answer = await self.rt.send(AgentId("employee", planned.employee),
                                        CancelRequest(request_id=planned.request_id), timeout=self.args.timeout)
        except Exception as exc:
            self.cancels["given_up"] += 1
            self.gave_up[f"cancel {planned.request_id}"] = f"{type(exc).__name__}: {exc}"
            return
        self.answers.cancels[planned.request_id] = answer.model_dump(mode="json", include={"ok", "reason"})
        self.cancels["ok" if answer.ok else "refused"] += 1

    async def one(self, planned: PlannedRequest) -> None:
        asking = asyncio.ensure_future(self.ask(planned))
        if planned.request_id in self.racing:
            await asyncio.sleep(self.delays.uniform(0.0, 0.3))
            await self.cancel(planned, racing=True)
        outcome = await asking
        if outcome is not None and outcome.status == "approved" and planned.request_id in self.after:
            await self.cancel(planned, racing=False)

    async def drive(self, plan: list[PlannedRequest]) -> None:
        pending = iter(enumerate(plan))

        async def worker() -> None:
            for index, planned in pending:
                for at, gate in self.gates:
                    if index >= at:
                        await gate.wait()
                self.started += 1
                await self.one(planned)

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


def finish(rt: Runtime, org: Org, args: argparse.Namespace, plan: list[PlannedRequest], driver: Driver,
           watch: ChaosWatch) -> dict[str, Any]:
    """Once the runtime has settled: the agents' state and the store's, which must agree; then every host
    restarted, the state as the agents reload it (which must not have moved: a settled runtime has nothing
    left to do) and as the store holds it, and the invariants on that. ``rt`` is the admin's connection."""
    requested = {p.request_id: p.employee for p in plan}
    store = args.run_store
    unsettled = settled(driver.rt, watch)
    memory = collect(rt, org)
    before = same_state("the store holds what the agents held", memory,
                        collect_stored(org, store.state, rt.namespace, store.ledgers))
    back = restart_hosts(rt, watch)
    if not came_back(back):
        return {"not_checked": f"a host did not come back after the final restart: {back}", "unsettled": unsettled}
    unsettled = unsettled or settled(driver.rt, watch)
    reloaded = collect(rt, org)
    stored = collect_stored(org, store.state, rt.namespace, store.ledgers)
    results = [*check(org, stored, requested, driver.answers), before,
               same_state("restarting every host changed nothing", memory, reloaded),
               same_state("the store holds what the restarted agents hold", reloaded, stored)]
    return {"not_checked": None, "unsettled": unsettled, "results": results, "final": stored,
            "restart_s": back, "dead_letters": dead_letters(rt)}


def dead_letters(rt: Runtime, shown: int = 1000) -> dict[str, list[dict[str, str]]]:
    """The dead letters the bus still remembers (its last thousand a shard), by reason."""
    found: dict[str, list[dict[str, str]]] = {}
    for letter in rt.dead_letters(shown):
        found.setdefault(letter["reason"], []).append(
            {"type": letter["type_name"], "target": letter["target"], "detail": letter["detail"][:200]})
    return found


def outcomes_of(plan: list[PlannedRequest], snap: Snapshot) -> tuple[list[str], list[str]]:
    """Requests with no terminal outcome (lost) and with more than one (doubled), as the employees recorded."""
    recorded: Counter[str] = Counter()
    for report in snap.employees.values():
        recorded.update(rid for rid, status in report["requests"].items()
                        if status in ("approved", "rejected", "cancelled"))
    return ([p.request_id for p in plan if not recorded[p.request_id]],
            [p.request_id for p in plan if recorded[p.request_id] > 1])


def figures(args: argparse.Namespace, wall: float, recorder: Recorder, driver: Driver, chaos: Chaos,
            watch: ChaosWatch, plan: list[PlannedRequest], checked: dict[str, Any]) -> dict[str, Any]:
    totals = watch.totals
    kinds = ("hosts", "busiest", "bus_shards", "nodes")
    results: list[InvariantResult] = checked.get("results", [])
    lost, doubled = outcomes_of(plan, checked["final"]) if "final" in checked else (None, None)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
        "command": "python -m scenarios.pto_chaos " + " ".join(sys.argv[1:]),
        "requests": args.requests, "concurrency": args.concurrency, "hosts": args.hosts, "seed": args.seed,
        "employees": args.employees, "nodes": args.nodes, "shards": args.shards, "placement": args.placement,
        "wall_s": wall, "latency_s": {f"p{q}": percentile(recorder.latencies, q / 100) for q in (50, 99)},
        "answered": len(driver.answers.outcomes),
        "outcomes": dict(sorted((k, v) for k, v in recorder.outcomes.items() if v)),
        "retries": sum(n - 1 for n in driver.attempts.values()),
        "given_up": len([r for r in driver.gave_up if not r.startswith("cancel ")]),
        "given_up_examples": dict(list(driver.gave_up.items())[:5]),
        "not_finished": args.requests - len(recorder.latencies),
        "cancels": {k: driver.cancels[k] for k in ("sent", "racing", "ok", "refused", "given_up")},
        "dead_letters": {name.removeprefix("bus.dead_letters_"): n for name, n in sorted(totals.items())
                         if name.startswith("bus.dead_letters_") and name != "bus.dead_letters_lost"},
        "dead_letter_examples": checked.get("dead_letters", {}),
        "runtime_losses": {name: totals.get(f"bus.{name}", 0) + totals.get(f"hosts.{name}", 0)
                           for name in RUNTIME_LOSSES},
        "duplicates_dropped": totals["hosts.duplicates_dropped"], "redeliveries": totals["bus.redeliveries"],
        "answers_replayed": totals["hosts.answers_replayed"], "counters": dict(sorted(totals.items())),
        "kills_planned": args.kills + (1 if args.nodes else 0),
        "kills": {k: sum(c["kind"] == k for c in chaos.log) for k in kinds},
        "kills_survived": {k: sum(c["kind"] == k and c["survived"] for c in chaos.log) for k in kinds},
        "chaos": chaos.log, "final_restart_s": checked.get("restart_s", {}),
        "store": args.run_store.shown, "disks_lost": chaos.disks_lost,
        "not_checked": checked["not_checked"], "settled": not checked["unsettled"],
        "unsettled": checked["unsettled"], "store_checked": "final" in checked,
        "lost": None if lost is None else len(lost), "lost_examples": (lost or [])[:10],
        "doubled": None if doubled is None else len(doubled), "doubled_examples": (doubled or [])[:10],
        "invariants": [r.figures() for r in results],
    }


def print_chaos(report: dict[str, Any]) -> None:
    print_table(f"pto_chaos, {report['date']}, {report['machine']}", ("figure", "value"),
                [("wall, s", report["wall_s"]), *[(f"latency {q}, s", v) for q, v in report["latency_s"].items()],
                 *[(name.removeprefix("bus.").replace("_", " "), report["counters"][name])
                   for name in ("bus.moves", "bus.hosts_retired", "bus.sent_where_moved", "hosts.direct_calls",
                                "hosts.direct_through_bus", "hosts.direct_unreachable", "hosts.not_here",
                                "hosts.table_behind_the_bus")
                   if name in report["counters"]],
                 *[(k, v) for k, v in report["counters"].items() if ".failed_" in k]])
    print_table("chaos", ("at request", "what", "actor", "back after, s"),
                [(c["at_request"], c["kind"], name, back.split("\n")[0] if isinstance(back, str) else back)
                 for c in report["chaos"] for name, back in (c["back_after_s"] or {"(none of ours)": "-"}).items()]
                + [("end", "restart", name, back) for name, back in report["final_restart_s"].items()])


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=5, help="kills one at a time: hosts, the busiest host, bus shards")
    parser.add_argument("--nodes", type=int, default=0, help="simulate a cluster of this many nodes; lose one")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds the one attempt of a request (or a cancellation) may take")
    parser.add_argument("--deadline", type=float, default=None,
                        help="kept for older command lines: the same as --timeout when smaller")
    add_org_flags(parser, employees=200)
    add_common_flags(parser)
    args = parser.parse_args(argv)
    if args.nodes == 1 or (args.nodes and args.address):
        parser.error("--nodes needs at least 2 (a head and a worker to lose), and starts its own cluster")
    if args.deadline is not None:
        args.timeout = min(args.timeout, args.deadline)
    args.durable = True
    org = load_org(args)
    plan = request_mix(org, args.requests, args.seed)
    cluster, own_tmp, rt, homes = None, None, None, {}
    store = run_store(args, "pto-chaos")  # a run that does not fit is refused before Ray starts
    if args.nodes and not is_postgres(store.hr) and not store.hr.startswith("~"):
        raise ScenarioError(f"--nodes simulates nodes with disks of their own: a SQLite run goes under ~ (each "
                            f"node's home), not {args.run_dir}, which would be one disk every node shares")
    disks = Path(tempfile.mkdtemp(prefix="rbd-", dir="/tmp"))
    try:
        if args.nodes:
            cluster, own_tmp, homes = start_cluster(args.nodes, disks)
            args.address = cluster.address
        rt = connect(args, "pto-chaos", store.state)
        if cluster is not None:  # hosts spread over every node, so that losing one takes some
            schedulable([node.node_id for node in cluster.worker_nodes])
        start_app(rt, org, args, store)
        print(f"{args.requests:,} requests from {len(org.employees)} employees, {args.concurrency:,} in flight, "
              f"{args.hosts} PTO hosts ({args.placement}), {args.shards} bus shard(s), {args.kills} kills, "
              f"{args.nodes or 1} node(s), seed {args.seed}", flush=True)
        collect(rt, org)  # warm-up: every host exists and every agent is active before the first kill
        with as_service(rt) as service:
            recorder, watch = Recorder(len(plan)), ChaosWatch(service)
            driver, chaos = Driver(service, args, recorder, plan), Chaos(service, args, watch, cluster, homes)
            watch.sample()
            wall = asyncio.run(run(service, plan, driver, chaos, watch))
            recorder.bar.close()
            survived = all(c["survived"] for c in chaos.log)
            if not survived:
                checked = {"not_checked": "a killed actor did not come back (see the chaos table)", "unsettled": ""}
            elif any(chaos.disks_lost.values()):  # reading back a store with holes would only list what they cost
                checked = {"not_checked": "the run's data are not whole: a lost node took part of them with its disk",
                           "unsettled": ""}
            else:
                checked = finish(rt, org, args, plan, driver, watch)
        report = figures(args, wall, recorder, driver, chaos, watch, plan, checked)
        print_chaos(report)
        report["verdict"] = print_verdict(report)
        write_json(args.json_path, report)
        return 1 if report["verdict"] else 0
    finally:
        if cluster is not None:
            ray.shutdown()
            cluster.shutdown()
            if own_tmp:
                shutil.rmtree(own_tmp, ignore_errors=True)
        elif rt is not None:
            rt.shutdown(destroy=True)
        shutil.rmtree(disks, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
