"""A count of work in progress that can be awaited until it is zero, from whichever event loop is running
(a program may drive one runtime from several ``asyncio.run`` calls; an ``asyncio.Event`` binds to one)."""

from __future__ import annotations

import asyncio

__all__ = ["Quiet"]


class Quiet:
    def __init__(self) -> None:
        self.busy = 0
        self._waiters: list[asyncio.Future] = []

    def enter(self) -> None:
        self.busy += 1

    def leave(self) -> None:
        self.busy -= 1
        if self.busy == 0:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.get_loop().call_soon_threadsafe(_wake, waiter)
            self._waiters.clear()

    async def wait(self) -> None:
        if self.busy == 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)
