"""Where messages wait: ``rt.stats()["backlog"]`` by agent type, and the agents that block most."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sample_agents as sa

from cluster import AgentId, Runtime, Sharded
from cluster._backlog import merged


def _forward(rt: Runtime, agent: AgentId, messages: int, seconds: float) -> None:
    async def all_at_once() -> None:
        await asyncio.gather(*(rt.send(agent, sa.Forward(seconds=seconds), timeout=60) for _ in range(messages)))

    asyncio.run(all_at_once())


def _register(rt: Runtime, forwarder: type) -> None:
    rt.register("forwarder", forwarder, placement=Sharded(1, pool="p"))
    rt.register("timeline", sa.Timeline, placement=Sharded(1, pool="p"))


def _named(backlog: dict[str, Any]) -> list[str]:
    return [agent["agent"] for agent in backlog["blocking"]]


def test_a_serial_agent_awaiting_a_slow_send_while_messages_queue_is_named_with_a_high_share(runtime: Runtime) -> None:
    _register(runtime, sa.Forwarder)
    _forward(runtime, AgentId("forwarder", "f1"), messages=5, seconds=0.2)
    backlog = runtime.stats()["backlog"]
    worst = backlog["blocking"][0]
    assert worst["agent"] == "forwarder/f1"
    assert worst["share"] > 0.5  # four of the five waited behind the one before: ~0.8 s of ~1 s
    assert backlog["types"]["forwarder"]["blocked_s"] >= 0.6
    assert backlog["types"]["forwarder"]["peak"] >= 2


def test_an_interleaving_agent_awaiting_the_same_sends_blocks_nothing(runtime: Runtime) -> None:
    _register(runtime, sa.InterleavedForwarder)
    _forward(runtime, AgentId("forwarder", "f1"), messages=5, seconds=0.2)
    backlog = runtime.stats()["backlog"]
    assert backlog["types"]["forwarder"]["blocked_s"] == 0.0
    assert "forwarder/f1" not in _named(backlog)
    assert _named(backlog)[0] == "timeline/f1"  # the waiting moved to the serial agent it sends to


def test_an_idle_agent_blocks_nothing_and_queues_nothing(runtime: Runtime) -> None:
    _register(runtime, sa.Forwarder)
    _forward(runtime, AgentId("forwarder", "f1"), messages=1, seconds=0.05)
    time.sleep(0.2)
    backlog = runtime.stats()["backlog"]
    assert backlog["types"]["forwarder"] | {"alive_s": None} == {
        "agents": 1, "queued": 0, "peak": 1, "blocked_s": 0.0, "alive_s": None}
    assert backlog["blocking"] == []


def test_hosts_backlogs_merge_by_type_with_the_deepest_peak_and_the_most_blocked_agents_of_all() -> None:
    def agent(name: str, blocked: float) -> dict[str, Any]:
        return {"agent": name, "blocked_s": blocked, "share": 0.5, "queued": 0, "peak": 2}

    one = {"types": {"m": {"agents": 2, "queued": 1, "peak": 7, "blocked_s": 3.0, "alive_s": 10.0}},
           "blocking": [agent("m/a", 2.0), agent("m/b", 1.0)]}
    two = {"types": {"m": {"agents": 1, "queued": 4, "peak": 5, "blocked_s": 1.5, "alive_s": 5.0},
                     "e": {"agents": 3, "queued": 0, "peak": 1, "blocked_s": 0.0, "alive_s": 9.0}},
           "blocking": [agent("m/c", 1.5)]}
    both = merged([one, two], top=2)
    assert both["types"] == {"m": {"agents": 3, "queued": 5, "peak": 7, "blocked_s": 4.5, "alive_s": 15.0},
                             "e": {"agents": 3, "queued": 0, "peak": 1, "blocked_s": 0.0, "alive_s": 9.0}}
    assert _named(both) == ["m/a", "m/c"]
