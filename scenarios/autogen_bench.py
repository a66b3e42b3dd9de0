"""The same AutoGen workloads on SingleThreadedAgentRuntime and on RaybusAgentRuntime, in one run.

- request: the driver sends ``--requests`` Jobs, ``--in-flight`` at a time, to ``--workers`` agents;
- fan-out: ``--publishes`` publishes on one topic that ``--subscribers`` agent types subscribe to;
- cascade: ``--chains`` publishes, each handed on through ``--depth`` stages (each stage publishes to the next).

Each figure is timed until ``stop_when_idle`` returns (everything handled) and checked against the agents'
own counts, read back with ``agent_save_state``.

    python -m scenarios.autogen_bench [--requests 2000] [--publishes 200] [--chains 200] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

REPO = str(Path(__file__).resolve().parent.parent)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"autogen_bench: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(description="AutoGen workloads on SingleThreadedAgentRuntime and RaybusAgentRuntime")
    for flag, default, text in [("--requests", 2000, "request: Jobs sent"), ("--in-flight", 200, "sends or publishes "
                                "in flight from the driver"), ("--workers", 16, "request: agents sent to"),
                                ("--publishes", 200, "fan-out: publishes"), ("--subscribers", 16, "fan-out: "
                                "subscribed agent types"), ("--chains", 200, "cascade: first publishes"),
                                ("--depth", 8, "cascade: stages each chain passes")]:
        p.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: start a local one)")
    p.add_argument("--json", dest="json_path", default=None, help="also write the figures to this file")
    return p


async def _bounded(n: int, in_flight: int, one: Callable[[int], Awaitable[Any]]) -> None:
    room = asyncio.Semaphore(in_flight)

    async def go(i: int) -> None:
        async with room:
            await one(i)

    await asyncio.gather(*(go(i) for i in range(n)))


async def _counted(runtime: Any, agent_types: list[str], key: str) -> int:
    from autogen_core import AgentId

    return sum([(await runtime.agent_save_state(AgentId(t, key)))["count"] for t in agent_types])


async def workloads(runtime: Any, args: argparse.Namespace) -> list[tuple[str, str, float]]:
    """(workload, unit, per second) for each workload, each checked against the agents' counts."""
    from autogen_core import AgentId, TopicId, TypeSubscription

    from scenarios._autogen_bench_agents import Job, Stage, Tick, Worker

    await Worker.register(runtime, "worker", Worker)
    sinks = [f"sink{i}" for i in range(args.subscribers)]
    stages = [f"stage{i}" for i in range(args.depth)]
    for agent_type in sinks + stages:
        await Stage.register(runtime, agent_type, Stage)
    for agent_type in sinks:
        await runtime.add_subscription(TypeSubscription("fan", agent_type))
    for agent_type in stages:
        await runtime.add_subscription(TypeSubscription(agent_type, agent_type))
    runtime.start()
    for agent in ([AgentId("worker", f"w{i}") for i in range(args.workers)] + [AgentId(t, "f") for t in sinks]
                  + [AgentId(t, f"c{i}") for t in stages for i in range(args.chains)]):
        await runtime.get(agent, lazy=False)  # warm: every agent exists (and on raybus, every host) before timing
    figures = []

    start = time.perf_counter()
    await _bounded(args.requests, args.in_flight,
                   lambda i: runtime.send_message(Job(i), AgentId("worker", f"w{i % args.workers}")))
    figures.append(("request", "requests/s", args.requests / (time.perf_counter() - start)))
    handled = sum([(await runtime.agent_save_state(AgentId("worker", f"w{i}")))["count"] for i in range(args.workers)])
    assert handled == args.requests, f"request: {handled} handled of {args.requests}"

    start = time.perf_counter()
    await _bounded(args.publishes, args.in_flight,
                   lambda i: runtime.publish_message(Tick(0, 1), TopicId("fan", "f")))
    await runtime.stop_when_idle()
    figures.append(("fan-out", "deliveries/s", args.publishes * len(sinks) / (time.perf_counter() - start)))
    runtime.start()
    handled = await _counted(runtime, sinks, "f")
    assert handled == args.publishes * len(sinks), f"fan-out: {handled} of {args.publishes * len(sinks)}"

    start = time.perf_counter()
    await _bounded(args.chains, args.in_flight,
                   lambda i: runtime.publish_message(Tick(0, args.depth), TopicId("stage0", f"c{i}")))
    await runtime.stop_when_idle()
    figures.append(("cascade", "deliveries/s", args.chains * args.depth / (time.perf_counter() - start)))
    runtime.start()
    handled = sum([await _counted(runtime, stages, f"c{i}") for i in range(args.chains)])
    assert handled == args.chains * args.depth, f"cascade: {handled} of {args.chains * args.depth}"
    await runtime.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    bad = [flag for flag in ("requests", "in_flight", "workers", "publishes", "subscribers", "chains", "depth")
           if getattr(args, flag) < 1]
    if bad:
        parser().error(f"--{bad[0].replace('_', '-')} must be at least 1")
    try:
        from autogen_core import SingleThreadedAgentRuntime
    except ImportError:
        print("autogen_bench: autogen-core is not installed: pip install -e '.[autogen]'", file=sys.stderr)
        return 2
    import ray

    from cluster.autogen import RaybusAgentRuntime

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    tmp = None
    if args.address:
        ray.init(address=args.address, runtime_env={"env_vars": {"PYTHONPATH": REPO}}, log_to_driver=False)
    else:
        tmp = tempfile.mkdtemp(prefix="rbab-", dir="/tmp")
        ray.init(address="local", include_dashboard=False, _temp_dir=tmp, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": REPO}})
    try:
        single = asyncio.run(workloads(SingleThreadedAgentRuntime(), args))
        raybus_runtime = RaybusAgentRuntime()
        try:
            on_raybus = asyncio.run(workloads(raybus_runtime, args))
        finally:
            asyncio.run(raybus_runtime.close())
    finally:
        ray.shutdown()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = [(name, unit, a, b, b / a) for (name, unit, a), (_, _, b) in zip(single, on_raybus, strict=True)]
    print(f"{'workload':<9} {'unit':<13} {'SingleThreaded':>15} {'RaybusAgentRuntime':>19} {'raybus/single':>14}")
    for name, unit, a, b, ratio in rows:
        print(f"{name:<9} {unit:<13} {a:>15,.0f} {b:>19,.0f} {ratio:>13.2f}x")
    if args.json_path:
        import json

        Path(args.json_path).write_text(json.dumps(
            {"args": vars(args), "figures": [dict(zip(("workload", "unit", "single", "raybus", "ratio"), row,
                                                    strict=True)) for row in rows]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
