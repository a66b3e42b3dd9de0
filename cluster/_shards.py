"""Bus shards: the bus is ``n`` actors behind one name. A call, its answer and its acknowledgement go
through the shard that owns the recipient's id, a publish and its acknowledgements through the shard that
owns the topic: one sender's messages to one recipient keep their order, and no shard sees them all.
Shard 0 keeps the registry and hands every change to the others before it answers."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any

from ._outbox import Outbox

__all__ = ["BUS_NAME", "BusOutboxes", "bus_name", "shard_of"]

BUS_NAME = "raybus.bus"


def bus_name(shard: int) -> str:
    return BUS_NAME if shard == 0 else f"{BUS_NAME}.{shard}"


def shard_of(key: str, shards: int) -> int:
    # crc32, not hash(): every process must agree, and str hashes are salted per process
    return zlib.crc32(key.encode()) % shards if shards > 1 else 0


class BusOutboxes:
    """A sender's way to the bus (a driver's or a host's): one outbox per shard, each batching its own calls."""

    def __init__(self, buses: list[Any], origin: Callable[[], str],
                 on_failure: Callable[[int, list[tuple], BaseException], None]) -> None:
        self.buses = buses
        self.outboxes: list[Outbox[tuple]] = [
            Outbox(lambda batch, bus=bus: bus.route.remote(origin(), batch),
                   lambda batch, error, shard=shard: on_failure(shard, batch, error))
            for shard, bus in enumerate(buses)
        ]

    def put(self, wire: tuple, key: str | None = None) -> None:
        """``key`` names the shard (by default the wire's target: a recipient or a topic)."""
        self.for_key(key or wire[4]).put(wire)

    def for_key(self, key: str) -> Outbox[tuple]:
        return self.outboxes[shard_of(key, len(self.outboxes))]

    def __iter__(self) -> Iterator[Outbox[tuple]]:
        return iter(self.outboxes)

    def figures(self) -> dict[str, int]:
        return {"outbox": sum(len(o) + o.in_flight for o in self), "to_bus_batches": sum(o.batches for o in self),
                "to_bus_items": sum(o.items for o in self)}

    async def drain(self) -> None:
        for outbox in self:
            await outbox.drain()
