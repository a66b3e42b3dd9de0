"""Agents and messages of the bus benchmark (importable, so every Ray worker can build them), and the raw Ray
baseline every benchmark measures against in the same run."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ray
from pydantic import BaseModel

from cluster import Agent, AgentId, MessageContext, handler

__all__ = [
    "Count", "Counted", "Echo", "Fire", "Fired", "HotSender", "Ping", "Pong", "Probe", "Probed", "Prober", "RawRelay",
    "RawSink", "Sink", "Tick", "keep_in_flight", "raw_batched", "raw_pipelined",
]


async def keep_in_flight(send: Callable[[Ping, int], Awaitable[Any]], in_flight: int, seconds: float) -> int:
    """Keep ``in_flight`` workers each with one ping outstanding (``send(Ping(n), worker)``, each ``n`` new)
    for ``seconds``; return how many came back, each checked to answer its own ping. The driver and the sender
    agents load the bus the same way, so their figures compare.

    The worker's index, not ``n``, picks a target: each agent keeps the same senders, as before the bench
    checked replies. Picking by ``n`` sprays every wave over every agent: on the same runtime the bus's batches
    to a host shrank from about 480 to about 170 messages and the bus spent 44-55 µs of CPU per round trip
    instead of 31-36 (2026-12-04) — a change of load, not of the runtime."""
    done = 0
    deadline = time.perf_counter() + seconds
    numbers = itertools.count()

    async def worker(index: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            n = next(numbers)
            reply = await send(Ping(n=n), index)
            if type(reply) is not Pong or reply.n != n:  # not building a Pong: the check stays off the figure
                raise BenchReplyWrong(f"Ping(n={n}) was answered with {reply!r}")
            done += 1

    await asyncio.gather(*(worker(i) for i in range(in_flight)))
    return done


class BenchReplyWrong(RuntimeError):
    """A benchmark call came back with another call's answer, or none: the figure would count a wrong answer."""


class Ping(BaseModel):
    n: int


class Pong(BaseModel):
    n: int


class Tick(BaseModel):
    n: int


class Fire(BaseModel):
    """Tells a ``HotSender`` what to load, and for how long."""

    target: str
    in_flight: int
    seconds: float


class Fired(BaseModel):
    round_trips: int


class Probe(BaseModel):
    """Tells a ``Prober`` to time ``sends`` sends to ``target``, one at a time."""

    target: str
    sends: int


class Probed(BaseModel):
    seconds: list[float]


class Count(BaseModel):
    pass


class Counted(BaseModel):
    ticks: int


class Echo(Agent):
    @handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
        return Pong(n=message.n)


class Sink(Agent):
    """Counts the ticks it hears; ``Count`` answers after every tick that reached the mailbox before it (FIFO).
    With one bus shard that is every tick published before it; with more, a tick takes its topic's shard and
    the Count its sink's, so the Count may arrive first."""

    def __init__(self) -> None:
        self.ticks = 0

    @handler
    async def on_tick(self, message: Tick, ctx: MessageContext) -> None:
        self.ticks += 1

    @handler
    async def on_count(self, message: Count, ctx: MessageContext) -> Counted:
        return Counted(ticks=self.ticks)


class HotSender(Agent):
    """Loads one target from inside the runtime: a hot key is hit by agents too, whose sends leave from a
    host (its outbox, its endpoint's answers) rather than from the driver. Answers once it is done."""

    @handler
    async def on_fire(self, message: Fire, ctx: MessageContext) -> Fired:
        target = AgentId.from_str(message.target)
        done = await keep_in_flight(lambda ping, _worker: ctx.send(target, ping), message.in_flight, message.seconds)
        return Fired(round_trips=done)


class Prober(Agent):
    """Times its own sends, one at a time, so that only the send is measured: one send at idle between two
    hosts (the driver's message that starts it and its answer are not counted)."""

    @handler
    async def on_probe(self, message: Probe, ctx: MessageContext) -> Probed:
        target = AgentId.from_str(message.target)
        seconds = []
        for n in range(message.sends):
            start = time.perf_counter()
            reply = await ctx.send(target, Ping(n=n))
            seconds.append(time.perf_counter() - start)
            if type(reply) is not Pong or reply.n != n:
                raise BenchReplyWrong(f"Ping(n={n}) was answered with {reply!r}")
        return Probed(seconds=seconds)


class RawSink:
    """The baseline: a plain Ray async actor, no bus."""

    async def ping(self, payload: dict) -> dict:
        return payload

    async def batch(self, payloads: list[dict]) -> int:
        return len(payloads)


class RawRelay:
    """A plain Ray async actor that hands each call on to a ``RawSink`` and returns its reply: the least a send
    through a relay (the bus) can cost on this Ray, two calls and their replies."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    async def ping(self, payload: dict) -> dict:
        return await self.sink.ping.remote(payload)


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
