"""What the load scenarios share: the driver that keeps a number of requests in flight, the recorder of
latencies and outcomes, the resource watch, and waiting until the runtime has nothing queued."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import psutil
from tqdm import tqdm

from actors.messages import RequestOutcome, RequestTimeOff
from cluster import AgentId, Runtime

from ._mix import PlannedRequest

__all__ = ["Ask", "Recorder", "ResourceWatch", "Send", "asking", "drive", "keep_busy", "percentile", "settle"]

T = TypeVar("T")
Send = Callable[[AgentId, RequestTimeOff], Awaitable[RequestOutcome]]  # a driver's send, on any runtime
Ask = Callable[[PlannedRequest], Awaitable[RequestOutcome]]  # one planned request, carried to its final outcome


class Recorder:
    """Latencies, completion times and outcomes: the figures, nothing per request beyond that."""

    def __init__(self, total: int) -> None:
        self.latencies: list[float] = []
        self.completed_at: list[float] = []
        self.outcomes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.reviewed = 0  # requests that waited for their manager's decision
        self.bar = tqdm(total=total, unit="req", disable=not sys.stderr.isatty(), smoothing=0.1)

    def done(self, started: float, outcome: RequestOutcome | None, error: BaseException | None) -> None:
        now = time.perf_counter()
        self.latencies.append(now - started)
        self.completed_at.append(now)
        if error is not None:
            self.errors[type(error).__name__] += 1
            self.outcomes["error"] += 1
        else:
            self.outcomes[outcome.status if outcome.status == "approved" else f"rejected: {outcome.reason}"] += 1
        self.bar.update()


async def keep_busy(concurrency: int, work: Iterable[T], one: Callable[[T], Awaitable[object]]) -> float:
    """Run ``one(item)`` over ``work`` with exactly ``concurrency`` in flight; returns the wall time."""
    pending = iter(work)

    async def worker() -> None:
        for item in pending:
            await one(item)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def drive(ask: Ask, plan: list[PlannedRequest], concurrency: int, recorder: Recorder) -> float:
    """Keep exactly ``concurrency`` requests in flight until the plan is done, each recorded with its final
    outcome or its error; returns the wall time."""
    async def one(planned: PlannedRequest) -> None:
        started = time.perf_counter()
        try:
            recorder.done(started, await ask(planned), None)
        except Exception as exc:  # counted and reported: the checker will name the request
            recorder.done(started, None, exc)

    return await keep_busy(concurrency, plan, one)


def asking(send: Send) -> Ask:
    """Each planned request sent to its employee as it is, its answer the outcome (no review after it)."""
    return lambda planned: send(AgentId("employee", planned.employee),
                                RequestTimeOff(request_id=planned.request_id, text=planned.text))


class ResourceWatch:
    """Peak resident memory and CPU seconds of the driver, the bus and the hosts, sampled while the run goes."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.driver = 0
        self.workers: dict[str, int] = {}
        self.cpu_first: dict[str, float] = {}
        self.cpu_last: dict[str, float] = {}

    def sample(self) -> dict[str, Any]:
        driver = psutil.Process()
        self.driver = max(self.driver, driver.memory_info().rss)
        cpu = {"driver": sum(driver.cpu_times()[:2])}  # before stats(), which may wait behind the run's messages
        stats = self.rt.stats()
        for name, figures in [("bus", stats["bus"]), *stats["hosts"].items()]:
            self.workers[name] = max(self.workers.get(name, 0), figures.get("rss", 0))
            cpu[name] = figures.get("cpu_s", 0.0)
        first = not self.cpu_last
        for name, seconds in cpu.items():
            # a host first seen mid-run was created by the run: all its CPU (counted from its creation) is the run's
            self.cpu_first.setdefault(name, seconds if first else 0.0)
            self.cpu_last[name] = seconds
        return stats

    def cpu_seconds(self) -> dict[str, float]:
        return {name: self.cpu_last[name] - self.cpu_first[name] for name in self.cpu_last}

    async def run(self, every: float = 2.0) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(every)


def settle(rt: Runtime, watch: ResourceWatch, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until nothing is queued anywhere (published notices are fire-and-forget)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = watch.sample()
        busy = stats["bus"].get("queued", 0) + sum(h.get("queued", 0) + h.get("outbox", 0)
                                                   for h in stats["hosts"].values())
        if not busy or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0
