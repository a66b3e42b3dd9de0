"""Idle agents are deactivated (state stored first) and come back on their next message; nothing is lost or
handled twice when a message races a deactivation, and a host keeps only the agents at work."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any
from uuid import uuid4

import pytest
import ray
import sample_agents as sa
from conftest import wait_until

from cluster import AgentId, Dedicated, Runtime, Sharded, TypeSubscription
from cluster._routing import AgentTypeSpec
from cluster._wire import Call, pack

IDLE = 0.2  # seconds: short, so that the tests wait little

sqlite_only = pytest.mark.parametrize("state_location", ["sqlite"], indirect=True)  # the store's part: test_state


def host_stats(rt: Runtime, agent_type: str) -> dict[str, Any]:
    return rt.stats()["hosts"][f"pool:{agent_type}.0"]


def add(rt: Runtime, agent: AgentId, amount: int) -> int:
    return asyncio.run(rt.send(agent, sa.Add(amount=amount, pause=0.0), timeout=30.0)).value


def test_idle_after_is_a_positive_number_of_seconds() -> None:
    for wrong in (0, -1.0, "5", True):
        with pytest.raises(ValueError, match=r"idle_after=.* must be a number of seconds above 0"):
            AgentTypeSpec("echo", sa.Echo, Dedicated(), {}, wrong)


@sqlite_only
def test_an_idle_agent_is_deactivated_and_its_next_message_finds_its_state(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("idler", sa.DurableCounter, placement=Sharded(1), idle_after=IDLE)
    idler = AgentId("idler", "i1")
    assert add(rt, idler, 2) == 2
    wait_until(lambda: host_stats(rt, "idler").get("deactivations") == 1)
    assert host_stats(rt, "idler")["agents"] == 0
    assert add(rt, idler, 3) == 5
    assert host_stats(rt, "idler")["states_loaded"] == 1


@sqlite_only
def test_a_host_keeps_only_the_agents_at_work(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("idler", sa.DurableCounter, placement=Sharded(1), idle_after=IDLE)

    async def wave(keys: range) -> list[int]:
        return [t.value for t in await asyncio.gather(*(rt.send(AgentId("idler", f"i{k}"), sa.Add(amount=1, pause=0.0),
                                                                timeout=30.0) for k in keys))]

    for first in (0, 150):  # two waves of distinct agents: the first is gone before the second ends
        assert asyncio.run(wave(range(first, first + 150))) == [1] * 150
        wait_until(lambda: host_stats(rt, "idler")["agents"] == 0)
    host = host_stats(rt, "idler")
    assert host["activations"] == host["deactivations"] == 300


def test_messages_racing_deactivations_are_each_handled_once_and_one_at_a_time(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("racer", sa.DurableCounter, placement=Sharded(1), idle_after=0.05)
    rng = random.Random(17)

    async def one_agent(key: str, rounds: int) -> list[int]:
        totals = []
        for _ in range(rounds):  # pairs, so one waits in the mailbox; gaps around the idle time
            await asyncio.sleep(rng.choice((0.0, 0.04, 0.06, 0.1, 0.15)))
            pair = await asyncio.gather(*(rt.send(AgentId("racer", key), sa.Add(amount=1, pause=0.005), timeout=30.0)
                                          for _ in range(2)))
            totals += [total.value for total in pair]
        return totals

    async def race() -> list[list[int]]:
        return await asyncio.gather(*(one_agent(f"r{k}", 10) for k in range(12)))

    for totals in asyncio.run(race()):  # a lost update or a doubled message would show in the totals
        assert sorted(totals) == list(range(1, 21))
    host = host_stats(rt, "racer")
    assert host["deactivations"] >= 12 and host["states_loaded"] >= 12


def test_a_message_that_comes_while_the_agent_is_being_deactivated_keeps_it(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    door = Sharded(1, pool="door")  # one host: the knocker's send reaches the leaver in the same turn of its loop
    rt.register("leaver", sa.Leaver, placement=door, idle_after=IDLE)
    rt.register("knocker", sa.Knocker, placement=door)
    leaver = AgentId("leaver", "l1")
    assert add(rt, leaver, 1) == 1
    knock = asyncio.run(rt.send(AgentId("knocker", "k1"), sa.Knock(key="l1"), timeout=30.0))
    assert knock.value == 2  # sent once the leaver's last write had begun: taken by it, not lost
    host = host_stats(rt, "door")
    assert host["deactivations_called_off"] == 1 and host["activations"] == 2  # the leaver and the knocker
    wait_until(lambda: host_stats(rt, "door").get("deactivations") == 1)
    assert add(rt, leaver, 1) == 3


@sqlite_only
def test_a_copy_of_a_call_handled_before_deactivation_is_answered_again_not_handled(
        durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("idler", sa.DurableCounter, placement=Sharded(1), idle_after=IDLE)
    idler = AgentId("idler", "i1")
    host = ray.get(rt._bus.host_of.remote(str(idler)))
    copy = pack([Call("m-once", "t-1", None, str(idler), "Add", {"amount": 5, "pause": 0.0}, time.time() + 60, "")])
    ray.get(host.deliver.remote(copy))
    wait_until(lambda: host_stats(rt, "idler").get("deactivations") == 1)
    ray.get(host.deliver.remote(copy))
    assert wait_until(lambda: host_stats(rt, "idler").get("answers_replayed")) == 1
    assert rt.inspect(idler, "get_count") == 5


@sqlite_only
def test_an_agent_keeping_a_publish_stays_until_every_copy_is_handled(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("caster", sa.Caster, placement=Sharded(1), idle_after=IDLE)
    rt.register("listener", sa.SlowListener, placement=Sharded(1),
                subscriptions=[TypeSubscription("news", "listener")])
    caster = AgentId("caster", "c1")
    asyncio.run(rt.send(caster, sa.Cast(topic_type="news", topic_source="l1", text="slow"), timeout=30.0))
    time.sleep(4 * IDLE)  # idle long enough, but its publish is still being handled (1.5 s)
    assert str(caster) in rt.agents()
    wait_until(lambda: host_stats(rt, "caster").get("deactivations") == 1)
    assert rt.inspect(AgentId("listener", "l1"), "texts") == ["slow"]
    asyncio.run(rt.send(caster, sa.Cast(topic_type="news", topic_source="l1", text="again"), timeout=30.0))
    assert wait_until(lambda: rt.inspect(AgentId("listener", "l1"), "texts")) == ["slow", "again"]
    assert host_stats(rt, "caster")["publishes_recovered"] == 0  # nothing left kept to send again


def test_an_agent_awaiting_an_answer_is_not_deactivated(runtime: Runtime) -> None:
    runtime.register("launcher", sa.Launcher, placement=Sharded(1), idle_after=IDLE)
    runtime.register("timeline", sa.Timeline, placement=Sharded(1))
    launcher = AgentId("launcher", "l1")
    asyncio.run(runtime.send(launcher, sa.Launch(seconds=1.0), timeout=30.0))  # returns at once; its task awaits
    assert len(wait_until(lambda: runtime.inspect(launcher, "get_answered"))) == 1  # in memory: not forgotten
    wait_until(lambda: host_stats(runtime, "launcher").get("deactivations") == 1)


def test_without_a_state_agents_stay_unless_their_type_has_an_idle_time(runtime: Runtime) -> None:
    runtime.register("counter", sa.Counter, placement=Sharded(1))
    runtime.register("stopper", sa.Stopper, placement=Sharded(1), idle_after=IDLE)
    key = uuid4().hex
    add(runtime, AgentId("counter", key), 1)
    add(runtime, AgentId("stopper", key), 1)
    try:
        wait_until(sa.marker("stopped", key).exists)  # on_stop ran: the agent was deactivated
        assert runtime.agents() == [f"counter/{key}"]
        assert add(runtime, AgentId("stopper", key), 1) == 1  # in memory only: forgotten, as its type asked
    finally:
        sa.marker("stopped", key).unlink()


@sqlite_only
def test_the_backlog_keeps_the_seconds_of_deactivated_agents(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("idler", sa.DurableCounter, placement=Sharded(1), idle_after=IDLE)
    add(rt, AgentId("idler", "i1"), 1)
    wait_until(lambda: host_stats(rt, "idler").get("deactivations") == 1)
    figures = host_stats(rt, "idler")["backlog"]["types"]["idler"]
    assert figures["agents"] == 0 and figures["alive_s"] >= IDLE


@sqlite_only
def test_an_inspection_that_does_not_keep_lets_the_agents_it_woke_go_at_once(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("idler", sa.DurableCounter, placement=Sharded(1), idle_after=60.0)  # no sweep during the test
    working, asleep = AgentId("idler", "busy"), [AgentId("idler", f"i{n}") for n in range(3)]
    assert add(rt, working, 4) == 4
    assert rt.inspect_all([working, *asleep], "get_count", keep=False) == [4, 0, 0, 0]
    stats = host_stats(rt, "idler")
    assert rt.agents() == ["idler/busy"] and stats["deactivations"] == 3
    assert rt.inspect_all(asleep[:1], "get_count") == [0]  # kept, by default
    assert sorted(rt.agents()) == ["idler/busy", "idler/i0"]


def test_an_inspection_that_does_not_keep_leaves_agents_that_may_not_be_deactivated(runtime: Runtime) -> None:
    runtime.register("counter", sa.Counter, placement=Sharded(1))  # in memory, no idle time: it would lose its count
    key = uuid4().hex
    assert runtime.inspect_all([AgentId("counter", key)], "get_count", keep=False) == [0]
    assert runtime.agents() == [f"counter/{key}"]
