"""Mailbox: one agent's serial queue.

Messages run one at a time in arrival order, even while a handler awaits; that is what keeps an
agent's state consistent without locks (AutoGen runs each message as its own task, and 30 concurrent
RPCs left a counter at 11). A message whose handler opted into interleaving runs as its own task.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ._tasks import spawn

__all__ = ["Mailbox"]

T = TypeVar("T")

log = logging.getLogger("raybus.mailbox")


class Mailbox(Generic[T]):
    __slots__ = ("_interleaves", "_process", "_queue", "_running", "_startup", "handled")

    def __init__(
        self,
        process: Callable[[T], Awaitable[None]],
        interleaves: Callable[[T], bool],
        startup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._queue: deque[T] = deque()
        self._running = False
        self._process = process
        self._interleaves = interleaves
        self._startup = startup
        self.handled = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def busy(self) -> bool:
        return self._running

    def start(self) -> None:
        """Run the startup now, with no message to wait for."""
        if not self._running and self._startup is not None:
            self._running = True
            spawn(self._drain())

    def put(self, item: T) -> None:
        if not self._running and self._startup is None and self._interleaves(item):
            self.handled += 1  # nothing queued ahead of it: skip the drain task, run it as its own
            spawn(_guarded(self._process(item)))
            return
        self._queue.append(item)
        if not self._running:
            self._running = True
            spawn(self._drain())

    async def _drain(self) -> None:
        if self._startup is not None:
            startup, self._startup = self._startup, None
            await _guarded(startup())
        while self._queue:
            item = self._queue.popleft()
            self.handled += 1
            if self._interleaves(item):
                spawn(_guarded(self._process(item)))
            else:
                await _guarded(self._process(item))
        self._running = False


async def _guarded(step: Awaitable[None]) -> None:
    """A failure of one item is logged, never allowed to strand the items queued behind it."""
    try:
        await step
    except Exception:
        log.exception("mailbox item failed")
