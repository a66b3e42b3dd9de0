"""Drivers' answers at a bus shard: one queue per driver connection, emptied by its long poll (``Bus.pull``)."""

from __future__ import annotations

import asyncio
import contextlib

from ._wire import Answer

__all__ = ["DriverQueues"]


class _Queue:
    __slots__ = ("event", "items")

    def __init__(self) -> None:
        self.items: list[Answer] = []
        self.event = asyncio.Event()


class DriverQueues:
    __slots__ = ("_queues",)

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}

    def meet(self, client: str) -> None:
        """A driver's batch came: its queue is there before any answer (one made at once must not beat the
        first pull)."""
        if client not in self._queues:
            self._queues[client] = _Queue()

    def put(self, client: str, answer: Answer, unknown_too: bool) -> bool:
        """Queue an answer for the driver; for one never met, only if ``unknown_too`` (a restarted shard did not
        meet the drivers its old self had: their long polls come back). False if not queued."""
        queue = self._queues.get(client)
        if queue is None:
            if not unknown_too:
                return False
            queue = self._queues[client] = _Queue()
        queue.items.append(answer)
        queue.event.set()
        return True

    def empty(self, client: str) -> bool:
        """Nothing waits for the driver: an answer in a reply overtakes nothing."""
        queue = self._queues.get(client)
        return queue is None or not queue.items

    async def pull(self, client: str, wait: float) -> list[Answer]:
        """The driver's answers as soon as there are any, or none after ``wait`` seconds."""
        queue = self._queues.get(client)
        if queue is None:
            queue = self._queues[client] = _Queue()
        if not queue.items:
            queue.event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(queue.event.wait(), wait)
        items, queue.items = queue.items, []
        return items

    def disconnect(self, client: str) -> list[Answer]:
        """The driver is gone: what waited for it (a long poll still waiting returns empty)."""
        queue = self._queues.pop(client, None)
        if queue is None:
            return []
        items, queue.items = queue.items, []
        queue.event.set()
        return items

    def held(self) -> int:
        return sum(len(queue.items) for queue in self._queues.values())
