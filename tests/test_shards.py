"""A bus split into shards: every message still arrives, in order per sender and recipient, and a shard
that dies comes back without losing a call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
import ray
import sample_agents as sa
from conftest import wait_until

from cluster import AgentId, Runtime, Sharded, TopicId, TypeSubscription
from cluster._errors import Unbound
from cluster._shards import BusOutboxes
from cluster._wire import Call, unpack
from cluster.constants import BUS_NAME, bus_name, shard_of


@pytest.fixture
def sharded(ray_session: Any) -> Iterator[Runtime]:
    rt = Runtime.connect(namespace=f"s{uuid4().hex[:10]}", shards=3)
    try:
        yield rt
    finally:
        rt.shutdown(destroy=True)


def test_a_key_always_lands_on_the_same_shard_in_range() -> None:
    keys = [f"counter/c{i}" for i in range(200)]
    shards = [shard_of(key, 3) for key in keys]
    assert shards == [shard_of(key, 3) for key in keys] and set(shards) == {0, 1, 2}
    assert {shard_of(key, 1) for key in keys} == {0}


class RefusingShard:
    """A bus shard (as its sender sees it) whose first batch is refused with ``refusal``; it takes the rest."""

    def __init__(self, refusal: Exception) -> None:
        self.refusal, self.batches = refusal, []
        self.route = SimpleNamespace(remote=self._route)

    async def _route(self, origin: str, batch: bytes) -> tuple[str, bytes]:
        self.batches.append(batch)
        if len(self.batches) == 1:
            raise self.refusal
        return "incarnation-1", b""


def sent_through(shard: RefusingShard, bind: Any = None) -> dict[str, int]:
    """Put one call for ``shard``, drain, and say what is still held."""
    async def scenario() -> dict[str, int]:
        outboxes = BusOutboxes([shard], lambda: "client.s.0", lambda message: True, lambda shard: None, bind)
        outboxes.put(Call("m-1", "t", "admin", "counter/c1", "Add", {}, 0.0, "client.s.0"))
        await outboxes.drain()
        return outboxes.held()

    return asyncio.run(scenario())


def test_drain_waits_for_a_batch_a_restarting_shard_refused_to_go_again() -> None:
    shard = RefusingShard(ConnectionError("restarting"))
    assert sent_through(shard) == {"outbox": 0}
    assert len(shard.batches) == 2


def test_a_shard_that_does_not_know_the_connection_has_it_bound_before_the_batch_goes_again() -> None:
    shard, bound = RefusingShard(Unbound("not bound here")), []

    async def bind(index: int) -> None:
        bound.append((index, len(shard.batches)))

    assert sent_through(shard, bind) == {"outbox": 0}
    assert bound == [(0, 1)] and shard.batches[0] == shard.batches[1]


def test_shard_zero_keeps_the_bus_name() -> None:
    assert bus_name(0) == BUS_NAME and bus_name(2) == f"{BUS_NAME}.2"


def test_a_shard_count_below_one_is_refused(ray_session: Any) -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        Runtime.connect(namespace=f"s{uuid4().hex[:10]}", shards=0)


def test_calls_to_many_agents_are_answered_and_spread_over_every_shard(sharded: Runtime) -> None:
    sharded.register("counter", sa.Counter, placement=Sharded(2))

    async def add_to_each() -> list[int]:
        calls = [sharded.send(AgentId("counter", f"c{i}"), sa.Add(amount=i), timeout=30.0) for i in range(60)]
        return [total.value for total in await asyncio.gather(*calls)]

    assert asyncio.run(add_to_each()) == list(range(60))
    assert all(shard.get("sends", 0) > 0 for shard in sharded.stats()["shards"])


def test_one_senders_calls_to_one_agent_are_handled_in_the_order_sent(sharded: Runtime) -> None:
    sharded.register("counter", sa.Counter, placement=Sharded(2))

    async def add_in_order() -> list[int]:
        calls = [sharded.send(AgentId("counter", "c1"), sa.Add(amount=2**i, pause=0), timeout=30.0)
                 for i in range(40)]
        return [total.value for total in await asyncio.gather(*calls)]

    assert asyncio.run(add_in_order()) == [2 ** (i + 1) - 1 for i in range(40)]


def test_publishes_on_topics_of_every_shard_reach_their_subscribers(sharded: Runtime) -> None:
    sharded.register("listener", sa.Listener, placement=Sharded(2),
                     subscriptions=[TypeSubscription("news", "listener")])
    topics = [TopicId("news", f"t{i}") for i in range(12)]  # several per shard; each reaches listener/<source>

    async def publish_all() -> None:
        for topic in topics:
            for text in ("first", "second"):
                await sharded.publish(topic, sa.Notice(text=text))

    asyncio.run(publish_all())
    assert {shard_of(str(topic), 3) for topic in topics} == {0, 1, 2}
    for topic in topics:
        listener = AgentId("listener", topic.source)
        wait_until(lambda listener=listener: len(sharded.inspect(listener, "texts")) == 2)
        assert sharded.inspect(listener, "texts") == ["first", "second"]


def test_a_call_through_a_shard_that_dies_is_still_answered(sharded: Runtime) -> None:
    sharded.register("counter", sa.Counter, placement=Sharded(1))
    counter = next(AgentId("counter", f"c{i}") for i in range(50) if shard_of(f"counter/c{i}", 3) == 1)

    async def slow_add_through_a_shard_crash() -> int:
        call = asyncio.ensure_future(sharded.send(counter, sa.Add(amount=7, pause=1.0), timeout=60.0))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(ray.kill, sharded._buses[1], no_restart=False)
        return (await call).value

    assert asyncio.run(slow_add_through_a_shard_crash()) == 7
    assert sharded.inspect(counter, "get_count") == 7


def test_a_batch_a_restarting_shard_refused_goes_again_ahead_of_later_messages() -> None:
    shard = RefusingShard(ConnectionError("restarting"))

    async def scenario() -> None:
        outboxes = BusOutboxes([shard], lambda: "host.h", lambda message: True, lambda shard: None)
        outboxes.put(Call("m-1", "t", "a/1", "counter/c1", "Add", {}, 0.0, "h"))
        await asyncio.sleep(0.01)  # m-1 is on its way, and refused
        outboxes.put(Call("m-2", "t", "a/1", "counter/c1", "Add", {}, 0.0, "h"))
        await outboxes.drain()

    asyncio.run(scenario())
    assert [[call.id for call in unpack(batch)] for batch in shard.batches] == [["m-1"], ["m-1", "m-2"]]
