"""StateWriter: a host's group commit, and every call of its store — off the host's event loop when the store
is a server across the network.

A call of a database server waits on the network and the server's disk; the host's loop keeps running its
agents meanwhile. Such calls go to one thread of the writer's own, in order: a load asked after a write sees
it. One write is under way at a time; agents marked meanwhile go together in the next one. A local SQLite
file is called inline, as before: measured on 10,000 durable requests, the hop to a thread cost more than the
write (see README, PTO load in memory, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ._state import StateStore, encode_parts

__all__ = ["StateWriter"]

T = TypeVar("T")


class StateWriter:
    """``mark`` an agent once it has handled a message; in the next turn of the loop every marked agent's
    state is encoded into its changed parts (on the loop: the agents' state is the loop's) and stored in one
    transaction (in the writer's thread). ``mark`` returns the future of that write: the answers of the marked
    messages wait on it, the agents do not."""

    def __init__(self, store: StateStore, counts: Counter[str]) -> None:
        self.store = store
        self.counts = counts
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raybus-state") if store.remote else None
        self._dirty: dict[str, Callable[[], dict[str, Any] | None]] = {}
        self._saved: dict[str, dict[str, str]] = {}  # plain parts as last stored: unchanged ones are not written
        self._unsure: set[str] = set()  # a write failed for these: the next one writes everything
        self._next: asyncio.Future | None = None  # the write the agents marked now go in
        self._busy = False  # a write is under way

    @property
    def idle(self) -> bool:
        """No write under way, none to come."""
        return not self._busy and self._next is None

    async def call(self, method: Callable[..., T], *args: Any) -> T:
        """A call of the store, after what was asked of it before (in the writer's thread for a server)."""
        if self._thread is None:
            return method(*args)
        return await asyncio.get_running_loop().run_in_executor(self._thread, method, *args)

    async def load(self, agent_id: str) -> dict[str, Any] | None:
        return await self.call(self.store.load, agent_id)

    def mark(self, agent_id: str, save_state: Callable[[], dict[str, Any] | None]) -> asyncio.Future:
        self._dirty[agent_id] = save_state
        if self._next is None:
            loop = asyncio.get_running_loop()
            self._next = loop.create_future()
            if not self._busy:
                loop.call_soon(self._write)
        return self._next

    def forget(self, agent_id: str) -> None:
        """The agent is deactivated, its state stored: its parts as stored are no longer kept here (a new
        activation loads them, and its first write stores its plain parts once more)."""
        self._saved.pop(agent_id, None)
        self._unsure.discard(agent_id)

    def _write(self) -> None:
        if self._busy or self._next is None:
            return
        dirty, self._dirty = self._dirty, {}
        writing, self._next = self._next, None
        changed: dict[str, dict[str, str | None]] = {}
        try:
            for agent_id, save_state in dirty.items():
                state = save_state()
                saved = self._saved.setdefault(agent_id, {})
                parts = {} if state is None else encode_parts(state, saved, agent_id in self._unsure)
                self._unsure.discard(agent_id)
                if parts:
                    changed[agent_id] = parts
        except Exception as exc:
            self._written(writing, changed, exc)
            return
        if not changed:
            writing.set_result(None)
            return
        if self._thread is None:
            try:
                self.store.save_many(changed)
            except Exception as exc:
                self._written(writing, changed, exc)
                return
            self._written(writing, changed, None)
            return
        self._busy = True
        stored = asyncio.get_running_loop().run_in_executor(self._thread, self.store.save_many, changed)
        stored.add_done_callback(lambda done: self._written(writing, changed, done.exception()))

    def _written(self, writing: asyncio.Future, changed: dict[str, dict[str, str | None]],
                 error: BaseException | None) -> None:
        self._busy = False
        if error is None:
            self.counts["state_writes"] += 1
            self.counts["states_saved"] += len(changed)
            self.counts["state_parts_saved"] += sum(len(parts) for parts in changed.values())
            writing.set_result(None)
        else:
            for agent_id in changed:
                self._saved[agent_id] = {}
                self._unsure.add(agent_id)
            writing.set_exception(error)
        if self._next is not None:  # marked while this write was under way
            asyncio.get_running_loop().call_soon(self._write)
