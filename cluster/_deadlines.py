"""Deadlines: when an endpoint's calls stop waiting for their answers.

One timer, for the earliest deadline, over a heap of plain tuples, rather than one ``call_later`` per call:
asyncio keeps its timers in a heap of handles compared by a Python method, so each send paid a dozen of those
comparisons to push its timer and as many to drop it once answered (cProfile of a driver with 1,000 sends
in flight, 2026-12-04: about 11 comparisons a send, with the handle's allocation, a visible share of its
work). An answered call's entry stays in the heap until its deadline or until answered entries are half of
it, whichever comes first; then they are swept out at once."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable

__all__ = ["Deadlines"]

SWEEP_AFTER = 1024  # answered entries at the least before a sweep


class Deadlines:
    __slots__ = ("_answered", "_expire", "_heap", "_timer", "_timer_at", "_waiting")

    def __init__(self, waiting: Callable[[str], bool], expire: Callable[[str, str, str, float], None]) -> None:
        self._waiting = waiting  # is this call still waiting for its answer?
        self._expire = expire  # (call id, recipient, type name, timeout): it waited long enough
        self._heap: list[tuple[float, str, str, str, float]] = []  # (when, call id, recipient, type, timeout)
        # its own record of when: uvloop's ``call_at`` of a time already past returns a plain ``Handle``, which has
        # no ``when()`` (a 500 from the gateway, whose Serve replica runs uvloop)
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        self._answered = 0  # entries in the heap of calls that no longer wait

    def add(self, call_id: str, recipient: str, type_name: str, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + timeout
        heapq.heappush(self._heap, (when, call_id, recipient, type_name, timeout))
        if self._timer is None or when < self._timer_at:
            self._arm(loop, when)

    def answered(self) -> None:
        """A call no longer waits (answered, failed or expired); once such entries are half the heap, they go."""
        self._answered += 1
        if self._answered > SWEEP_AFTER and self._answered * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if self._waiting(entry[1])]
            heapq.heapify(self._heap)
            self._answered = 0

    def __len__(self) -> int:
        return len(self._heap)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._fire, loop)
        self._timer_at = when

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        heap, now = self._heap, loop.time()
        while heap and heap[0][0] <= now:
            _, call_id, recipient, type_name, timeout = heapq.heappop(heap)
            if self._waiting(call_id):
                self._expire(call_id, recipient, type_name, timeout)
            elif self._answered:
                self._answered -= 1
        if heap:
            self._arm(loop, heap[0][0])
