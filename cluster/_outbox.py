"""Outbox: coalesces items bound for one destination into batched calls.

Items put during one event-loop turn travel together; while ``window`` calls are in flight new items
wait, so batches grow by themselves under load and stay single messages when idle. A call returns
when its batch is accepted, never when its messages are handled: replies travel back on their own.

One call in flight by default: Ray does not keep the order of calls to an async actor (two calls in
flight to a host that was starting reached it swapped), and one sender's messages to one recipient
must arrive in the order sent. Batching makes up for it (bus_bench measured the same ratios).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ._tasks import spawn
from .constants import MAX_BATCH

__all__ = ["Outbox"]

T = TypeVar("T")


class Outbox(Generic[T]):
    __slots__ = (
        "_idle", "_inflight", "_items", "_on_failure", "_paused", "_scheduled", "_send", "_waiter", "_window",
        "batches", "items",
    )

    def __init__(
        self,
        send: Callable[[list[T]], Awaitable[Any]],
        on_failure: Callable[[list[T], BaseException], None],
        window: int = 1,
    ) -> None:
        self._send = send
        self._on_failure = on_failure
        self._window = window
        self._items: list[T] = []
        self._inflight = 0
        self._scheduled = False
        self._idle: asyncio.Event | None = None
        self._waiter: asyncio.Future | None = None
        self._paused = 0  # pauses not yet resumed: a retry and a host's retirement may overlap
        self.batches = 0
        self.items = 0

    def put(self, item: T) -> None:
        self._items.append(item)
        if not self._scheduled and self._inflight < self._window and not self._paused:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._kick)

    def pause(self) -> None:
        """Items put from now on wait (the destination is being replaced); those on their way go on."""
        self._paused += 1

    def resume(self) -> None:
        self._paused -= 1
        if self._paused:
            return
        if self._items and not self._scheduled:
            self._kick()
        elif not self._inflight and self._idle is not None:
            self._idle.set()

    def retry(self, take: Callable[[], list[T]], delay: float) -> None:
        """In ``delay`` seconds, send what ``take`` returns then (of a batch the destination did not take) again,
        ahead of everything put meanwhile, which waits until then: what one sender put keeps its order."""
        self.pause()

        def again() -> None:
            try:
                self._items[:0] = take()
            finally:  # a ``take`` that raised must not leave the outbox paused for ever
                self.resume()

        asyncio.get_running_loop().call_later(delay, again)

    def accepted(self) -> asyncio.Future:
        """Resolves once the destination has accepted every item put so far (one future per batch)."""
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter

    async def until_accepted(self, accepted: asyncio.Future) -> None:
        """Until the destination took what was put before ``accepted()`` gave ``accepted``: a batch it refused
        goes again ahead of anything put since, with the next batch that leaves, which is waited for then."""
        while True:
            try:
                return await accepted
            except Exception:
                accepted = self.accepted()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def in_flight(self) -> int:
        return self._inflight

    @property
    def idle(self) -> bool:
        """Nothing put here is still on its way (nor waits to go again)."""
        return not self._items and not self._inflight and not self._paused

    def _kick(self) -> None:
        self._scheduled = False
        while self._items and self._inflight < self._window and not self._paused:
            batch, self._items = self._items[:MAX_BATCH], self._items[MAX_BATCH:]
            waiter = None
            if not self._items:
                waiter, self._waiter = self._waiter, None
            self._inflight += 1
            self.batches += 1
            self.items += len(batch)
            spawn(self._call(batch, waiter))

    async def _call(self, batch: list[T], waiter: asyncio.Future | None) -> None:
        try:
            await self._send(batch)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        except Exception as exc:  # the destination is gone or refused the batch: hand every item back
            self._on_failure(batch, exc)
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
        finally:
            self._inflight -= 1
            if self._items and not self._paused:
                self._kick()
            elif self._inflight == 0 and self._idle is not None:
                self._idle.set()

    async def drain(self) -> None:
        """Wait until everything put so far has been accepted by the destination."""
        while self._items or self._inflight:
            self._idle = asyncio.Event()
            if self._items and not self._scheduled:
                self._kick()
            await self._idle.wait()
