"""A host that dies comes back, and what was on its way to it goes again; a copy it has had is dropped."""

from __future__ import annotations

import asyncio
import time

import ray
import sample_agents as sa
from conftest import wait_until

from cluster import AgentId, Runtime, Sharded
from cluster._envelope import Envelope, Kind

COUNTER = AgentId("counter", "c1")


def add(rt: Runtime, amount: int) -> int:
    return asyncio.run(rt.send(COUNTER, sa.Add(amount=amount), timeout=30.0)).value


def test_a_send_to_a_host_that_just_died_is_delivered_once_it_is_back(runtime: Runtime) -> None:
    runtime.register("counter", sa.DurableCounter, placement=Sharded(1))
    assert add(runtime, 1) == 1
    ray.kill(ray.get(runtime._bus.host_of.remote(str(COUNTER))), no_restart=False)
    assert add(runtime, 1) == 1  # a new activation: no state_dir, so the count starts again
    assert runtime.dead_letters() == []


def test_a_copy_of_a_message_the_agent_has_had_is_dropped(runtime: Runtime) -> None:
    runtime.register("counter", sa.Counter, placement=Sharded(1))
    assert add(runtime, 1) == 1
    host = ray.get(runtime._bus.host_of.remote(str(COUNTER)))
    copy = Envelope(Kind.SEND, "m-twice", "t-1", None, str(COUNTER), "Add", {"amount": 5}, time.time() + 30, None, "")
    ray.get([host.deliver.remote([copy.to_wire()]), host.deliver.remote([copy.to_wire()])])
    wait_until(lambda: runtime.call(COUNTER, "get_count") == 6)
    assert wait_until(lambda: runtime.stats()["hosts"]["pool:counter.0"].get("duplicates_dropped")) == 1
    assert runtime.call(COUNTER, "get_count") == 6
