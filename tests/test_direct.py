"""Calls between agents of two hosts go host to host (``cluster/_direct.py``): one Ray call, its reply the
answer, with every check the bus runs and every promise the bus keeps. On a real (private, local) Ray."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from types import SimpleNamespace
from typing import Any

import move_agents as ma
import pytest
import ray
import sample_agents as sa
from conftest import wait_until

from cluster import AgentId, MemberSubscription, NotAuthorized, Policy, Runtime, SendRule, TopicId
from cluster._direct import DirectCalls
from cluster._outbox import Outbox
from cluster._wire import Answer, Call, Publish, pack  # the host's own door, knocked on as another host would
from cluster.constants import host_actor_name

RELAYER, ECHO = AgentId("relayer", "r1"), AgentId("echo", "e1")
RELAYER_HOST, ECHO_HOST = "pool:relayer.0", "pool:echo.0"


@pytest.fixture
def two_hosts(runtime: Runtime) -> Runtime:
    runtime.register("echo", sa.Echo, placement=sa.pinned("echo"))
    runtime.register("relayer", sa.Relayer, placement=sa.pinned("relayer"))
    until_direct(runtime, RELAYER_HOST, lambda: runtime.send(RELAYER, sa.Relay(to_key="e1", text="warm")))
    return runtime


def relay(rt: Runtime, n: int, text: str = "hi") -> list[Any]:
    """``n`` relays, one at a time."""
    async def one_at_a_time() -> list[Any]:
        return [await rt.send(RELAYER, sa.Relay(to_key="e1", text=f"{text}{i}"), timeout=30.0) for i in range(n)]

    return asyncio.run(one_at_a_time())


def counts(rt: Runtime) -> dict[str, Any]:
    stats = rt.stats()
    return {"bus_sends": stats["bus"].get("sends", 0),
            **{f"{host}:{name}": figures.get(name, 0) for host, figures in stats["hosts"].items()
               for name in ("direct_calls", "direct_answered", "direct_refused", "direct_through_bus")}}


def until_direct(rt: Runtime, endpoint: str, send: Any) -> None:
    """Send until ``endpoint`` makes a call host to host: it has looked the other host up (its first calls there
    go through the bus meanwhile)."""
    def sent_then_direct() -> int:
        asyncio.run(send())
        return rt.stats()["hosts"][endpoint].get("direct_calls", 0)

    wait_until(sent_then_direct)


def host_actor(rt: Runtime, endpoint: str) -> Any:
    return ray.get_actor(host_actor_name(endpoint), namespace=rt.namespace)


def test_a_call_between_agents_of_two_hosts_goes_host_to_host_not_through_the_bus(two_hosts: Runtime) -> None:
    before = counts(two_hosts)
    assert [pong.text for pong in relay(two_hosts, 10)] == [f"hi{i}" for i in range(10)]
    after = counts(two_hosts)
    assert after["bus_sends"] - before["bus_sends"] == 10  # the driver's ten, none of the relayer's
    assert after[f"{RELAYER_HOST}:direct_calls"] - before[f"{RELAYER_HOST}:direct_calls"] == 10
    assert after[f"{ECHO_HOST}:direct_answered"] - before[f"{ECHO_HOST}:direct_answered"] == 10


def test_the_recipient_of_a_direct_call_sees_the_sending_agent(two_hosts: Runtime) -> None:
    seen = asyncio.run(two_hosts.send(RELAYER, sa.AskWho(target=str(ECHO)), timeout=30.0))
    assert seen.sender == str(RELAYER) and seen.principal is None


def test_a_direct_call_the_policy_refuses_reaches_the_sender_as_not_authorized_and_is_a_dead_letter(
        two_hosts: Runtime) -> None:
    two_hosts.intercept(Policy((SendRule(frozenset({"Who"}), "echo", {}, "no one asks echo who"),)))
    before = counts(two_hosts)
    with pytest.raises(NotAuthorized, match="no one asks echo who"):
        asyncio.run(two_hosts.send(RELAYER, sa.AskWho(target=str(ECHO)), timeout=30.0))
    assert counts(two_hosts)[f"{ECHO_HOST}:direct_answered"] == before[f"{ECHO_HOST}:direct_answered"] + 1
    # the refused Who, and the relayer's handler that the refusal failed (as through the bus)
    assert wait_until(lambda: sorted((d["sender"], d["target"]) for d in two_hosts.dead_letters()
                                     if d["reason"] == "NotAuthorized")) == [("admin", str(RELAYER)),
                                                                             (str(RELAYER), str(ECHO))]
    assert two_hosts.inspect(ECHO, "seen_senders") == []


def test_a_direct_call_claiming_a_sender_that_does_not_live_at_the_calling_host_is_not_taken(
        two_hosts: Runtime) -> None:
    forged = Call("forged-direct", "t", str(RELAYER), str(ECHO), "Who", {}, time.time() + 30, ECHO_HOST)
    assert ray.get(host_actor(two_hosts, ECHO_HOST).answer_direct.remote(ECHO_HOST, pack([forged]))) is None
    assert two_hosts.inspect(ECHO, "seen_senders") == []


def test_a_direct_call_for_an_agent_that_does_not_live_at_that_host_is_not_taken(two_hosts: Runtime) -> None:
    stray = Call("stray-direct", "t", str(RELAYER), str(ECHO), "Who", {}, time.time() + 30, RELAYER_HOST)
    assert ray.get(host_actor(two_hosts, RELAYER_HOST).answer_direct.remote(RELAYER_HOST, pack([stray]))) is None


def test_a_call_given_both_host_to_host_and_by_the_bus_is_handled_once_and_answered_through_the_bus(
        two_hosts: Runtime) -> None:
    two_hosts.register("counter", sa.Counter, placement=sa.pinned("counter"))
    counter = AgentId("counter", "c1")
    asyncio.run(two_hosts.send(counter, sa.Add(amount=0)))
    both = Call("both-ways", "t", str(RELAYER), str(counter), "Add", {"amount": 1, "pause": 1.0}, time.time() + 30,
                RELAYER_HOST)
    host = host_actor(two_hosts, "pool:counter.0")
    direct = host.answer_direct.remote(RELAYER_HOST, pack([both]))
    time.sleep(0.3)  # taken host to host, its handler under way
    ray.get(host.deliver.remote(pack([both])))  # the same call, as the bus would give it
    assert ray.get(direct) == b""  # its answer goes through the bus, which now keeps the call
    time.sleep(1.5)
    assert two_hosts.inspect(counter, "get_count") == 1


def test_an_answer_whose_handler_published_goes_through_the_bus_behind_the_publish_not_in_the_reply(
        runtime: Runtime) -> None:
    runtime.register("caster", sa.Caster, placement=sa.pinned("caster"))
    runtime.register("listener", sa.Listener, placement=sa.pinned("listener"))
    runtime.register("narrator", sa.Narrator, placement=sa.pinned("narrator"))
    narrator, listener = AgentId("narrator", "n1"), AgentId("listener", "l1")
    runtime.subscribe(MemberSubscription(TopicId("topic", "all"), listener))

    def narrate(n: int) -> Any:  # the narrator's calls may go host to host; the caster publishes, then answers
        return runtime.send(narrator, sa.CastThenTellVia(caster_key="c1", to_key="l1", text=str(n)), timeout=30.0)

    until_direct(runtime, "pool:narrator.0", lambda: narrate(-1))
    before = runtime.stats()["hosts"]["pool:caster.0"].get("direct_answers_through_bus", 0)
    for n in range(10):
        asyncio.run(narrate(n))
    caster_host = runtime.stats()["hosts"]["pool:caster.0"]
    assert caster_host.get("direct_answers_through_bus", 0) - before == 10
    expected = {text for n in range(10) for text in (f"published {n}", f"told {n}")}
    heard = wait_until(lambda: expected <= set(texts := runtime.inspect(listener, "texts")) and texts)
    assert sorted(text for text in heard if text in expected) == sorted(expected)  # each once


def test_calls_one_agent_sends_at_once_to_an_agent_of_another_host_are_handled_once_in_the_order_sent(
        runtime: Runtime) -> None:
    runtime.register("ledger", ma.Ledger, placement=sa.pinned("ledger"))
    runtime.register("caller", ma.Caller, placement=sa.pinned("caller"))
    ledger = AgentId("ledger", "l")
    warm = AgentId("caller", "warm")
    until_direct(runtime, "pool:caller.0", lambda: runtime.send(warm, ma.Burst(target=str(ledger), n=1)))
    callers = [f"c{i}" for i in range(6)]
    for key in callers:  # one at a time: each caller's first call goes direct, the rest wait behind it
        sent = asyncio.run(runtime.send(AgentId("caller", key), ma.Burst(target=str(ledger), n=200), timeout=120))
        assert len(set(sent.counts)) == 200
    report = runtime.inspect(ledger, "report")
    assert report["overlaps"] == 0
    assert {sender: seqs for sender, seqs in report["by_sender"].items() if sender.startswith("caller/c")} == {
        f"caller/{key}|": list(range(200)) for key in callers}
    assert runtime.stats()["hosts"]["pool:caller.0"].get("direct_calls", 0) >= 1 + len(callers)


def test_a_call_whose_host_dies_while_handling_it_is_handled_again_after_the_host_restarts(
        runtime: Runtime) -> None:
    runtime.register("timeline", sa.Timeline, placement=sa.pinned("timeline"))
    runtime.register("forwarder", sa.Forwarder, placement=sa.pinned("forwarder"))
    forwarder = AgentId("forwarder", "f")
    until_direct(runtime, "pool:forwarder.0", lambda: runtime.send(forwarder, sa.Forward(seconds=0.01)))
    before = runtime.stats()["hosts"]["pool:forwarder.0"]

    async def forward_while_killing() -> Any:
        waiting = asyncio.ensure_future(runtime.send(forwarder, sa.Forward(seconds=2.0), timeout=60))
        await asyncio.sleep(0.8)  # the forwarder's call waits host to host, the timeline's handler under way
        ray.kill(host_actor(runtime, "pool:timeline.0"), no_restart=False)
        return await waiting

    done = asyncio.run(forward_while_killing())
    assert done.end - done.start >= 1.99  # handled again, whole, by the restarted host
    after = runtime.stats()["hosts"]["pool:forwarder.0"]
    assert after.get("direct_unreachable", 0) == before.get("direct_unreachable", 0) + 1


def test_two_calls_one_agent_sends_at_once_to_an_interleaving_agent_of_another_host_run_side_by_side(
        runtime: Runtime) -> None:
    """The first (``Wait``) can end only once the second (``Open``) has run, as it can through the bus or within
    one host: the second must not wait for the first's answer, as a call behind one that went host to host does."""
    runtime.register("latch", sa.Latch, placement=sa.pinned("latch"))
    runtime.register("latch_user", sa.LatchUser, placement=sa.pinned("latch_user"))
    user = AgentId("latch_user", "u")
    assert runtime.inspect(AgentId("latch", "l1"), "get_waiting") == 0  # active: a call may go to it direct
    until_direct(runtime, "pool:latch_user.0", lambda: runtime.send(user, sa.WaitThenOpen(latch_key="l2", wait=False),
                                                                     timeout=30.0))
    started = time.monotonic()
    asyncio.run(runtime.send(user, sa.WaitThenOpen(latch_key="l1"), timeout=30.0))
    assert time.monotonic() - started < 5.0


def test_a_call_after_a_publish_still_on_its_way_reaches_a_subscriber_after_the_publish(runtime: Runtime) -> None:
    runtime.register("listener", sa.Listener, placement=sa.pinned("listener"))
    runtime.register("teller", sa.Teller, placement=sa.pinned("teller"))
    listener = AgentId("listener", "l1")
    runtime.subscribe(MemberSubscription(TopicId("topic", "all"), listener))

    async def tell(texts: range) -> None:
        for n in texts:  # one at a time: the teller's host has met the listener's, and its calls could go direct
            await runtime.send(AgentId("teller", "t1"), sa.CastThenTell(text=str(n), to_key="l1"), timeout=30.0)

    asyncio.run(tell(range(30)))
    heard = wait_until(lambda: (texts := runtime.inspect(listener, "texts")) and len(texts) >= 60 and texts)
    assert heard == [text for n in range(30) for text in (f"published {n}", f"told {n}")]


class HeldBus:
    """A host's way to the bus whose batches wait until let go, and fail if told to (the shard restarting)."""

    def __init__(self) -> None:
        self.taken: list[list[Any]] = []
        self.refuse = False
        self.let_go: asyncio.Event | None = None

    async def send(self, batch: list[Any]) -> None:
        await self.let_go.wait()
        if self.refuse:
            raise ConnectionError("shard restarting")
        self.taken.append(batch)

    def for_key(self, key: str) -> Outbox:
        return self.outbox


def test_the_reply_of_a_direct_call_whose_answer_goes_through_the_bus_waits_until_the_bus_has_the_answer() -> None:
    """Had the host said so before, and died with the answer still in its outbox, the bus (never given the call)
    would have nothing to send again and the caller would wait for ever."""

    async def main() -> None:
        bus = HeldBus()
        bus.let_go = asyncio.Event()
        bus.outbox = Outbox(bus.send, lambda batch, error: bus.outbox.retry(lambda: batch, 0.05))
        host = SimpleNamespace(to_bus=bus)
        direct = DirectCalls(host, Counter())
        direct.published(Publish("p1", "t", "caster/c1", "topic/all", "Note", {}))  # still on its way
        reply = direct.waiting["c1"] = asyncio.get_running_loop().create_future()
        answer = Answer("a1", "t", "caster/c1", "pool:narrator.0", "Ok", {}, "c1")
        assert direct.caught(answer, "caster/c1")
        bus.refuse = True
        bus.let_go.set()
        await asyncio.sleep(0.02)
        assert not reply.done()  # refused: it goes again, and the reply waits for that
        bus.refuse = False
        assert await asyncio.wait_for(reply, 1.0) is None
        assert bus.taken == [[answer]]

    asyncio.run(main())


class CallingHost:
    """Host ``h1`` whose agent ``a/1`` calls ``b/1`` at ``h2``; the call that goes host to host is never answered."""

    def __init__(self) -> None:
        self.name, self.pending, self.routed = "h1", {}, []
        self.table = SimpleNamespace(known_endpoint_of=lambda agent: {"a/1": "h1", "b/1": "h2"}[agent],
                                     home_of=lambda agent: "h1", interleaves=lambda agent, type_name: False)
        self.to_bus = SimpleNamespace(for_key=lambda key: SimpleNamespace(idle=True))

    def route(self, call: Call) -> None:
        self.routed.append(call.id)

    def call(self, call_id: str) -> Call:
        self.pending[call_id] = None
        return Call(call_id, "t", "a/1", "b/1", "Ping", {}, time.time() + 30, self.name)


def test_the_calls_behind_a_direct_call_its_caller_stopped_waiting_for_go_on() -> None:
    """A direct call whose answer never comes (lost, or the caller timed out) must not hold the caller's later
    calls to the same agent for ever. (One of them over as well is routed too: the host sends no call that no one
    waits for, ``test_host.py::test_a_call_its_caller_stopped_waiting_for_is_not_sent``.)"""
    async def main() -> CallingHost:
        host = CallingHost()
        direct = DirectCalls(host, Counter())
        never = asyncio.get_running_loop().create_future()
        direct._handles["h2"] = SimpleNamespace(answer_direct=SimpleNamespace(remote=lambda origin, batch: never))
        first, second, third = host.call("c1"), host.call("c2"), host.call("c3")
        assert [direct.send(call) for call in (first, second, third)] == [True, True, True]  # two behind the first
        await asyncio.sleep(0)
        assert host.routed == []
        direct.settled("c1")  # the first's caller stopped waiting
        return host

    assert asyncio.run(main()).routed == ["c2", "c3"]


def test_a_call_whose_recipients_class_does_not_load_at_the_sending_host_goes_through_the_bus() -> None:
    """Whether the handler interleaves is read from the recipient's class; where it cannot be loaded, the bus,
    which needs none of it, takes the call (the sender hears no import error)."""
    def no_class(agent: str, type_name: str) -> bool:
        raise ModuleNotFoundError("not on this node")

    async def main() -> bool:
        host = CallingHost()
        host.table.interleaves = no_class
        direct = DirectCalls(host, Counter())
        direct._handles["h2"] = SimpleNamespace(answer_direct=SimpleNamespace(remote=lambda origin, batch: None))
        return direct.send(host.call("c1"))

    assert asyncio.run(main()) is False
