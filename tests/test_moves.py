"""Moves: the runtime puts an agent next to the agents it talks to — its state goes along, nothing sent to it
around the move is lost, handled twice or reordered, it never runs two handlers at once, and a placement the
user chose stays."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import move_agents as ma
import pytest
import ray
from conftest import wait_until

from cluster import AgentId, Dedicated, RaybusError, Runtime, Sharded, TopicId, TypeSubscription
from cluster._wire import Call, pack  # the host's door, knocked on as a stale bus would
from cluster.constants import host_actor_name

LEDGER = AgentId("ledger", "l")
CALLERS = [AgentId("caller", key) for key in ("a", "b", "c")]


@pytest.fixture(params=["memory", "sqlite"])
def movable(request: pytest.FixtureRequest, ray_session: Any, tmp_path: Path) -> Iterator[Runtime]:
    """A ledger with the runtime's default placement and callers on two hosts: all of them may move."""
    state = str(tmp_path / "state") if request.param == "sqlite" else None
    rt = Runtime.connect(namespace=f"m{uuid4().hex[:10]}", state=state)
    rt.register("ledger", ma.Ledger, subscriptions=[TypeSubscription("news", "ledger")])
    rt.register("caller", ma.Caller, placement=Sharded(2))
    try:
        yield rt
    finally:
        rt.shutdown(destroy=True)


@pytest.fixture
def stored(ray_session: Any, tmp_path: Path) -> Iterator[Runtime]:
    """A ledger with the runtime's default placement and callers in a pool, their state in SQLite: what a
    restarted host or bus needs is in the store."""
    rt = Runtime.connect(namespace=f"m{uuid4().hex[:10]}", state=str(tmp_path / "state"))
    rt.register("ledger", ma.Ledger)
    rt.register("caller", ma.Caller, placement=Sharded(2))
    try:
        yield rt
    finally:
        rt.shutdown(destroy=True)


def _entries_in_order(report: dict) -> bool:
    return all(seqs == list(range(len(seqs))) for seqs in report["by_sender"].values())


async def _move_during_bursts(rt: Runtime, to: str, pause: float = 0.001) -> list[Any]:
    """Three callers and the driver send numbered entries while the ledger moves to ``to``."""
    await rt.send(LEDGER, ma.Entry(seq=0, tag="driver"))
    bursts = asyncio.gather(*(rt.send(caller, ma.Burst(target=str(LEDGER), n=200, pause=pause), timeout=120)
                              for caller in CALLERS))
    await asyncio.sleep(0.3)
    assert await asyncio.to_thread(rt.move, LEDGER, to)
    for seq in range(1, 60):
        await rt.send(LEDGER, ma.Entry(seq=seq, tag="driver"))
    return await bursts


def test_a_moved_agent_keeps_its_state_and_everything_sent_around_the_move_is_handled_once_in_order(
        movable: Runtime) -> None:
    to = movable.where(CALLERS[0]) if movable.where(CALLERS[0]) != movable.where(LEDGER) else "pool:caller.1"
    asyncio.run(_move_during_bursts(movable, to))
    assert movable.where(LEDGER) == to
    report = movable.inspect(LEDGER, "report")
    assert report["count"] == 60 + 3 * 200  # none lost, none twice: the entries before the move came along
    assert report["overlaps"] == 0
    assert _entries_in_order(report), {sender: [seq for i, seq in enumerate(seqs) if i != seq][:10]
                                       for sender, seqs in report["by_sender"].items()}
    assert movable.stats()["bus"]["moves"] == 1
    movable.settle(30)


def test_agents_that_call_each_other_are_moved_onto_one_host_by_the_runtime(movable: Runtime) -> None:
    caller = CALLERS[0]

    async def talk() -> None:
        for _ in range(20):
            await movable.send(caller, ma.Burst(target=str(LEDGER), n=20))
            if movable.where(LEDGER) == movable.where(caller):
                return

    asyncio.run(talk())
    wait_until(lambda: movable.where(LEDGER) == movable.where(caller), timeout=30)
    assert movable.stats()["bus"]["moves"] >= 1
    assert movable.inspect(LEDGER, "report")["overlaps"] == 0


def test_an_agent_placed_by_the_user_stays_where_it_was_placed(ray_session: Any) -> None:
    rt = Runtime.connect(namespace=f"m{uuid4().hex[:10]}")
    try:
        rt.register("ledger", ma.Ledger, placement=Dedicated())
        rt.register("caller", ma.Caller, placement=Sharded(2, pool="callers"))
        for _ in range(6):
            asyncio.run(rt.send(CALLERS[0], ma.Burst(target=str(LEDGER), n=50)))
        with pytest.raises(ValueError, match="is the user's choice"):
            rt.move(LEDGER, rt.where(CALLERS[0]))
        assert rt.stats()["bus"].get("moves_started", 0) == 0
        assert rt.where(LEDGER) == "agent:ledger/l"
    finally:
        rt.shutdown(destroy=True)


def test_a_move_is_called_off_when_the_agent_does_not_fall_quiet_and_its_messages_still_come_in_order(
        movable: Runtime) -> None:
    async def go() -> list[Any]:
        first = asyncio.ensure_future(movable.send(LEDGER, ma.Entry(seq=0, tag="driver", pause=2.0)))
        await asyncio.sleep(0.3)  # its serial handler is under way, and outlasts the host's wait
        assert await asyncio.to_thread(movable.move, LEDGER, "pool:caller.0")
        rest = [asyncio.ensure_future(movable.send(LEDGER, ma.Entry(seq=seq, tag="driver"))) for seq in range(1, 20)]
        return await asyncio.gather(first, *rest)

    answers = asyncio.run(go())
    assert [answer.count for answer in answers] == list(range(1, 21))
    assert movable.where(LEDGER) == "agent:ledger/l"
    assert movable.stats()["bus"]["moves_called_off"] == 1
    assert _entries_in_order(movable.inspect(LEDGER, "report"))


def test_a_publish_to_an_agent_being_moved_reaches_it_once(movable: Runtime) -> None:
    async def go() -> None:
        slow = asyncio.ensure_future(movable.send(LEDGER, ma.Entry(seq=0, tag="driver", pause=0.5)))
        await asyncio.sleep(0.2)
        assert await asyncio.to_thread(movable.move, LEDGER, "pool:caller.0")
        await movable.publish(TopicId("news", "l"), ma.Heard(text="hello"))
        await slow

    asyncio.run(go())
    wait_until(lambda: movable.inspect(LEDGER, "report")["heard"], timeout=15)
    assert movable.where(LEDGER) == "pool:caller.0"
    assert movable.inspect(LEDGER, "report")["heard"] == ["hello"]
    movable.settle(30)  # the copy that waited for the move was heard back of


def test_a_host_killed_while_handing_an_agent_over_is_asked_again_and_nothing_is_lost_or_doubled(
        stored: Runtime) -> None:
    async def go() -> list[Any]:
        sends = [asyncio.ensure_future(stored.send(LEDGER, ma.Entry(seq=seq, tag="driver", pause=0.05), timeout=120))
                 for seq in range(40)]
        await asyncio.sleep(0.5)
        source = await asyncio.to_thread(ray.get, stored._bus.host_of.remote(str(LEDGER)))
        assert await asyncio.to_thread(stored.move, LEDGER, "pool:caller.0")
        ray.kill(source, no_restart=False)
        return await asyncio.gather(*sends)

    answers = asyncio.run(go())
    wait_until(lambda: stored.where(LEDGER) == "pool:caller.0", timeout=30)
    report = stored.inspect(LEDGER, "report")
    assert sorted(answer.count for answer in answers)[-1] == report["count"] == 40
    assert report["by_sender"]["admin|driver"] == list(range(40))
    assert report["overlaps"] == 0


def test_agents_are_not_moved_with_several_bus_shards(ray_session: Any) -> None:
    rt = Runtime.connect(namespace=f"m{uuid4().hex[:10]}", shards=2)
    try:
        rt.register("ledger", ma.Ledger)
        with pytest.raises(RaybusError, match="move with one"):
            rt.move(LEDGER, "pool:caller.0")
    finally:
        rt.shutdown(destroy=True)


def test_a_host_its_agents_moved_away_from_is_stopped_its_traces_kept_and_its_next_message_starts_it_again(
        movable: Runtime) -> None:
    trace = movable.new_trace()
    asyncio.run(movable.send(LEDGER, ma.Entry(seq=0, tag="driver"), trace_id=trace))
    home = movable.where(LEDGER)
    assert movable.move(LEDGER, "pool:caller.0")
    wait_until(lambda: home not in movable.stats()["hosts"], timeout=30)  # stopped: nothing lived there
    assert movable.stats()["bus"]["hosts_retired"] >= 1
    assert any(event.where == home for event in movable.trace(trace))  # what it recorded is still there
    assert movable.move(LEDGER, home)  # a message for it starts it anew
    wait_until(lambda: movable.where(LEDGER) == home, timeout=30)
    asyncio.run(movable.send(LEDGER, ma.Entry(seq=1, tag="driver")))
    assert home in movable.stats()["hosts"]
    report = movable.inspect(LEDGER, "report")
    assert report["count"] == 2 and _entries_in_order(report)  # the state went along both ways
    movable.settle(30)


def test_an_agent_moved_on_before_it_handled_anything_where_it_went_keeps_its_state(movable: Runtime) -> None:
    asyncio.run(movable.send(LEDGER, ma.Entry(seq=0, tag="driver")))
    for to in ("pool:caller.0", "pool:caller.1"):
        assert movable.move(LEDGER, to)
        wait_until(lambda to=to: movable.where(LEDGER) == to, timeout=30)
    asyncio.run(movable.send(LEDGER, ma.Entry(seq=1, tag="driver")))
    assert movable.inspect(LEDGER, "report")["count"] == 2


def test_a_stopped_host_started_again_by_many_calls_at_once_handles_each_once(movable: Runtime) -> None:
    first, *fresh = [AgentId("caller", f"k{n}") for n in range(400)
                     if Sharded(2).endpoint("caller", f"k{n}") == "pool:caller.1"][:101]
    asyncio.run(movable.send(first, ma.Burst(target=str(LEDGER), n=1)))
    assert movable.move(first, "pool:caller.0")  # pool:caller.1 is left with nothing
    wait_until(lambda: "pool:caller.1" not in movable.stats()["hosts"], timeout=30)

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(*(movable.send(caller, ma.Burst(target=str(LEDGER), n=1), timeout=60)
                                      for caller in [first, *fresh]))

    sent = asyncio.run(all_at_once())
    assert len(sent) == 101 and all(len(one.counts) == 1 for one in sent)
    report = movable.inspect(LEDGER, "report")
    assert report["count"] == 1 + 101 and report["overlaps"] == 0  # each call handled once, the ledger serial
    assert sorted(one.counts[0] for one in sent) == list(range(2, 103))
    assert movable.where(fresh[0]) == "pool:caller.1" and movable.where(first) == "pool:caller.0"
    movable.settle(30)


def test_a_message_the_bus_gives_a_host_its_recipient_left_is_neither_taken_nor_refused(stored: Runtime) -> None:
    """As a restarted bus that has not relearned a move yet would: the host does not have it (the bus gives it
    again where the agent lives), and no ``AgentMoved`` dead letter says it was refused."""
    asyncio.run(stored.send(LEDGER, ma.Entry(seq=0, tag="driver")))
    for to in ("pool:caller.0", "pool:caller.1"):
        assert stored.move(LEDGER, to)
        wait_until(lambda to=to: stored.where(LEDGER) == to, timeout=30)
    left = ray.get_actor(host_actor_name("pool:caller.0"), namespace=stored.namespace)
    stale = Call("stale-1", "t", None, str(LEDGER), "Entry", {"seq": 1, "tag": "driver"}, time.time() + 30, "client.x")
    ray.get(left.deliver.remote(pack([stale])))
    assert ray.get(left.holding.remote(["stale-1"])) == (set(), {})
    figures = stored.stats()["hosts"]["pool:caller.0"]
    assert figures.get("not_here") == 1 and not figures.get("failed_AgentMoved")
    assert stored.inspect(LEDGER, "report")["count"] == 1


def test_a_restarted_bus_learns_where_agents_were_moved_before_it_routes(stored: Runtime) -> None:
    asyncio.run(stored.send(LEDGER, ma.Entry(seq=0, tag="driver")))
    assert stored.move(LEDGER, "pool:caller.0")
    wait_until(lambda: stored.where(LEDGER) == "pool:caller.0", timeout=30)
    ray.kill(stored._bus, no_restart=False)
    noted = asyncio.run(stored.send(LEDGER, ma.Entry(seq=1, tag="driver"), timeout=90))  # one attempt
    assert noted.count == 2 and stored.where(LEDGER) == "pool:caller.0"
    burst = asyncio.run(stored.send(CALLERS[0], ma.Burst(target=str(LEDGER), n=5), timeout=90))
    assert burst.counts == [3, 4, 5, 6, 7]  # its calls are not refused as forged, nor sent where it was


def test_a_host_an_agent_was_moved_to_killed_amid_its_calls_takes_them_all_once_when_back(stored: Runtime) -> None:
    asyncio.run(stored.send(LEDGER, ma.Entry(seq=0, tag="driver")))
    assert stored.move(LEDGER, "pool:caller.0")
    wait_until(lambda: stored.where(LEDGER) == "pool:caller.0", timeout=30)

    async def go() -> list[Any]:
        sends = [asyncio.ensure_future(stored.send(LEDGER, ma.Entry(seq=seq, tag="driver", pause=0.02), timeout=120))
                 for seq in range(1, 80)]
        await asyncio.sleep(0.4)
        host = await asyncio.to_thread(ray.get, stored._bus.host_of.remote(str(LEDGER)))
        ray.kill(host, no_restart=False)  # its new process must know the ledger lives there, from the start
        return await asyncio.gather(*sends)

    answers = asyncio.run(go())  # one attempt each: none refused as sent to the wrong host
    report = stored.inspect(LEDGER, "report")
    assert sorted(answer.count for answer in answers)[-1] == report["count"] == 80
    assert report["by_sender"]["admin|driver"] == list(range(80)) and report["overlaps"] == 0
    assert stored.where(LEDGER) == "pool:caller.0" and stored.stats()["bus"].get("dead_letters", 0) == 0


def test_a_restarted_bus_finds_an_agent_moved_back_home_at_home_not_where_it_once_went(stored: Runtime) -> None:
    asyncio.run(stored.send(LEDGER, ma.Entry(seq=0, tag="driver")))
    home = stored.where(LEDGER)
    for to in ("pool:caller.0", "pool:caller.1", home):  # pool:caller.0 saw it go to pool:caller.1, no further
        assert stored.move(LEDGER, to)
        wait_until(lambda to=to: stored.where(LEDGER) == to, timeout=30)
    ray.kill(stored._bus, no_restart=False)
    noted = asyncio.run(stored.send(LEDGER, ma.Entry(seq=1, tag="driver"), timeout=90))
    assert noted.count == 2 and stored.where(LEDGER) == home  # not adopted again where it once went
    assert str(LEDGER) not in ray.get(ray.get_actor("raybus.host.pool:caller.1", namespace=stored.namespace)
                                      .moves.remote())[0]


def test_a_bus_restarted_while_a_host_hands_an_agent_over_takes_its_answers_and_carries_the_move_out(
        stored: Runtime) -> None:
    asyncio.run(stored.send(LEDGER, ma.Entry(seq=0, tag="driver")))
    home = stored.where(LEDGER)

    host = ray.get(stored._bus.host_of.remote(str(LEDGER)))

    def asked() -> bool:
        return ray.get(host.stats.remote()).get("handovers_asked", 0) == 1

    async def go() -> Any:
        slow = asyncio.ensure_future(stored.send(LEDGER, ma.Entry(seq=1, tag="driver", pause=0.6), timeout=90))
        await asyncio.sleep(0.05)
        assert await asyncio.to_thread(stored.move, LEDGER, "pool:caller.0")
        await asyncio.to_thread(wait_until, asked, 5)  # the home host waits for the slow handler (under MOVE_WAIT):
        ray.kill(stored._bus, no_restart=False)  # its answer and its Moved reach a restarting bus, and go again
        return await slow

    assert asyncio.run(go()).count == 2
    wait_until(lambda: stored.where(LEDGER) == "pool:caller.0", timeout=30)
    noted = asyncio.run(stored.send(LEDGER, ma.Entry(seq=2, tag="driver"), timeout=90))
    assert noted.count == 3  # nothing handled twice
    report = stored.inspect(LEDGER, "report")
    assert report["by_sender"]["admin|driver"] == [0, 1, 2] and report["overlaps"] == 0
    bus = stored.stats()["bus"]
    assert bus.get("forged_answers", 0) == 0 and bus.get("dead_letters", 0) == 0, home


def test_a_host_restarting_with_the_bus_learns_where_its_agents_went_once_the_bus_has_relearned(
        stored: Runtime) -> None:
    home = "agent:ledger/l"
    asyncio.run(stored.send(LEDGER, ma.Entry(seq=0, tag="driver")))
    assert stored.move(CALLERS[0], home)  # a caller beside the ledger's home: it calls the ledger in-process
    wait_until(lambda: stored.where(CALLERS[0]) == home, timeout=30)
    assert stored.move(LEDGER, "pool:caller.1")
    wait_until(lambda: stored.where(LEDGER) == "pool:caller.1", timeout=30)
    ray.kill(stored._bus, no_restart=False)  # a lost node takes both: the home host asks the bus where its
    ray.kill(ray.get_actor(f"raybus.host.{home}", namespace=stored.namespace), no_restart=False)  # agents went
    time.sleep(3)  # before anything makes the restarted bus ask the hosts
    burst = asyncio.run(stored.send(CALLERS[0], ma.Burst(target=str(LEDGER), n=5), timeout=90))
    assert burst.counts == [2, 3, 4, 5, 6]
    hosts = stored.stats()["hosts"]  # the ledger where it lives, not a second one started at its home
    assert hosts[home]["agents"] == 1 and hosts[home].get("local_deliveries", 0) == 0, hosts[home]
    assert stored.where(LEDGER) == "pool:caller.1" and stored.inspect(LEDGER, "report")["count"] == 6
    assert stored.stats()["bus"].get("dead_letters", 0) == 0


@pytest.mark.parametrize("told", ["before the move", "during the move"])
def test_an_agents_publish_to_one_being_handed_over_when_the_bus_restarts_reaches_it_once(
        ray_session: Any, tmp_path: Path, told: str) -> None:
    """Queued behind a slow handler at the home host (taken along in the ``Moved``), or parked at the bus for the
    move: either way the bus dies with it, and the publisher, which keeps its publish until the bus says every copy
    was handled, sends it again."""
    rt = Runtime.connect(namespace=f"m{uuid4().hex[:10]}", state=str(tmp_path / "state"))
    rt.register("ledger", ma.Ledger, subscriptions=[TypeSubscription("news", "ledger")])
    rt.register("caller", ma.Caller, placement=Sharded(2))
    try:
        asyncio.run(rt.send(LEDGER, ma.Entry(seq=0, tag="driver")))
        host = ray.get(rt._bus.host_of.remote(str(LEDGER)))
        tell = ma.Tell(topic="news/l", text="hello")

        def asked() -> bool:
            return ray.get(host.stats.remote()).get("handovers_asked", 0) == 1

        async def go() -> None:
            slow = asyncio.ensure_future(rt.send(LEDGER, ma.Entry(seq=1, tag="driver", pause=0.8), timeout=90))
            await asyncio.sleep(0.05)
            if told == "before the move":
                await rt.send(CALLERS[0], tell, timeout=30)
            assert await asyncio.to_thread(rt.move, LEDGER, "pool:caller.0")
            if told == "during the move":
                await rt.send(CALLERS[0], tell, timeout=30)
            await asyncio.to_thread(wait_until, asked, 5)
            ray.kill(rt._bus, no_restart=False)
            await slow

        asyncio.run(go())
        wait_until(lambda: rt.inspect(LEDGER, "report")["heard"], timeout=30)
        rt.settle(60)
        report = rt.inspect(LEDGER, "report")
        assert report["heard"] == ["hello"] and report["overlaps"] == 0
        assert rt.where(LEDGER) == "pool:caller.0"
    finally:
        rt.shutdown(destroy=True)
