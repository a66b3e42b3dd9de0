"""SendWindow: backpressure at the sender. At most ``size`` calls from one endpoint (a driver or a host)
are in flight to any one host; a sender faster than its receiver waits here, within its own timeout,
instead of filling the bus's queue and the receiver's mailboxes. Memory then stays bounded by
senders x size, whatever the receivers' speed.

A counter and a queue of waiters per host rather than an ``asyncio.Semaphore``: every send enters and leaves a
window, and the semaphore's checks (``locked()`` builds a generator each time) were a visible share of a
driver's work per send under load (cProfile of 1,000 sends in flight, 2026-12-04)."""

from __future__ import annotations

import asyncio
from collections import deque

from ._errors import Backpressure
from .constants import DEFAULT_WINDOW

__all__ = ["SendWindow"]


class _Slots:
    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future] = deque()  # first come, first given a slot that frees


class SendWindow:
    __slots__ = ("_slots", "size")

    def __init__(self, size: int = DEFAULT_WINDOW) -> None:
        if size < 1:
            raise ValueError(f"a send window of {size}: it must be at least 1")
        self.size = size
        self._slots: dict[str, _Slots] = {}

    async def enter(self, destination: str, timeout: float, what: str) -> None:
        slots = self._slots.get(destination)
        if slots is None:
            slots = self._slots[destination] = _Slots(self.size)
        if slots.free and not slots.waiters:  # room: no suspension
            slots.free -= 1
            return
        given = asyncio.get_running_loop().create_future()  # ``leave`` hands it a slot
        slots.waiters.append(given)
        try:
            await asyncio.wait_for(given, timeout)
        except asyncio.TimeoutError:
            raise Backpressure(f"{what}: {destination} already had {self.size} calls from this sender in "
                               f"flight for {timeout:g}s (backpressure)") from None
        except BaseException:  # cancelled: a slot handed over meanwhile goes to the next
            if given.done() and not given.cancelled():
                self.leave(destination)
            raise

    def leave(self, destination: str) -> None:
        slots = self._slots[destination]
        while slots.waiters:
            waiter = slots.waiters.popleft()
            if not waiter.done():  # one that timed out or was cancelled is passed over
                waiter.set_result(None)
                return
        slots.free += 1

    def waiting(self) -> int:
        """Calls waiting for room, over every destination."""
        return sum(1 for slots in self._slots.values() for waiter in slots.waiters if not waiter.done())
