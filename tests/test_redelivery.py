"""A host that dies comes back, and what was on its way to it goes again; a copy it has had is dropped."""

from __future__ import annotations

import asyncio
import time

import pytest
import ray
import sample_agents as sa
from conftest import wait_until

from cluster import AgentId, ImpureHandler, Runtime, Sharded, open_state_store
from cluster._wire import Call, Copy, pack

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
    copy = Call("m-twice", "t-1", None, str(COUNTER), "Add", {"amount": 5}, time.time() + 30, "")
    ray.get([host.deliver.remote(pack([copy])), host.deliver.remote(pack([copy]))])
    wait_until(lambda: runtime.inspect(COUNTER, "get_count") == 6)
    # at least this copy; on a loaded machine the bus may also have sent the first Add again, harmlessly
    assert wait_until(lambda: runtime.stats()["hosts"]["pool:counter.0"].get("duplicates_dropped")) >= 1
    assert runtime.inspect(COUNTER, "get_count") == 6  # the copy did not run


@pytest.mark.parametrize("state_location", ["sqlite"], indirect=True)  # the store's part: test_state
def test_a_message_the_host_had_taken_but_not_handled_when_it_died_is_handled_once_it_is_back(
        durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    assert add(rt, 1) == 1

    async def slow_add_through_a_crash() -> int:
        call = asyncio.ensure_future(rt.send(COUNTER, sa.Add(amount=10, pause=2.0), timeout=60.0))
        await asyncio.sleep(0.7)  # the host has it and is in the middle of the handler
        await asyncio.to_thread(ray.kill, ray.get(rt._bus.host_of.remote(str(COUNTER))), no_restart=False)
        return (await call).value

    assert asyncio.run(slow_add_through_a_crash()) == 11
    assert rt.inspect(COUNTER, "get_count") == 11
    bus = rt.stats()["bus"]
    assert bus["host_restarts"] == 1 and bus["redeliveries"] >= 1


@pytest.mark.parametrize("state_location", ["sqlite"], indirect=True)  # the store's part: test_state
def test_a_copy_of_a_handled_message_gets_the_first_answer_even_after_a_restart(durable: tuple[Runtime, str]) -> None:
    rt, location = durable
    assert add(rt, 1) == 1
    copy = Call("m-once", "t-1", None, str(COUNTER), "Add", {"amount": 5}, time.time() + 60, "")
    ray.get(ray.get(rt._bus.host_of.remote(str(COUNTER))).deliver.remote(pack([copy])))
    store = open_state_store(location, rt.namespace)  # handled, and its answer stored (so it could leave)
    wait_until(lambda: "m-once" in (store.load(str(COUNTER)) or {}).get("\x1eseen", {}))
    ray.kill(ray.get(rt._bus.host_of.remote(str(COUNTER))), no_restart=False)
    wait_until(lambda: rt.stats()["bus"].get("host_restarts"), timeout=30.0)
    ray.get(ray.get(rt._bus.host_of.remote(str(COUNTER))).deliver.remote(pack([copy])))
    host = wait_until(lambda: rt.stats()["hosts"]["pool:counter.0"])
    assert wait_until(lambda: rt.stats()["hosts"]["pool:counter.0"].get("answers_replayed")) == 1
    assert rt.inspect(COUNTER, "get_count") == 6 and host["states_loaded"] == 1
    assert rt.stats()["hosts"]["pool:counter.0"]["answers_read_back"] == 1  # loaded answers stay in the store


@pytest.mark.parametrize("state_location", ["sqlite", "postgresql"], indirect=True)
def test_a_copy_of_a_handled_message_at_a_live_host_gets_the_first_answer_read_back_from_the_store(
        durable: tuple[Runtime, str]) -> None:
    rt, location = durable
    assert add(rt, 1) == 1
    copy = Call("m-kept", "t-1", None, str(COUNTER), "Add", {"amount": 5}, time.time() + 60, "")
    host = ray.get(rt._bus.host_of.remote(str(COUNTER)))
    writes = rt.stats()["hosts"]["pool:counter.0"]["state_writes"]
    ray.get(host.deliver.remote(pack([copy])))
    store = open_state_store(location, rt.namespace)
    wait_until(lambda: "m-kept" in (store.load(str(COUNTER)) or {}).get("\x1eseen", {}))
    wait_until(lambda: rt.stats()["hosts"]["pool:counter.0"]["state_writes"] > writes)  # its end seen by the host
    ray.get(host.deliver.remote(pack([copy])))
    stats = wait_until(lambda: (found := rt.stats()["hosts"]["pool:counter.0"]).get("answers_replayed") and found)
    assert stats["answers_replayed"] == 1 and stats["answers_read_back"] == 1
    assert stats.get("failed_answer_unreadable", 0) == 0
    assert rt.inspect(COUNTER, "get_count") == 6  # the copy did not run again


@pytest.mark.parametrize("state_location", ["sqlite"], indirect=True)  # the store's part: test_state
def test_a_call_in_flight_when_the_bus_dies_still_gets_its_reply(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    assert add(rt, 1) == 1

    async def slow_add_through_a_bus_crash() -> int:
        call = asyncio.ensure_future(rt.send(COUNTER, sa.Add(amount=10, pause=1.0), timeout=60.0))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(ray.kill, rt._bus, no_restart=False)
        return (await call).value

    assert asyncio.run(slow_add_through_a_bus_crash()) == 11
    assert rt.inspect(COUNTER, "get_count") == 11


def publish_copy(message_id: str, recipients: tuple[str, ...], text: str) -> Copy:
    return Copy(message_id, "t-1", None, "team/all", "Notice", {"text": text}, recipients)


def test_a_second_copy_of_a_publish_at_a_live_host_waits_for_every_recipient_and_runs_nothing_twice(
        runtime: Runtime) -> None:
    runtime.register("member", sa.SlowListener, placement=Sharded(1))
    members = (AgentId("member", "a"), AgentId("member", "b"))
    for member in members:
        runtime.inspect(member, "texts")
    host = ray.get(runtime._bus.host_of.remote(str(members[0])))
    wire = publish_copy("p-twice", tuple(str(m) for m in members), "slow")
    ray.get(host.deliver.remote(pack([wire])))
    ray.get(host.deliver.remote(pack([wire])))  # while both recipients are still at it
    held, finished = ray.get(host.holding.remote(["p-twice"]))
    assert (held, finished) == ({"p-twice"}, {})
    wait_until(lambda: sorted(ray.get(host.holding.remote(["p-twice"]))[1].get("p-twice", ())) == [
        str(member) for member in members])
    assert [runtime.inspect(member, "texts") for member in members] == [["slow"], ["slow"]]


@pytest.mark.parametrize("state_location", ["sqlite"], indirect=True)  # the store's part: test_state
def test_an_agent_that_keeps_no_state_still_drops_a_copy_after_a_restart_with_a_state_dir(
        durable: tuple[Runtime, str]) -> None:
    rt, location = durable
    rt.register("plain", sa.Counter, placement=Sharded(1))
    plain = AgentId("plain", "p1")
    copy = Call("m-plain", "t-1", None, str(plain), "Add", {"amount": 5}, time.time() + 60, "")
    host = ray.get(rt._bus.host_of.remote(str(plain)))
    ray.get(host.deliver.remote(pack([copy])))
    store = open_state_store(location, rt.namespace)  # handled, and its answer stored (so it could leave)
    wait_until(lambda: "m-plain" in (store.load(str(plain)) or {}).get("\x1eseen", {}))
    ray.kill(host, no_restart=False)
    wait_until(lambda: rt.stats()["bus"].get("host_restarts"), timeout=30.0)
    ray.get(ray.get(rt._bus.host_of.remote(str(plain))).deliver.remote(pack([copy])))
    assert wait_until(lambda: rt.stats()["hosts"]["pool:plain.0"].get("answers_replayed")) == 1
    assert rt.inspect(plain, "get_count") == 0  # its count was in memory; the copy did not run again


PURE = AgentId("pure", "p1")


@pytest.mark.parametrize("state_location", ["sqlite"], indirect=True)
def test_a_pure_handlers_answer_is_neither_remembered_nor_stored(durable: tuple[Runtime, str]) -> None:
    rt, location = durable
    rt.register("pure", sa.PureCounter, placement=Sharded(1))
    pure = Call("m-pure", "t-1", None, str(PURE), "Ping", {"text": "hi"}, time.time() + 60, "")
    after = Call("m-after", "t-1", None, str(PURE), "Add", {"amount": 1}, time.time() + 60, "")
    host = ray.get(rt._bus.host_of.remote(str(PURE)))
    ray.get(host.deliver.remote(pack([pure])))
    ray.get(host.deliver.remote(pack([after])))
    store = open_state_store(location, rt.namespace)  # writes go in order: the Add's answer is stored last
    seen = wait_until(lambda: "m-after" in (found := (store.load(str(PURE)) or {}).get("\x1eseen", {})) and found)
    assert "m-pure" not in seen and rt.inspect(PURE, "get_pure_runs") == 1


@pytest.mark.parametrize("state_location", ["sqlite"], indirect=True)
def test_a_copy_of_a_pure_handlers_message_runs_it_again(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("pure", sa.PureCounter, placement=Sharded(1))
    copy = Call("m-pure-twice", "t-1", None, str(PURE), "Ping", {"text": "hi"}, time.time() + 60, "")
    host = ray.get(rt._bus.host_of.remote(str(PURE)))
    ray.get(host.deliver.remote(pack([copy])))
    wait_until(lambda: rt.inspect(PURE, "get_pure_runs") == 1)
    ray.get(host.deliver.remote(pack([copy])))
    assert wait_until(lambda: rt.inspect(PURE, "get_pure_runs") == 2) and rt.inspect(PURE, "get_count") == 0
    assert not rt.stats()["hosts"]["pool:pure.0"].get("duplicates_dropped")


def test_a_pure_handler_that_sends_is_refused_with_impure_handler(runtime: Runtime) -> None:
    runtime.register("pure", sa.PureCounter, placement=Sharded(1))
    runtime.register("echo", sa.Echo)
    with pytest.raises(ImpureHandler, match=r"pure/p1: on_relay is marked pure and may not send"):
        asyncio.run(runtime.send(PURE, sa.Relay(to_key="e1", text="hi"), timeout=30.0))
    assert asyncio.run(runtime.send(PURE, sa.Ping(text="hi"), timeout=30.0)).text == "hi"  # the agent goes on
