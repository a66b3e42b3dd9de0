"""KeptWatch: the host's side of the one redelivery policy, for the publishes its durable agents keep.

A kept publish sent ``KEPT_AGE`` ago and not yet reported ``Delivered`` is checked with its shard
(``Bus.tracking``); one the shard does not know goes again, whatever lost it (a restart noticed late, an answer
that went to a host being restarted). Recipients drop the copies they have had."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from ._shards import UNAVAILABLE, BusOutboxes
from ._wire import Publish
from .constants import KEEP_TICK, KEPT_AGE, shard_of

__all__ = ["KeptWatch"]


class KeptWatch:
    __slots__ = ("_buses", "_kept", "_to_bus", "counts", "sent_at")

    def __init__(self, buses: list[Any], to_bus: BusOutboxes, kept: Callable[[], list[Publish]],
                 counts: Counter[str]) -> None:
        self._buses = buses
        self._to_bus = to_bus
        self._kept = kept  # every publish the host's agents keep, but those waiting for (or in) their write
        self.counts = counts
        self.sent_at: dict[str, float] = {}  # kept publish id → when it last left for the bus

    def send(self, publish: Publish) -> None:
        """A kept publish on its way to the bus (again): it is checked on if ``Delivered`` does not come."""
        self.sent_at[publish.id] = time.monotonic()
        self._to_bus.put(publish)

    def delivered(self, publish_id: str) -> None:
        self.sent_at.pop(publish_id, None)

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(KEEP_TICK)
            try:
                await self._check()
            except Exception:  # the watch must outlive any one look
                self.counts["kept_check_errors"] += 1

    async def _check(self) -> None:
        due: dict[int, list[Publish]] = {}
        now = time.monotonic()
        for publish in self._kept():
            sent = self.sent_at.get(publish.id)
            if sent is None:  # stored, out of its write, and never sent: that must not be, but if it is
                self.counts["kept_never_sent"] += 1
                self.send(publish)
            elif sent + KEPT_AGE < now:
                due.setdefault(shard_of(publish.topic, len(self._buses)), []).append(publish)
        for shard, publishes in due.items():
            try:
                tracked = await self._buses[shard].tracking.remote([publish.id for publish in publishes])
            except UNAVAILABLE:
                continue  # it restarts and tells us; we send everything kept then
            for publish in publishes:
                if publish.id in tracked:
                    self.sent_at[publish.id] = now
                elif publish.id in self.sent_at:  # not Delivered meanwhile
                    self.counts["kept_sent_again"] += 1
                    self.send(publish)
