"""Mailbox: one agent's serial queue.

Messages run one at a time in arrival order, even while a handler awaits; that is what keeps an
agent's state consistent without locks (AutoGen runs each message as its own task, and 30 concurrent
RPCs left a counter at 11). A message whose handler opted into interleaving runs as its own task.

The mailbox also says what that costs: how deep its queue got (``peak``) and how long a serial item sat
suspended — awaiting a send, a checkpoint, anything — while others waited behind it (``blocked_s``). Work
a handler does while others wait is not counted: that is a busy agent, not a blocked one. A serial item is
run up to its first await by the mailbox itself, and if it suspends, driven on step by step as ``await``
would drive it (``_holding``), so its suspensions are seen; they are timed only when something waits (two
``monotonic()`` reads then, none otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from time import monotonic
from typing import Any, Generic, TypeVar

from ._tasks import spawn

__all__ = ["Mailbox"]

T = TypeVar("T")

log = logging.getLogger("raybus.mailbox")


class Mailbox(Generic[T]):
    __slots__ = ("_apart", "_blocked", "_blocked_since", "_interleaves", "_paused", "_process", "_queue",
                 "_running", "_startup", "_suspended", "handled", "peak", "since")

    def __init__(
        self,
        process: Callable[[T], Coroutine[Any, Any, None]],
        interleaves: Callable[[T], bool],
        startup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._queue: deque[T] = deque()
        self._running = False
        self._process = process
        self._interleaves = interleaves
        self._startup = startup
        self.handled = 0
        self.peak = 0  # the most items ever waiting at once
        self.since = monotonic()  # when this mailbox began: the time ``blocked_s`` is a share of
        self._suspended = False  # a serial item holds the mailbox and awaits something
        self._blocked = 0.0  # seconds, over finished stretches
        self._blocked_since: float | None = None  # start of the stretch under way: suspended, and items wait
        self._apart = 0  # interleaved items running as tasks of their own
        self._paused: asyncio.Future | None = None  # set while paused: items are queued, none is run

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def busy(self) -> bool:
        return self._running

    @property
    def stopped(self) -> bool:
        """Nothing running (whatever is queued): paused, or never started."""
        return not self._running and not self._apart

    def pause(self) -> asyncio.Future:
        """Run nothing more once the serial item under way (if any) is over: resolves then. What is queued,
        and what comes, waits (``take``, or ``resume``)."""
        if self._paused is None:
            self._paused = asyncio.get_running_loop().create_future()
            if not self._running:
                self._paused.set_result(None)
        return self._paused

    def resume(self) -> None:
        self._paused = None
        if self._queue and not self._running:
            self._running = True
            spawn(self._drain())

    def take(self) -> list[T]:
        """Everything queued, in order, out of the mailbox (paused: the agent goes elsewhere with it)."""
        items = list(self._queue)
        self._queue.clear()
        return items

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing running: neither a serial item nor an interleaved one (nor the startup)."""
        return not self._running and not self._queue and not self._apart

    def blocked_s(self, now: float) -> float:
        """Seconds a serial item sat suspended, holding this mailbox, while items waited behind it; the
        stretch under way included."""
        since = self._blocked_since
        return self._blocked if since is None else self._blocked + now - since

    def start(self) -> None:
        """Run the startup now, with no message to wait for."""
        if not self._running and self._startup is not None:
            self._running = True
            spawn(self._drain())

    def put(self, item: T) -> None:
        if not self._running and self._startup is None and self._paused is None and self._interleaves(item):
            self.handled += 1  # nothing queued ahead of it: skip the drain task, run it as its own
            self._run_apart(item)
            return
        queue = self._queue
        queue.append(item)
        if len(queue) > self.peak:
            self.peak = len(queue)
        if not self._running and self._paused is None:
            self._running = True
            spawn(self._drain())
        elif self._suspended and self._blocked_since is None:  # it waits behind a suspended serial item
            self._blocked_since = monotonic()

    async def _drain(self) -> None:
        if self._startup is not None:
            startup, self._startup = self._startup, None
            await _guarded(startup())
        while self._queue:
            if self._paused is not None:
                break
            item = self._queue.popleft()
            self.handled += 1
            if self._interleaves(item):
                self._run_apart(item)
                continue
            step = self._process(item)
            try:
                awaited = step.send(None)  # run it up to its first await: many serial handlers never await
            except StopIteration:
                continue
            except Exception:
                log.exception("mailbox item failed")
                continue
            await _guarded(self._holding(step, awaited))
        self._running = False
        if self._paused is not None and not self._paused.done():
            self._paused.set_result(None)

    def _run_apart(self, item: T) -> None:
        self._apart += 1
        spawn(self._apart_from_queue(item))

    async def _apart_from_queue(self, item: T) -> None:
        try:
            await self._process(item)
        except Exception:  # as _guarded: one failed item is logged, never more
            log.exception("mailbox item failed")
        finally:
            self._apart -= 1

    # A generator (not ``await step``) to see each suspension of ``step``: forwarding what the task sends
    # or throws is what ``await`` does, done here in Python.
    @types.coroutine
    def _holding(self, step: Coroutine[Any, Any, None], awaited: Any) -> Generator[Any, Any, None]:
        """Drive ``step``, suspended on ``awaited``, to its end; time its suspensions while items wait."""
        while True:
            sent: Any = None
            thrown: BaseException | None = None
            self._suspended = True
            if self._queue:
                self._blocked_since = monotonic()
            try:
                sent = yield awaited
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # cancellation and the like: the step decides what it means
                thrown = exc
            finally:
                self._suspended = False
                if self._blocked_since is not None:
                    self._blocked += monotonic() - self._blocked_since
                    self._blocked_since = None
            try:
                awaited = step.send(sent) if thrown is None else step.throw(thrown)
            except StopIteration:
                return


async def _guarded(step: Awaitable[None]) -> None:
    """A failure of one item is logged, never allowed to strand the items queued behind it."""
    try:
        await step
    except Exception:
        log.exception("mailbox item failed")
