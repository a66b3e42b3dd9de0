"""The bus against raw Ray actor calls, in one run on the same Ray, so ratios survive a noisy machine.

    python -m scenarios.bus_bench [--seconds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import ray

from cluster import AgentId, MemberSubscription, Runtime, Sharded, TopicId

from ._bench_agents import Count, Ping, RawSink, Tick
from ._common import add_common_flags, connect, machine, print_table, write_json

POOL = Sharded(2, pool="bench")


def raw_pipelined(seconds: float, in_flight: int) -> float:
    """Baseline: waves of ``in_flight`` concurrent calls to one plain async actor."""
    sink = ray.remote(RawSink).remote()
    ray.get(sink.ping.remote({}))
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ray.get([sink.ping.remote({"n": i}) for i in range(in_flight)])
        done += in_flight
    rate = done / (time.perf_counter() - start)
    ray.kill(sink)
    return rate


def raw_batched(seconds: float, batch: int = 100, calls: int = 50) -> float:
    """Messages per second when each plain Ray call carries a list of ``batch`` of them."""
    sink = ray.remote(RawSink).remote()
    payloads = [{"n": i} for i in range(batch)]
    ray.get(sink.batch.remote(payloads))
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += sum(ray.get([sink.batch.remote(payloads) for _ in range(calls)]))
    rate = done / (time.perf_counter() - start)
    ray.kill(sink)
    return rate


async def bus_send(rt: Runtime, seconds: float, in_flight: int, agents: int = 64) -> float:
    """Round trips per second with ``in_flight`` sends outstanding at all times."""
    targets = [AgentId("echo", f"k{i}") for i in range(agents)]
    await asyncio.gather(*(rt.send(target, Ping(n=0)) for target in targets))
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal done
        target = targets[index % agents]
        while time.perf_counter() < deadline:
            await rt.send(target, Ping(n=index))
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(in_flight)))
    return done / (time.perf_counter() - start)


async def bus_publish(rt: Runtime, seconds: float, subscribers: int, wave: int = 1000) -> float:
    """Deliveries per second of publishes to ``subscribers`` agents, counted by the agents themselves."""
    topic = TopicId("bench", f"fanout{subscribers}")
    sinks = [AgentId("sink", f"f{subscribers}-{i}") for i in range(subscribers)]
    for sink in sinks:
        rt.subscribe(MemberSubscription(topic, sink))
    await asyncio.gather(*(rt.send(sink, Count()) for sink in sinks))
    published, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        await asyncio.gather(*(rt.publish(topic, Tick(n=n)) for n in range(wave)))
        published += wave
        counts = await asyncio.gather(*(rt.send(sink, Count()) for sink in sinks))
    elapsed = time.perf_counter() - start
    lost = [c.ticks for c in counts if c.ticks != published]
    if lost:
        raise SystemExit(f"publish to {subscribers}: subscribers counted {lost[:5]}, expected {published}")
    return published * subscribers / elapsed


def run(rt: Runtime, seconds: float, in_flight: int, fanouts: list[int]) -> list[tuple[str, str, float]]:
    measure: list[tuple[str, str, Callable[[], float | Awaitable[float]]]] = [
        ("raw Ray pipelined calls", "calls/s", lambda: raw_pipelined(seconds, in_flight)),
        ("raw Ray calls carrying 100 msgs", "msgs/s", lambda: raw_batched(seconds)),
        ("bus send, 1 in flight", "round trips/s", lambda: bus_send(rt, seconds, 1)),
        (f"bus send, {in_flight} in flight", "round trips/s", lambda: bus_send(rt, seconds, in_flight)),
        *[(f"bus publish to {k}", "deliveries/s", lambda k=k: bus_publish(rt, seconds, k)) for k in fanouts],
    ]
    results = []
    for name, unit, fn in measure:
        value = fn()
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
        results.append((name, unit, value))
        print(f"  {name}: {value:,.0f} {unit}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--in-flight", type=int, default=1000, help="concurrency of the pipelined figures")
    parser.add_argument("--fanouts", default="1,4,16,64", help="subscriber counts for publish")
    add_common_flags(parser)
    args = parser.parse_args(argv)
    rt = connect(args, "bench")
    try:
        rt.register("echo", "scenarios._bench_agents:Echo", placement=POOL)
        rt.register("sink", "scenarios._bench_agents:Sink", placement=POOL)
        rt.register_message(Tick)
        fanouts = [int(k) for k in args.fanouts.split(",")]
        results = run(rt, args.seconds, args.in_flight, fanouts)
        baseline = results[0][2]
        rows = [(name, f"{value:,.0f} {unit}", f"{value / baseline:.2f}x") for name, unit, value in results]
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        print_table(f"bus_bench, {when}, {machine()}, hosts: {POOL}", ("figure", "value", "vs raw pipelined"), rows)
        write_json(args.json_path, {
            "date": when, "machine": machine(), "placement": str(POOL), "seconds": args.seconds,
            "figures": [{"name": n, "unit": u, "value": v, "ratio": v / baseline} for n, u, v in results],
        })
    finally:
        rt.shutdown(destroy=True)


if __name__ == "__main__":
    main()
