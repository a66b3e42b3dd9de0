"""A host runs agents: one that cannot start is not left half-started."""

from __future__ import annotations

import asyncio
import time

import pytest
import ray
import sample_agents as sa
from conftest import wait_until

from cluster import AgentId, HandlerError, Runtime, Sharded
from cluster._host import Host
from cluster._wire import Call, pack


def test_an_agent_whose_on_start_raises_answers_with_that_failure_and_starts_afresh(runtime: Runtime) -> None:
    runtime.register("fragile", sa.FailsToStart, placement=Sharded(1))
    fragile = AgentId("fragile", "f1")
    with pytest.raises(HandlerError, match="fragile/f1 failed to start: no connection to the ledger"):
        asyncio.run(runtime.send(fragile, sa.Add(amount=1), timeout=30.0))
    assert asyncio.run(runtime.send(fragile, sa.Add(amount=1), timeout=30.0)).value == 1
    host = runtime.stats()["hosts"]["pool:fragile.0"]
    assert host["start_errors"] == 1 and host["activations"] == 2
    assert wait_until(lambda: runtime.stats()["bus"].get("dead_letters_start_failed")) == 1


def test_a_copy_of_a_message_answered_with_a_start_failure_is_answered_so_again_and_never_runs(
        runtime: Runtime) -> None:
    """The bus's redelivery can race the failure's answer: the copy finds the failed activation gone."""
    runtime.register("fragile", sa.FailsToStart, placement=Sharded(1))
    fragile = AgentId("fragile", "f1")
    host = ray.get(runtime._bus.host_of.remote(str(fragile)))
    call = Call("m-fails", "t-1", None, str(fragile), "Add", {"amount": 5}, time.time() + 30, "")
    ray.get(host.deliver.remote(pack([call])))
    wait_until(lambda: runtime.stats()["hosts"]["pool:fragile.0"].get("start_errors") == 1)
    ray.get(host.deliver.remote(pack([call])))
    assert asyncio.run(runtime.send(fragile, sa.Add(amount=1), timeout=30.0)).value == 1  # the copy added nothing
    assert runtime.stats()["hosts"]["pool:fragile.0"]["duplicates_dropped"] == 1


def test_a_call_its_caller_stopped_waiting_for_is_not_sent() -> None:
    """A call held at its host (behind an agent's move, or behind a call of the same pair that went host to host)
    whose caller timed out meanwhile: sent, its answer would settle nothing, and a call host to host that is
    settled by nothing holds the calls behind it for ever. The caller heard ``DeliveryTimeout``; it is counted."""
    host = Host.__new__(Host)  # no actor: the step under test reads only what is set here
    host.pending, host.counts = {}, {"calls_over_unsent": 0}
    host.route(Call("over", "t", "a/1", "b/1", "Ping", {}, time.time() + 30, "h1"))
    assert host.counts["calls_over_unsent"] == 1
