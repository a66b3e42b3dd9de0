"""SendWindow: backpressure at the sender. At most ``size`` calls from one endpoint (a driver or a host)
are in flight to any one host; a sender faster than its receiver waits here, within its own timeout,
instead of filling the bus's queue and the receiver's mailboxes. Memory then stays bounded by
senders x size, whatever the receivers' speed."""

from __future__ import annotations

import asyncio

from ._errors import Backpressure
from .constants import DEFAULT_WINDOW

__all__ = ["SendWindow"]


class SendWindow:
    __slots__ = ("_slots", "size")

    def __init__(self, size: int = DEFAULT_WINDOW) -> None:
        if size < 1:
            raise ValueError(f"a send window of {size}: it must be at least 1")
        self.size = size
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def enter(self, destination: str, timeout: float, what: str) -> None:
        slots = self._slots.get(destination)
        if slots is None:
            slots = self._slots[destination] = asyncio.Semaphore(self.size)
        if not slots.locked():
            await slots.acquire()  # does not suspend while there is room
            return
        try:
            await asyncio.wait_for(slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise Backpressure(f"{what}: {destination} already had {self.size} calls from this sender in "
                                  f"flight for {timeout:g}s (backpressure)") from None

    def leave(self, destination: str) -> None:
        self._slots[destination].release()

    def waiting(self) -> int:
        """Calls waiting for room, over every destination."""
        return sum(len(slots._waiters or ()) for slots in self._slots.values())
