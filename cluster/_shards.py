"""Bus shards: the bus is ``n`` actors behind one name. A call, its answer and its acknowledgement go
through the shard that owns the recipient's id, a publish and its acknowledgements through the shard that
owns the topic: one sender's messages to one recipient keep their order, and no shard sees them all.
Shard 0 keeps the registry and hands every change to the others before it answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import ray

from ._errors import BusUnavailable, Unbound
from ._outbox import Outbox
from ._wire import Answer, Call, Publish, Wire, pack, unpack
from .constants import BUS_RETRY_DELAY, shard_of

__all__ = ["UNAVAILABLE", "BusOutboxes", "from_shard_zero", "shard_key", "table_of", "through_restarts"]

UNAVAILABLE = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)  # a bus shard restarting


def shard_key(message: Wire) -> str:
    """What names a message's shard: a call's recipient, an answer's sender (the recipient of the call it
    answers), a publish's topic. A ``Done`` is put with the key of what it is done with."""
    match message:
        case Call(target=key) | Answer(sender=key) | Publish(topic=key):
            return key
    raise TypeError(f"{type(message).__name__} names no shard by itself: put it with a key")


def table_of(shard_zero: Any, namespace: str, within: float = 60.0) -> Any:
    """Shard 0's routing table, for an actor being constructed (a host, another shard)."""
    return from_shard_zero(shard_zero.get_table.remote, namespace, within)


def through_restarts(ask: Callable[[], Any], what: str, within: float = 60.0, each: float | None = None) -> Any:
    """What ``ask`` (calls of bus shards: a ref, or a list of refs) returns, asked again while a shard restarts —
    for questions, and for what may be asked twice: a call in flight when its shard went may or may not have run.
    ``each``: how long one try may take (None: as long as it takes). ``BusUnavailable`` after ``within``."""
    deadline = time.monotonic() + within
    while True:
        try:
            return ray.get(ask(), timeout=each)
        except (*UNAVAILABLE, ray.exceptions.GetTimeoutError):
            if time.monotonic() > deadline:
                raise BusUnavailable(f"{what}: a bus shard did not answer for {within:g}s") from None
            time.sleep(BUS_RETRY_DELAY)


def from_shard_zero(ask: Callable[[], Any], namespace: str, within: float = 60.0) -> Any:
    """What ``ask`` (a call of shard 0) returns, for an actor being constructed. Shard 0 may be restarting too — a
    lost node can take both — and a constructor that raises is never restarted: wait."""
    return through_restarts(ask, f"{namespace}: bus shard 0", within, each=30)


class BusOutboxes:
    """A sender's way to the bus (a driver's or a host's): one outbox per shard, each batching its own calls.

    A batch a shard did not take (it is restarting) goes again every ``BUS_RETRY_DELAY``, ahead of what was put
    meanwhile (one sender's messages keep their order), but for what the sender no longer wants sent (a call its
    caller gave up on); a shard's new incarnation means it lost what
    the old one held, and the sender hears it (``on_restart``) to send that again. A driver's connection that
    a shard does not know (it restarted, or the driver's principal was revoked) is bound again (``bind``,
    which raises ``NotAuthorized`` if the driver's credential no longer opens the namespace) before the batch
    goes again.

    A shard returns the answer of a lone call in its reply if it comes soon (``_linger.py``): it is handed to
    ``answered``, one call and its reply where the answer would otherwise come as a call of its own (to a host)
    or by the long poll (to a driver)."""

    def __init__(self, buses: list[Any], origin: Callable[[], str], wanted: Callable[[Wire], bool],
                 on_restart: Callable[[int], None], bind: Callable[[int], Awaitable[None]] | None = None,
                 answered: Callable[[Answer], None] | None = None) -> None:
        self.buses = buses
        self._origin = origin
        self._wanted = wanted
        self._on_restart = on_restart
        self._bind = bind
        self._answered = answered
        self.incarnations: list[str | None] = [None] * len(buses)
        self.refused = 0  # messages in batches a shard did not take
        self.waiting = 0  # of those, waiting to go again
        self.outboxes: list[Outbox[Wire]] = [
            Outbox(lambda batch, shard=shard: self.route(shard, batch),
                   lambda batch, error, shard=shard: self._refused(shard, batch))
            for shard in range(len(buses))
        ]

    def _refused(self, shard: int, batch: list[Wire]) -> None:
        self.refused += len(batch)
        self.waiting += len(batch)
        self.outboxes[shard].retry(lambda: self._again(batch), BUS_RETRY_DELAY)

    def _again(self, batch: list[Wire]) -> list[Wire]:
        self.waiting -= len(batch)
        return [message for message in batch if self._wanted(message)]

    async def route(self, shard: int, batch: list[Wire]) -> None:
        packed = pack(batch)
        try:
            incarnation, answers = await self.buses[shard].route.remote(self._origin(), packed)
        except Unbound:
            if self._bind is None:
                raise
            await self._bind(shard)
            incarnation, answers = await self.buses[shard].route.remote(self._origin(), packed)
        self.heard(shard, incarnation)
        if answers and self._answered is not None:
            for answer in unpack(answers):
                self._answered(answer)

    def heard(self, shard: int, incarnation: str) -> None:
        """Every answer of a shard names its incarnation: a new one lost what the old one held for us."""
        known, self.incarnations[shard] = self.incarnations[shard], incarnation
        if known is not None and known != incarnation:
            self._on_restart(shard)

    def put(self, message: Wire, key: str | None = None) -> None:
        """``key`` names the shard (by default ``shard_key(message)``)."""
        self.for_key(key or shard_key(message)).put(message)

    def for_key(self, key: str) -> Outbox[Wire]:
        return self.outboxes[shard_of(key, len(self.outboxes))]

    def __iter__(self) -> Iterator[Outbox[Wire]]:
        return iter(self.outboxes)

    def held(self) -> dict[str, int]:
        """Messages not yet taken by the bus (waiting, or in a call it has not returned from)."""
        return {"outbox": sum(len(o) + o.in_flight for o in self) + self.waiting}

    def figures(self) -> dict[str, int]:
        return self.held() | {"bus_unreachable": self.refused, "to_bus_batches": sum(o.batches for o in self),
                              "to_bus_items": sum(o.items for o in self)}

    async def drain(self) -> None:
        """Until everything put so far was taken by the bus, or dropped as no longer wanted: a batch a shard
        refused waits ``BUS_RETRY_DELAY`` to go again, and a loop ended meanwhile would strand it (counted
        held for ever)."""
        while True:
            for outbox in self:
                await outbox.drain()
            if not self.waiting:
                return
            await asyncio.sleep(BUS_RETRY_DELAY)
