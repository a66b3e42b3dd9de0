"""The directory: one small Ray actor per AutoGen runtime namespace, reached by name from the driver and
every host. It owns the AutoGen subscriptions (applying them to the raybus bus through its own
``Runtime``), sees each topic type before its first publish (prefix subscriptions), and counts publish
deliveries not yet handled, which is what ``stop_when_idle`` waits on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray
from autogen_core import AgentId as AgAgentId

from cluster import AgentId, MemberSubscription, Runtime, TopicId, TypeSubscription

from ._names import encode_part
from ._subscriptions import Entry, SubscriptionBook

__all__ = ["DIRECTORY_NAME", "Directory", "Tally", "directory", "start_directory", "tally"]

DIRECTORY_NAME = "raybus.autogen.directory"


class Directory:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.book = SubscriptionBook()
        self.applied: set[tuple[str, str]] = set()
        self.pending = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.lock = asyncio.Lock()
        self._rt: Runtime | None = None

    def _runtime(self) -> Runtime:
        if self._rt is None:
            self._rt = Runtime.connect(namespace=self.namespace)
        return self._rt

    async def _apply(self) -> None:
        """Make the bus hold exactly what the book wants (caller holds the lock)."""
        wanted = self.book.wanted()
        add = [TypeSubscription(encode_part(t), a) for t, a in wanted - self.applied]
        drop = [TypeSubscription(encode_part(t), a) for t, a in self.applied - wanted]
        if add or drop:
            rt = await asyncio.to_thread(self._runtime)
            if add:
                await asyncio.to_thread(rt.subscribe, *add)
            if drop:
                await asyncio.to_thread(rt.unsubscribe, *drop)
        self.applied = wanted

    async def registered(self, agent_type: str) -> None:
        async with self.lock:
            self.book.registered.add(agent_type)
            await self._apply()

    async def add(self, entry: Entry) -> None:
        async with self.lock:
            self.book.add(entry)  # ValueError for a duplicate, as AutoGen
            await self._apply()

    async def remove(self, subscription_id: str) -> None:
        async with self.lock:
            self.book.remove(subscription_id)
            await self._apply()

    async def add_member(self, topic_type: str, source: str, agent: AgAgentId) -> None:
        async with self.lock:
            self.book.members.setdefault((topic_type, source), set()).add(agent)
            member = MemberSubscription(TopicId(encode_part(topic_type), encode_part(source)),
                                        AgentId(agent.type, encode_part(agent.key)))
            rt = await asyncio.to_thread(self._runtime)
            await asyncio.to_thread(rt.subscribe, member)

    async def will_publish(self, topic_type: str, source: str, sender: AgAgentId | None) -> int:
        """Before a publish: its topic type is known (prefix subscriptions applied) and its deliveries
        counted. Returns how many deliveries it makes."""
        async with self.lock:
            if topic_type not in self.book.topic_types:
                self.book.topic_types.add(topic_type)
                await self._apply()
            count = len(self.book.recipients(topic_type, source, sender))
        self._count(count)
        return count

    def _count(self, n: int) -> None:
        self.pending += n
        if self.pending <= 0:
            self.pending = 0
            self.idle.set()
        else:
            self.idle.clear()

    async def done(self, n: int) -> None:
        self._count(-n)

    async def wait_idle(self, timeout: float) -> int:
        """Wait (up to ``timeout``) until no counted delivery is left; returns how many are."""
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            pass
        return self.pending

    async def subscriptions(self) -> dict[str, Any]:
        return {"entries": [vars(e) for e in self.book.entries.values()], "topic_types": sorted(self.book.topic_types),
                "applied": sorted(self.applied), "pending": self.pending}


def start_directory(namespace: str) -> Any:
    """The directory of ``namespace``, created by the first driver (it lives as long as that driver)."""
    return ray.remote(Directory).options(
        name=DIRECTORY_NAME, namespace=namespace, get_if_exists=True, num_cpus=0, max_concurrency=10_000,
    ).remote(namespace)


_handles: dict[str, Any] = {}


def directory(namespace: str) -> Any:
    """This process's handle on the directory (hosts look it up by name once)."""
    handle = _handles.get(namespace)
    if handle is None:
        deadline = time.monotonic() + 30
        while True:
            try:
                handle = _handles[namespace] = ray.get_actor(DIRECTORY_NAME, namespace=namespace)
                break
            except ValueError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    return handle


class Tally:
    """A process's handled publish deliveries, told to the directory once per turn of its event loop."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.count = 0

    def done(self) -> None:
        self.count += 1
        if self.count == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        count, self.count = self.count, 0
        if count:
            directory(self.namespace).done.remote(count)


_tallies: dict[str, Tally] = {}


def tally(namespace: str) -> Tally:
    found = _tallies.get(namespace)
    if found is None:
        found = _tallies[namespace] = Tally(namespace)
    return found
