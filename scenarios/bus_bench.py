"""The bus against raw Ray actor calls, in one run on the same Ray, so ratios survive a noisy machine.

    python -m scenarios.bus_bench [--seconds 3] [--json PATH] [--idle-sends 40] [--shard-curve 1,2,4] [--nodes 2]

Besides sends spread over 64 agents and publishes to a few subscribers, it measures a hot key (every send
to one agent, hence one serial mailbox: from the driver, then from agents on a host of their own) and a hot
topic (one topic with a thousand subscribers), and one send at idle (from the driver, and between agents on two
hosts) against one synchronous raw Ray call, in medians (``_bench_idle``), and sends between two agents of one
host (the path that never leaves a process, which the PTO flow takes most). A size of 0 (an empty list for
--fanouts) skips a section.

--shard-curve measures sends and publishes again against a fresh runtime per bus shard count, with the CPU the
driver, the shards and the hosts spent; --nodes runs everything on a simulated cluster of one-CPU nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import NamedTuple
from uuid import uuid4

from cluster import AgentId, MemberSubscription, Runtime, Sharded, TopicId

from ._bench_agents import Count, Fire, Fired, Ping, Tick, keep_in_flight, raw_batched, raw_pipelined
from ._bench_idle import IdleFigure, idle_sends
from ._bench_shards import (
    GROUPS,
    CpuMeter,
    dealt,
    host_nodes,
    load_average,
    print_curve,
    simulated_cluster,
    with_ratios,
)
from ._common import add_common_flags, connect, machine, print_table, write_json

POOL = Sharded(2, pool="bench")
# The hot key's senders get a host of their own, so each of their sends crosses the bus as a driver's does.
SENDERS = Sharded(1, pool="benchsenders")
SPREAD = [AgentId("echo", f"k{i}") for i in range(64)]
HOT_KEY = AgentId("echo", "hot")
PROBER = AgentId("prober", "p0")  # on the senders' host, so its sends to SPREAD[0] cross to another host
NEAR = AgentId("nearecho", "n0")  # on the senders' host too: a send to it never leaves the process
Measure = tuple[str, str, Callable[[], float | Awaitable[float]]]


async def bus_send(rt: Runtime, seconds: float, in_flight: int, targets: list[AgentId]) -> float:
    """Round trips per second from the driver with ``in_flight`` sends outstanding at all times, dealt to
    ``targets`` in turn."""
    await asyncio.gather(*(rt.send(target, Ping(n=0)) for target in targets))
    start = time.perf_counter()
    done = await keep_in_flight(lambda ping, worker: rt.send(targets[worker % len(targets)], ping), in_flight, seconds)
    return done / (time.perf_counter() - start)


async def agents_send(rt: Runtime, seconds: float, senders: int, in_flight: int, target: AgentId) -> float:
    """Round trips per second to ``target`` from ``senders`` agents with ``in_flight`` sends each, counted by
    the senders; each is started by one driver message and answers when its time is up."""
    agents = [AgentId("hotsender", f"s{i}") for i in range(senders)]

    async def fire(length: float) -> list[Fired]:
        order = Fire(target=str(target), in_flight=in_flight, seconds=length)
        return await asyncio.gather(*(rt.send(agent, order, timeout=length + 60) for agent in agents))

    await fire(min(seconds, 0.2))  # activates the senders and warms their host's path to the target
    start = time.perf_counter()
    reports = await fire(seconds)
    return sum(report.round_trips for report in reports) / (time.perf_counter() - start)


async def bus_publish(rt: Runtime, seconds: float, subscribers: int, wave: int = 1000, name: str = "") -> float:
    """Deliveries per second of publishes to ``subscribers`` agents, counted by the agents themselves after
    each ``wave`` of concurrent publishes. ``name`` keeps one topic's subscribers apart from another's."""
    name = name or f"fanout{subscribers}"
    topic = TopicId("bench", name)
    sinks = [AgentId("sink", f"{name}-{i}") for i in range(subscribers)]
    rt.subscribe(*(MemberSubscription(topic, sink) for sink in sinks))  # one bus call, one table push
    await asyncio.gather(*(rt.send(sink, Count()) for sink in sinks))
    published, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        await asyncio.gather(*(rt.publish(topic, Tick(n=n)) for n in range(wave)))
        published += wave
        counts = await asyncio.gather(*(rt.send(sink, Count()) for sink in sinks))
    # With more than one bus shard a Count goes through its sink's shard and a tick through its topic's, so a
    # Count can overtake the last ticks (seen: 1 wave in 200 at 2 shards, 4 at 4, ticks 20-40 ms behind, never
    # with one shard). Ask again until every tick is counted, the wait counted as run time, and say so.
    asked_again, caught_up_by = 0, time.perf_counter() + 5.0
    while any(c.ticks < published for c in counts) and time.perf_counter() < caught_up_by:
        await asyncio.sleep(0.01)
        counts = await asyncio.gather(*(rt.send(sink, Count()) for sink in sinks))
        asked_again += 1
    elapsed = time.perf_counter() - start
    if asked_again:
        print(f"  note: topic {name}: Counts overtook the last ticks; asked again {asked_again}x", flush=True)
    lost = [c.ticks for c in counts if c.ticks != published]
    if lost:
        raise SystemExit(f"publish to {subscribers}: subscribers counted {lost[:5]}, expected {published}")
    return published * subscribers / elapsed


def sections(rt: Runtime, args: argparse.Namespace) -> list[Measure]:
    """What to measure, in order; the raw baseline comes first: every ratio divides by it."""
    seconds, in_flight = args.seconds, args.in_flight
    measure: list[Measure] = [
        ("raw Ray pipelined calls", "calls/s", lambda: raw_pipelined(seconds, in_flight)),
        ("raw Ray calls carrying 100 msgs", "msgs/s", lambda: raw_batched(seconds)),
        ("bus send, 1 in flight", "round trips/s", lambda: bus_send(rt, seconds, 1, SPREAD)),
        (f"bus send, {in_flight} in flight", "round trips/s", lambda: bus_send(rt, seconds, in_flight, SPREAD)),
        *[(f"bus publish to {k}", "deliveries/s", lambda k=k: bus_publish(rt, seconds, k)) for k in args.fanouts],
    ]
    if args.hot_in_flight:
        measure.append((f"hot key: bus send to one agent, {args.hot_in_flight} in flight from the driver",
                        "round trips/s", lambda: bus_send(rt, seconds, args.hot_in_flight, [HOT_KEY])))
    if args.hot_senders and args.hot_sender_in_flight:
        measure.append((f"hot key: bus send to one agent from {args.hot_senders} agents x "
                        f"{args.hot_sender_in_flight} in flight", "round trips/s",
                        lambda: agents_send(rt, seconds, args.hot_senders, args.hot_sender_in_flight, HOT_KEY)))
    if args.local_in_flight:
        measure.append((f"agents of one host: sends between two, {args.local_in_flight} in flight", "round trips/s",
                        lambda: agents_send(rt, seconds, 1, args.local_in_flight, NEAR)))
    if args.hot_subscribers:
        measure.append((f"hot topic: bus publish to one topic of {args.hot_subscribers} subscribers",
                        "deliveries/s", lambda: bus_publish(rt, seconds, args.hot_subscribers, args.hot_wave, "hot")))
    return measure


def curve_sections(rt: Runtime, args: argparse.Namespace, shards: int) -> list[Measure]:
    """The shard curve's loads on a runtime of ``shards`` bus shards. A call goes through the shard of its
    recipient and a publish through the shard of its topic, so the recipients and the topics are dealt evenly
    over the shards: with one topic every publish would go through one shard whatever their number. Each
    topic has its own subscribers (bus_publish counts them per topic) and ``--in-flight`` publishes are split
    between the topics, so a point's load is the same at every shard count. Names leave the shard count out:
    the same figure at each count is compared with the first."""
    seconds, in_flight, topics, subscribers = args.seconds, args.in_flight, args.curve_topics, args.curve_subscribers
    targets = [AgentId("echo", f"k{i}") for i in dealt(lambda i: f"echo/k{i}", len(SPREAD), shards)]
    names = [f"spread{i}" for i in dealt(lambda i: f"bench/spread{i}", topics, shards)]

    async def publish_to_every_topic() -> float:
        # the topics run side by side over the same seconds, so their rates add up (each one's subscribe at its
        # start blocks the loop briefly: the sum errs low)
        wave = max(1, in_flight // topics)
        return sum(await asyncio.gather(*(bus_publish(rt, seconds, subscribers, wave, name) for name in names)))

    return [
        (f"bus send, {in_flight} in flight to {len(targets)} agents", "round trips/s",
         lambda: bus_send(rt, seconds, in_flight, targets)),
        (f"bus publish, {topics} topics x {subscribers} subscribers", "deliveries/s", publish_to_every_topic),
    ]


def shard_curve(args: argparse.Namespace, baseline: float) -> list[dict]:
    """Every curve section at each shard count of ``--shard-curve``, each count on a fresh namespace (so a fresh
    bus of that many shards, and fresh hosts) that is destroyed afterwards."""
    points = []
    for shards in args.shard_curve:
        rt = Runtime.connect(namespace=f"bench-shards{shards}-{uuid4().hex[:8]}", shards=shards, address=args.address)
        try:
            register(rt)
            # the hosts start (a new process each) before the CPU is metered: bus_send for no time only warms up
            asyncio.run(bus_send(rt, 0.0, 1, SPREAD))
            for name, unit, fn in curve_sections(rt, args, shards):
                with CpuMeter(rt) as cpu:
                    value = measured(fn)
                points.append({"shards": shards, "name": name, "unit": unit, "value": value, "ratio": value / baseline,
                               "wall_s": cpu.wall, "cpu_s": cpu.spent, "cores_busy": cpu.cores_busy(),
                               "host_nodes": host_nodes(rt)})
                print(f"  {shards} shard(s), {name}: {value:,.0f} {unit}", flush=True)
        finally:
            rt.shutdown(destroy=True)
    return with_ratios(points)


def measured(fn: Callable[[], float | Awaitable[float]]) -> float:
    value = fn()
    return asyncio.run(value) if asyncio.iscoroutine(value) else value


class Figure(NamedTuple):
    name: str
    unit: str
    value: float
    cpu_us: float | None  # CPU µs our processes (driver, bus, hosts) spent a unit; None for raw Ray


def run(rt: Runtime, args: argparse.Namespace) -> list[Figure]:
    """Each section's rate and, for the bus's, the CPU it cost a unit (its warm-up included): what the load
    of a shared machine bends least."""
    results = []
    for name, unit, fn in sections(rt, args):
        if name.startswith("raw "):
            value, cpu_us = measured(fn), None
        else:
            with CpuMeter(rt) as cpu:
                value = measured(fn)
            cpu_us = sum(cpu.spent[group] for group in GROUPS) / (value * cpu.wall) * 1e6
        results.append(Figure(name, unit, value, cpu_us))
        print(f"  {name}: {value:,.0f} {unit}", flush=True)
    return results


def idle(rt: Runtime, args: argparse.Namespace) -> list[IdleFigure]:
    if not (args.idle_rounds and args.idle_sends):
        return []
    figures = asyncio.run(idle_sends(rt, args.idle_rounds, args.idle_sends, SPREAD[0], PROBER))
    for figure in figures:
        print(f"  one send at idle, {figure.name}: median {figure.median_ms:.2f} ms", flush=True)
    return figures


def register(rt: Runtime) -> None:
    rt.register("echo", "scenarios._bench_agents:Echo", placement=POOL)
    rt.register("sink", "scenarios._bench_agents:Sink", placement=POOL)
    rt.register("hotsender", "scenarios._bench_agents:HotSender", placement=SENDERS)
    rt.register("prober", "scenarios._bench_agents:Prober", placement=SENDERS)
    rt.register("nearecho", "scenarios._bench_agents:Echo", placement=SENDERS)
    rt.register_message(Tick)


def _sizes(text: str) -> list[int]:
    return [int(k) for k in text.split(",") if k.strip()]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--in-flight", type=int, default=1000, help="concurrency of the pipelined figures")
    parser.add_argument("--fanouts", type=_sizes, default="1,4,16,64",
                        help="subscriber counts for publish ('' skips them)")
    parser.add_argument("--hot-in-flight", type=int, default=1000,
                        help="hot key: the driver's sends in flight to one agent (0 skips)")
    parser.add_argument("--hot-senders", type=int, default=100,
                        help="hot key: agents sending to that one agent from a host of their own (0 skips)")
    parser.add_argument("--hot-sender-in-flight", type=int, default=10, help="hot key: sends in flight per agent")
    parser.add_argument("--local-in-flight", type=int, default=100,
                        help="sends in flight from one agent to another of its host (0 skips)")
    parser.add_argument("--hot-subscribers", type=int, default=1000,
                        help="hot topic: subscribers of its one topic (0 skips)")
    parser.add_argument("--hot-wave", type=int, default=200,
                        help="hot topic: publishes in flight between two counts (each reaches every subscriber)")
    parser.add_argument("--idle-rounds", type=int, default=5,
                        help="one send at idle: rounds, each timing every kind in turn (0 skips)")
    parser.add_argument("--idle-sends", type=int, default=40, help="one send at idle: sends of each kind a round")
    parser.add_argument("--shard-curve", type=_sizes, default="",
                        help="bus shard counts to measure sends and publishes at, each on a fresh runtime ('' skips)")
    parser.add_argument("--curve-topics", type=int, default=8, help="shard curve: topics the publishes are dealt to")
    parser.add_argument("--curve-subscribers", type=int, default=64, help="shard curve: subscribers of each topic")
    parser.add_argument("--nodes", type=int, default=0,
                        help="run on a simulated cluster of this many one-CPU nodes (0: no cluster)")
    add_common_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.nodes and args.address:
        raise SystemExit("--nodes starts a cluster of its own: leave --address out")
    with simulated_cluster(args.nodes) as address:
        args.address = address or args.address
        report(args, connect(args, "bench"))


def report(args: argparse.Namespace, rt: Runtime) -> None:
    try:
        register(rt)
        load = load_average()
        results = run(rt, args)
        baseline = results[0].value
        at_idle = idle(rt, args)
        curve = shard_curve(args, baseline) if args.shard_curve else []
        rows = [(f.name, f"{f.value:,.0f} {f.unit}", f"{f.value / baseline:.2f}x",
                 "" if f.cpu_us is None else f"{f.cpu_us:.1f}") for f in results]
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        where = f"{args.nodes} simulated one-CPU nodes" if args.nodes else "no simulated cluster"
        print_table(f"bus_bench, {when}, {machine()}, {load} at start, {where}, hosts: {POOL}, "
                    f"hot key senders: {SENDERS}", ("figure", "value", "vs raw pipelined", "CPU µs a unit, ours"),
                    rows)
        if at_idle:
            print_table(f"one send at idle: {args.idle_rounds} rounds x {args.idle_sends} sends of each kind, in turn",
                        ("figure", "median", "p90", "vs raw call (medians)"),
                        [(f.name, f"{f.median_ms:.2f} ms", f"{f.p90_ms:.2f} ms", f"{f.vs_raw:.2f}x") for f in at_idle])
        if curve:
            print_curve(f"shard curve, {args.seconds:g} s a point, {load_average()} at the end", curve)
        write_json(args.json_path, {
            "date": when, "machine": machine(), "placement": str(POOL), "sender_placement": str(SENDERS),
            "seconds": args.seconds, "nodes": args.nodes, "load_at_start": load,
            "figures": [f._asdict() | {"ratio": f.value / baseline} for f in results],
            "idle": [vars(figure) for figure in at_idle], "shard_curve": curve,
        })
    finally:
        rt.shutdown(destroy=True)


if __name__ == "__main__":
    main()
