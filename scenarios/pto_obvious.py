"""The PTO flow four ways, on the same org and the same phrases, in one run:

- ceiling: the app's handlers called directly in one process, no runtime (messages still copied through
  pydantic) — what the work itself costs;
- autogen: AutoGen core 0.7.5's ``SingleThreadedAgentRuntime`` running the same agents;
- obvious: raybus as a user who read only README would register the app — every handler serial but the one
  the flow cannot do without (``scenarios/_obvious_agents.py``), the populous types (employee, manager,
  team) each in its own ``Sharded(4)``, hr, dates and notifier with no placement (one Ray actor each);
- tuned: raybus as ``pto_load`` registers it — one pool of ``--hosts``, each department on one host, the
  workflows interleaved.

Each is reported as requests/s, the cores it used (CPU-seconds of its processes over the wall time: the
driver, and for raybus the bus and every host), its share of the ceiling per core used, and against
AutoGen; the raybus runs also say where messages waited (``rt.stats()["backlog"]``).

    python -m scenarios.pto_obvious [--requests 2000] [--concurrency 1000] [--employees 200] [--seed 7]
        [--runs ceiling,autogen,obvious,tuned] [--learn REQUESTS] [--durable] [--json PATH]

``--learn N``: N requests (the same for every run, other ids) are driven first and not timed: raybus moves the
obvious program's agents next to the agents they talk to as it sees them talk (``Runtime`` moves, README).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ray

from actors.app import register_pto
from actors.invariants import check, collect
from actors.org import Org
from cluster import Runtime

from ._common import ScenarioError, add_common_flags, guarded, machine, print_table, write_json
from ._direct import DirectPto
from ._load import Recorder, ResourceWatch, Send, asking, drive, percentile, settle
from ._mix import PlannedRequest, request_mix
from ._obvious_agents import AGENT_TYPES as OBVIOUS_TYPES
from ._pto import RUNTIME_PLACEMENTS, add_org_flags, as_service, load_org
from ._run_store import run_store
from ._where import print_backlog, run_backlog

RUNS = ("ceiling", "autogen", "obvious", "tuned")
# After the learning requests the clock starts once no move has begun for MOVES_QUIET seconds (MOVES_AT_MOST at most):
# the moves they prompted are over (a fixed 3 s pause left departments split in some runs, 2026-12-05).
MOVES_QUIET = 2.0
MOVES_AT_MOST = 30.0


def _runs(text: str) -> list[str]:
    runs = [run.strip() for run in text.split(",") if run.strip()]
    unknown = [run for run in runs if run not in RUNS]
    if unknown or not runs:
        raise ScenarioError(f"--runs {text!r}: choose among {', '.join(RUNS)}")
    return runs


class Run:
    """One way of running the plan: what it measured. ``learning``: requests driven first, untimed, the same
    for every run: the raybus runs learn from them where their agents belong (moves), the others warm up."""

    def __init__(self, name: str, plan: list[PlannedRequest], learning: list[PlannedRequest]) -> None:
        self.name = name
        self.learning = learning
        self.owners = {p.request_id: p.employee for p in [*learning, *plan]}  # every request the check looks for
        self.recorder = Recorder(len(plan))
        self.wall = 0.0
        self.cpu_s = 0.0
        self.results: list = []
        self.backlog: dict[str, Any] | None = None

    async def learn(self, send: Send, concurrency: int, rt: Runtime | None = None) -> None:
        """The learning requests, then (raybus) until the moves they prompted are over; their errors are the
        run's."""
        if not self.learning:
            return
        learned = Recorder(len(self.learning))
        await drive(asking(send), self.learning, concurrency, learned)
        learned.bar.close()
        self.recorder.errors.update({f"learning: {error}": n for error, n in learned.errors.items()})
        if rt is not None:
            await asyncio.to_thread(moves_over, rt)

    async def timed(self, send: Send, plan: list[PlannedRequest], concurrency: int) -> None:
        self.wall = await drive(asking(send), plan, concurrency, self.recorder)
        self.recorder.bar.close()

    def figures(self) -> dict[str, Any]:
        requests = sum(self.recorder.outcomes.values())
        return {"run": self.name, "requests_per_s": requests / self.wall, "wall_s": self.wall,
                "cores_used": self.cpu_s / self.wall,
                "latency_s": {f"p{q}": percentile(self.recorder.latencies, q / 100) for q in (50, 99)},
                "outcomes": dict(sorted(self.recorder.outcomes.items())), "errors": dict(self.recorder.errors),
                "invariants_held": all(r.ok for r in self.results),
                "violated": [r.name for r in self.results if not r.ok], "backlog": self.backlog}


def moves_over(rt: Runtime) -> None:
    """Wait until no move has begun for ``MOVES_QUIET`` seconds (``MOVES_AT_MOST`` at most)."""
    started, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + MOVES_AT_MOST
    while time.monotonic() < deadline:
        now_started = rt.stats()["bus"].get("moves_started", 0)
        if now_started != started:
            started, quiet_since = now_started, time.monotonic()
        elif time.monotonic() - quiet_since >= MOVES_QUIET:
            return
        time.sleep(0.25)


def in_process(name: str, org: Org, plan: list[PlannedRequest], learning: list[PlannedRequest], concurrency: int,
               hr_dir: Path) -> Run:
    """The ceiling or AutoGen: one process, so its CPU is this process's over the timed part."""
    run = Run(name, plan, learning)

    async def go() -> None:
        if name == "ceiling":
            app = DirectPto(org, str(hr_dir))
            await app.start()
            send: Send = app.ask
        else:
            from ._autogen_pto import AutogenPto  # the optional extra: only this run needs it

            app = AutogenPto(org, str(hr_dir))
            await app.start()
            send = app.send
        await run.learn(send, concurrency)
        cpu = time.process_time()
        await run.timed(send, plan, concurrency)
        run.cpu_s = time.process_time() - cpu
        if name == "autogen":
            await app.stop()
        run.results = check(org, collect(app, org), run.owners)

    asyncio.run(go())
    return run


def on_raybus(name: str, org: Org, plan: list[PlannedRequest], learning: list[PlannedRequest],
              args: argparse.Namespace, base: Path) -> Run:
    """The obvious or the tuned registration on a fresh namespace of the same Ray; CPU from every process of
    the namespace (driver, bus, hosts) over the timed part, and where messages waited."""
    run = Run(name, plan, learning)
    where = base / name
    rt = Runtime.connect(namespace=f"pto-{name}-{int(time.time())}", shards=args.shards,
                         state_dir=str(where / "state") if args.durable else None)
    try:
        if name == "obvious":
            register_pto(rt, org, where / "hr", policy=not args.no_policy, agent_types=OBVIOUS_TYPES,
                         placements=RUNTIME_PLACEMENTS)
        else:
            register_pto(rt, org, where / "hr", hosts=args.hosts, by_department=args.placement == "department",
                         policy=not args.no_policy)
        started = time.perf_counter()
        collect(rt, org)  # creates the hosts and activates every agent before the clock
        print(f"{name}: {len(rt.agents())} agents active in {time.perf_counter() - started:.1f}s", flush=True)

        async def timed() -> tuple[ResourceWatch, dict[str, Any]]:
            send: Send = lambda recipient, message: service.send(recipient, message, timeout=300)  # noqa: E731
            await run.learn(send, args.concurrency, rt)
            watch = ResourceWatch(rt)  # CPU and backlog of the timed part alone
            before = watch.sample()
            sampling = asyncio.ensure_future(watch.run())
            try:
                await run.timed(send, plan, args.concurrency)
            finally:
                sampling.cancel()
            return watch, before

        with as_service(rt) as service:  # as the PTO service, as pto_load sends
            watch, before = asyncio.run(timed())
        stats = settle(rt, watch)
        run.cpu_s = sum(watch.cpu_seconds().values())
        run.backlog = run_backlog(before, stats, run.wall, every_agent_known=not learning)
        run.results = check(org, collect(rt, org, keep=False), run.owners)
    finally:
        rt.shutdown(destroy=True)
    return run


def report(args: argparse.Namespace, org: Org, runs: list[Run]) -> dict[str, Any]:
    figures = {run.name: run.figures() for run in runs}
    ceiling, autogen = figures.get("ceiling"), figures.get("autogen")
    for one in figures.values():
        per_core = one["requests_per_s"] / one["cores_used"] if one["cores_used"] else 0.0
        one["requests_per_s_per_core"] = per_core
        if ceiling:
            one["share_of_ceiling_per_core"] = per_core / ceiling["requests_per_s_per_core"]
        if autogen:
            one["vs_autogen"] = one["requests_per_s"] / autogen["requests_per_s"]
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "command": "python -m scenarios.pto_obvious " + " ".join(sys.argv[1:]),
            "requests": args.requests, "learning": args.learn, "concurrency": args.concurrency,
            "employees": len(org.employees),
            "seed": args.seed, "durable": args.durable, "runs": figures}


def print_report(found: dict[str, Any]) -> None:
    runs = found["runs"].values()
    print_table(f"pto_obvious, {found['date']}, {found['machine']}, {found['requests']:,} requests, "
                f"{found['concurrency']:,} in flight, after {found['learning']:,} learning",
                ("run", "requests/s", "cores used", "per core", "share of the ceiling per core", "vs AutoGen",
                 "p50 s", "p99 s", "errors", "invariants"),
                [(r["run"], r["requests_per_s"], r["cores_used"], r["requests_per_s_per_core"],
                  f"{r['share_of_ceiling_per_core']:.1%}" if "share_of_ceiling_per_core" in r else "-",
                  f"{r['vs_autogen']:.2f}x" if "vs_autogen" in r else "-", r["latency_s"]["p50"],
                  r["latency_s"]["p99"], sum(r["errors"].values()),
                  "held" if r["invariants_held"] else "VIOLATED: " + "; ".join(r["violated"])) for r in runs])
    for r in runs:
        if r["backlog"] is not None:
            print_backlog(r["backlog"], r["run"])


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--learn", type=int, default=0, metavar="REQUESTS",
                        help="requests driven first, untimed, other ids (the runtime learns where agents belong)")
    parser.add_argument("--runs", type=_runs, default=list(RUNS), help=f"which, in order (default {','.join(RUNS)})")
    add_org_flags(parser, employees=200)
    add_common_flags(parser)
    args = parser.parse_args(argv)
    org = load_org(args)
    plan = request_mix(org, args.requests, args.seed)
    learning = [replace(p, request_id=f"learn-{p.request_id}") for p in request_mix(org, args.learn, args.seed + 1)]
    run_store(args, "pto-obvious")
    if args.run_dir is None:
        raise ScenarioError("pto_obvious keeps its four runs in SQLite files: give --store a directory")
    base = Path(args.run_dir)
    print(f"{args.requests:,} requests from {len(org.employees)} employees in {len(org.teams)} teams, "
          f"{args.concurrency:,} in flight, seed {args.seed}: {', '.join(args.runs)}", flush=True)
    runs = []
    for name in args.runs:
        if name in ("ceiling", "autogen"):
            runs.append(in_process(name, org, plan, learning, args.concurrency, base / name / "hr"))
        else:
            if not ray.is_initialized():
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(address=args.address, log_to_driver=False)
            runs.append(on_raybus(name, org, plan, learning, args, base))
        print(f"{name}: {runs[-1].figures()['requests_per_s']:,.0f} requests/s", flush=True)
    if ray.is_initialized():
        ray.shutdown()
    found = report(args, org, runs)
    print_report(found)
    write_json(args.json_path, found)
    return 0 if all(r.figures()["invariants_held"] and not r.recorder.errors for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
