"""Mirrors the runtime's in-process counts into Ray's metrics (the dashboard, Prometheus).

Exported as deltas once a second: a metric call per message would cost more than the message."""

from __future__ import annotations

import asyncio
import collections
import os
from collections.abc import Callable, Mapping

import psutil
from ray.util.metrics import Counter

__all__ = ["DeltaCounter", "MetricsExporter", "process_figures"]

_ROUTED = {"sends": "send", "publishes": "publish", "answers": "answer",
           "local_deliveries": "local_send", "local_answers": "local_answer"}
_DELIVERIES = ("sends", "publish_deliveries", "local_deliveries")
_DEAD_PREFIX = "dead_letters_"
_REFUSED_PREFIX = "dead_letters_NotAuthorized"


class _EverySecond:
    """Calls ``export`` once a second from the running loop, from the first ``start`` on."""

    _task: asyncio.Task | None = None

    def start(self) -> None:
        """Begin exporting from the running loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self, every: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every)
            self.export()

    def export(self) -> None:
        raise NotImplementedError


class MetricsExporter(_EverySecond):
    def __init__(self, namespace: str, where: str, counts: Callable[[], Mapping[str, int]]) -> None:
        self._tags = {"namespace": namespace, "where": where}
        self._counts = counts
        self._last: dict[str, int] = {}
        keys = ("namespace", "where")
        self._routed = Counter("raybus_messages_routed", "Messages routed, by kind", (*keys, "kind"))
        self._deliveries = Counter("raybus_deliveries", "Messages handed to an agent's mailbox", keys)
        self._dead = Counter("raybus_dead_letters", "Undeliverable messages, by reason", (*keys, "reason"))
        self._refused = Counter("raybus_refused", "Messages refused as not authorized", keys)

    def export(self) -> None:
        counts = dict(self._counts())
        delta = {key: value - self._last.get(key, 0) for key, value in counts.items()}
        self._last = counts
        for key, kind in _ROUTED.items():
            if delta.get(key):
                self._routed.inc(delta[key], self._tags | {"kind": kind})
        delivered = sum(delta.get(key, 0) for key in _DELIVERIES)
        if delivered:
            self._deliveries.inc(delivered, self._tags)
        for key, value in delta.items():
            if key.startswith(_DEAD_PREFIX) and value:
                self._dead.inc(value, self._tags | {"reason": key.removeprefix(_DEAD_PREFIX)})
        if delta.get(_REFUSED_PREFIX):
            self._refused.inc(delta[_REFUSED_PREFIX], self._tags)


class DeltaCounter(_EverySecond):
    """A dashboard counter for application events (requests by outcome...): ``inc`` only bumps an in-process
    tally, which goes to Ray's metrics as deltas once a second from the running loop."""

    def __init__(self, name: str, description: str, tag_keys: tuple[str, ...]) -> None:
        self._metric = Counter(name, description, tag_keys)
        self._tally: collections.Counter[tuple[tuple[str, str], ...]] = collections.Counter()
        self._sent: dict[tuple[tuple[str, str], ...], int] = {}

    def inc(self, **tags: str) -> None:
        self._tally[tuple(sorted(tags.items()))] += 1
        self.start()

    def export(self) -> None:
        for tags, total in list(self._tally.items()):
            if total != self._sent.get(tags, 0):
                self._metric.inc(total - self._sent.get(tags, 0), dict(tags))
                self._sent[tags] = total


def process_figures(cpu_since: float = 0.0) -> dict[str, float]:
    """This process's resident memory, CPU seconds since ``cpu_since`` and pid: where a run's time and memory
    went. An actor passes the CPU it had when created, so its process's start-up is left out."""
    process = psutil.Process()
    cpu = process.cpu_times()
    return {"rss": process.memory_info().rss, "cpu_s": cpu.user + cpu.system - cpu_since, "pid": os.getpid()}
