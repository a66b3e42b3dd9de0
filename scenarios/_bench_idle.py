"""One send at idle: how long a single send takes with nothing else in flight, from the driver and between
agents on two hosts, against one synchronous raw Ray actor call measured in the same run — and, as the least
a send through the bus could cost, one synchronous raw call through a plain relay actor (``RawRelay``).

The three are measured in turns (``rounds`` of ``sends`` each), so a machine that slows down mid-run slows
all three alike; the figures are medians. Between agents only the inner sends are timed, by the sending agent
itself (``Prober``): the driver's message that starts a round and its answer are not counted."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import ray

from cluster import AgentId, Runtime

from ._bench_agents import BenchReplyWrong, Ping, Pong, Probe, RawRelay, RawSink

__all__ = ["IDLE_KINDS", "IdleFigure", "idle_sends"]

RAW = "raw Ray actor call, synchronous"
RELAYED = "raw Ray call through a relay actor, synchronous"
DRIVER = "bus send from the driver"
AGENTS = "bus send between agents on two hosts"
IDLE_KINDS = (RAW, RELAYED, DRIVER, AGENTS)


@dataclass(frozen=True)
class IdleFigure:
    name: str
    median_ms: float
    p90_ms: float
    samples: int
    vs_raw: float  # this median over the raw call's


async def idle_sends(rt: Runtime, rounds: int, sends: int, target: AgentId, prober: AgentId) -> list[IdleFigure]:
    """The median and 90th percentile of each kind of one send at idle, ``rounds`` x ``sends`` of each.
    ``prober`` must live on another host than ``target``."""
    sink = ray.remote(RawSink).remote()
    relay = ray.remote(RawRelay).remote(sink)
    seconds: dict[str, list[float]] = {kind: [] for kind in IDLE_KINDS}
    try:
        await _round(rt, (sink, relay), 1, target, prober, {kind: [] for kind in IDLE_KINDS})  # starts everything
        for _ in range(rounds):
            await _round(rt, (sink, relay), sends, target, prober, seconds)
    finally:
        ray.kill(relay)
        ray.kill(sink)
    raw = statistics.median(seconds[RAW])
    return [IdleFigure(kind, statistics.median(found) * 1e3, _p90(found) * 1e3, len(found),
                       statistics.median(found) / raw) for kind, found in seconds.items()]


async def _round(rt: Runtime, raw: tuple[Any, Any], sends: int, target: AgentId, prober: AgentId,
                 seconds: dict[str, list[float]]) -> None:
    for kind, actor in zip((RAW, RELAYED), raw, strict=True):
        for n in range(sends):
            start = time.perf_counter()
            ray.get(actor.ping.remote({"n": n}))  # blocks the loop: nothing else is in flight
            seconds[kind].append(time.perf_counter() - start)
    for n in range(sends):
        start = time.perf_counter()
        reply = await rt.send(target, Ping(n=n))
        seconds[DRIVER].append(time.perf_counter() - start)
        if type(reply) is not Pong or reply.n != n:
            raise BenchReplyWrong(f"Ping(n={n}) was answered with {reply!r}")
    probed = await rt.send(prober, Probe(target=str(target), sends=sends), timeout=60.0 + sends)
    seconds[AGENTS].extend(probed.seconds)


def _p90(found: list[float]) -> float:
    return statistics.quantiles(found, n=10)[-1] if len(found) > 1 else found[0]
