"""The bus on a real (private, local) Ray: publish/subscribe, dead letters, sender stamping, traces."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import ray
import sample_agents as sa
from conftest import wait_until

from cluster import (
    DEAD_LETTER_TOPIC,
    AgentId,
    DeliveryTimeout,
    HandlerError,
    MemberSubscription,
    NotAuthorized,
    Runtime,
    Sharded,
    TopicId,
    TypeSubscription,
    UnknownAgentType,
)
from cluster._wire import Answer, Call, pack


def publish(rt: Runtime, topic: TopicId, text: str) -> None:
    async def go() -> None:
        await rt.publish(topic, sa.Notice(text=text))
        await rt.flush()

    asyncio.run(go())


def send(rt: Runtime, recipient: AgentId, message: Any, timeout: float = 30.0) -> Any:
    return asyncio.run(rt.send(recipient, message, timeout=timeout))


def texts_of(rt: Runtime, agent: AgentId) -> list[str]:
    return rt.inspect(agent, "texts")


def bus_count(rt: Runtime, name: str) -> int:
    return rt.stats()["bus"].get(name, 0)


# --- publish / subscribe --------------------------------------------------------------------------


def test_publish_reaches_type_subscription_subscribers(runtime: Runtime) -> None:
    runtime.register(
        "listener", sa.Listener, placement=Sharded(1), subscriptions=[TypeSubscription("news", "listener")]
    )
    publish(runtime, TopicId("news", "k1"), "hello")
    listener = AgentId("listener", "k1")
    wait_until(lambda: texts_of(runtime, listener))
    assert runtime.inspect(listener, "get_received") == [("hello", "news/k1", None)]
    assert runtime.agents() == ["listener/k1"]  # the topic source picked the key; nobody else was made


def test_a_member_of_two_topics_receives_from_both(runtime: Runtime) -> None:
    runtime.register("member", sa.Listener, placement=Sharded(1))
    member = AgentId("member", "m1")
    runtime.subscribe(MemberSubscription(TopicId("team", "alpha"), member))
    runtime.subscribe(MemberSubscription(TopicId("team", "beta"), member))
    publish(runtime, TopicId("team", "alpha"), "to alpha")
    publish(runtime, TopicId("team", "beta"), "to beta")
    publish(runtime, TopicId("team", "gamma"), "to gamma")
    received = wait_until(lambda: len(got := runtime.inspect(member, "get_received")) == 2 and got)
    assert sorted(received) == [("to alpha", "team/alpha", None), ("to beta", "team/beta", None)]
    assert bus_count(runtime, "publish_deliveries") == 2


def test_a_publish_sends_each_host_one_copy_naming_its_recipients(runtime: Runtime) -> None:
    runtime.register("member", sa.Listener, placement=Sharded(4))
    members = [AgentId("member", f"m{i}") for i in range(12)]  # spread over the four hosts
    runtime.subscribe(*(MemberSubscription(TopicId("team", "all"), member) for member in members))
    for member in members:
        runtime.inspect(member, "texts")  # the hosts are up
    wait_until(lambda: len(runtime.stats()["hosts"]) == 4)
    items = bus_count(runtime, "to_host_items")
    publish(runtime, TopicId("team", "all"), "everyone")
    for member in members:
        assert wait_until(lambda member=member: texts_of(runtime, member)) == ["everyone"]
    assert bus_count(runtime, "to_host_items") - items == 4
    assert bus_count(runtime, "publish_deliveries") == 12


def test_a_recipient_matched_by_two_subscriptions_gets_one_copy(runtime: Runtime) -> None:
    runtime.register("member", sa.Listener, placement=Sharded(1), subscriptions=[TypeSubscription("team", "member")])
    member = AgentId("member", "alpha")
    runtime.subscribe(MemberSubscription(TopicId("team", "alpha"), member))
    publish(runtime, TopicId("team", "alpha"), "first")
    wait_until(lambda: texts_of(runtime, member))
    # A duplicate of "first" would have been queued with it, so it would show up before "second".
    publish(runtime, TopicId("team", "alpha"), "second")
    wait_until(lambda: len(texts_of(runtime, member)) >= 2)
    assert texts_of(runtime, member) == ["first", "second"]
    assert bus_count(runtime, "publish_deliveries") == 2


def test_the_publisher_does_not_receive_its_own_publish(runtime: Runtime) -> None:
    shared = Sharded(1, pool="shared")  # one host: a copy for the caster would arrive with the listener's
    runtime.register("caster", sa.Caster, placement=shared, subscriptions=[TypeSubscription("news", "caster")])
    runtime.register("listener", sa.Listener, placement=shared, subscriptions=[TypeSubscription("news", "listener")])
    caster, listener = AgentId("caster", "k1"), AgentId("listener", "k1")
    send(runtime, caster, sa.Cast(topic_type="news", topic_source="k1", text="from the caster"))
    wait_until(lambda: texts_of(runtime, listener))
    assert runtime.inspect(listener, "get_received") == [("from the caster", "news/k1", "caster/k1")]
    assert texts_of(runtime, caster) == []
    assert bus_count(runtime, "publish_deliveries") == 1


def test_a_publish_is_delivered_even_if_the_event_loop_ends_right_after_it(runtime: Runtime) -> None:
    runtime.register(
        "listener", sa.Listener, placement=Sharded(1), subscriptions=[TypeSubscription("news", "listener")]
    )
    asyncio.run(runtime.publish(TopicId("news", "k1"), sa.Notice(text="no flush")))
    wait_until(lambda: texts_of(runtime, AgentId("listener", "k1")))


def test_a_publish_to_a_topic_without_subscribers_is_not_an_error(runtime: Runtime) -> None:
    runtime.register_message(sa.Notice)
    publish(runtime, TopicId("nobody", "listens"), "into the void")
    stats = runtime.stats()["bus"]
    assert stats.get("publishes") == 1
    assert stats.get("publish_deliveries", 0) == 0
    assert stats.get("dead_letters", 0) == 0
    assert runtime.dead_letters() == []


# --- sender stamping ------------------------------------------------------------------------------


def test_a_handler_sees_the_true_sending_agent_as_sender(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo)  # separate hosts: the sender is stamped on the way through the bus
    runtime.register("relayer", sa.Relayer)
    seen = send(runtime, AgentId("relayer", "r1"), sa.AskWho(target="echo/e1"))
    assert seen == sa.SenderSeen(sender="relayer/r1")


def test_a_handler_sees_the_true_sender_from_an_agent_on_its_own_host(runtime: Runtime) -> None:
    shared = Sharded(1, pool="shared")
    runtime.register("echo", sa.Echo, placement=shared)
    runtime.register("relayer", sa.Relayer, placement=shared)
    seen = send(runtime, AgentId("relayer", "r1"), sa.AskWho(target="echo/e1"))
    assert seen == sa.SenderSeen(sender="relayer/r1")


def test_a_handler_sees_the_principal_of_a_driver_and_no_agent(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    assert send(runtime, AgentId("echo", "e1"), sa.Who()) == sa.SenderSeen(sender=None, principal="admin")
    anonymous = Runtime.connect(namespace=runtime.namespace)  # no credential: the namespace has its admin
    assert send(anonymous, AgentId("echo", "e1"), sa.Who()) == sa.SenderSeen(sender=None, principal="anonymous")


def test_a_driver_cannot_pose_as_an_agent(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    runtime.register("relayer", sa.Relayer, placement=Sharded(1))
    forged = runtime._client.send("relayer/r1", AgentId("echo", "e1"), sa.Who(), "forged", 10.0)
    with pytest.raises(NotAuthorized, match="may not send Who as 'relayer/r1'"):
        asyncio.run(forged)
    assert bus_count(runtime, "forged_senders") == 1
    assert runtime.inspect(AgentId("echo", "e1"), "seen_senders") == []


def test_a_handler_cannot_send_as_another_agent_of_its_host(runtime: Runtime) -> None:
    shared = Sharded(1, pool="shared")
    runtime.register("echo", sa.Echo, placement=shared)
    runtime.register("relayer", sa.Relayer, placement=shared)
    runtime.register("impostor", sa.Impostor, placement=shared)
    with pytest.raises(NotAuthorized, match="impostor/i1 may not send as 'relayer/r1'"):
        send(runtime, AgentId("impostor", "i1"), sa.AskWho(target="echo/e1"))
    assert runtime.stats()["hosts"]["pool:shared.0"]["forged_senders"] == 1
    assert runtime.inspect(AgentId("echo", "e1"), "seen_senders") == []


@pytest.mark.parametrize("by_agent", [False, True], ids=["driver", "agent"])
def test_only_the_runtime_publishes_on_the_dead_letter_topic(runtime: Runtime, by_agent: bool) -> None:
    runtime.register("caster", sa.Caster, placement=Sharded(1))
    runtime.register("watcher", sa.DeadLetterWatcher, placement=Sharded(1),
                     subscriptions=[TypeSubscription("deadletter", "watcher")])
    forged = sa.Notice(text="a forged dead letter")
    if by_agent:
        send(runtime, AgentId("caster", "c1"), sa.Cast(topic_type="deadletter", topic_source="raybus", text="x"))
    else:
        asyncio.run(runtime.publish(DEAD_LETTER_TOPIC, forged))
    assert wait_until(lambda: bus_count(runtime, "forged_senders")) == 1
    letters = wait_until(lambda: runtime.inspect(AgentId("watcher", "raybus"), "get_letters"))
    assert [(letter["reason"], letter["type_name"]) for letter in letters] == [("NotAuthorized", "Notice")]


# --- dead letters ---------------------------------------------------------------------------------


def test_a_send_to_an_unknown_agent_type_is_a_dead_letter(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    assert bus_count(runtime, "dead_letters") == 0

    async def to_ghost() -> BaseException:
        try:
            await runtime.send(AgentId("ghost", "g1"), sa.Ping(text="boo"), timeout=10)
        except UnknownAgentType as exc:
            return exc
        raise AssertionError("sending to an unknown agent type did not raise")

    asyncio.run(to_ghost())
    assert bus_count(runtime, "dead_letters") == 1
    assert bus_count(runtime, "dead_letters_UnknownAgentType") == 1
    [letter] = runtime.dead_letters()
    assert letter["reason"] == "UnknownAgentType"
    assert letter["target"] == "ghost/g1"
    assert letter["type_name"] == "Ping"
    assert "'ghost'" in letter["detail"]
    assert letter["sender"] == "admin"  # the driver's principal


def test_a_failing_handler_is_a_dead_letter_naming_the_agent(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    with pytest.raises(HandlerError):
        send(runtime, AgentId("echo", "e1"), sa.Boom(text="bad"))
    [letter] = wait_until(runtime.dead_letters)
    assert (letter["reason"], letter["target"], letter["type_name"]) == ("HandlerError", "echo/e1", "Boom")
    assert "kaboom: bad" in letter["detail"]


def test_a_dead_letter_subscriber_receives_the_dead_letter(runtime: Runtime) -> None:
    runtime.register(
        "dlwatch",
        sa.DeadLetterWatcher,
        placement=Sharded(1),
        subscriptions=[TypeSubscription(DEAD_LETTER_TOPIC.type, "dlwatch")],
    )
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    watcher = AgentId("dlwatch", DEAD_LETTER_TOPIC.source)

    async def to_ghost() -> None:
        with contextlib.suppress(UnknownAgentType):
            await runtime.send(AgentId("ghost", "g1"), sa.Ping(text="boo"), timeout=10)

    asyncio.run(to_ghost())
    [letter] = wait_until(lambda: runtime.inspect(watcher, "get_letters"))
    assert letter["reason"] == "UnknownAgentType"
    assert letter["target"] == "ghost/g1"
    assert letter["type_name"] == "Ping"


# --- tracing --------------------------------------------------------------------------------------


def test_a_sampled_trace_draws_a_two_hop_chain_as_mermaid(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo)
    runtime.register("relayer", sa.Relayer)
    trace_id = runtime.new_trace()
    reply = asyncio.run(
        runtime.send(AgentId("relayer", "r1"), sa.Relay(to_key="e1", text="traced"), trace_id=trace_id, timeout=30)
    )
    assert reply.by == "echo/e1"
    mermaid = runtime.trace_mermaid(trace_id)
    lines = [line.strip() for line in mermaid.splitlines()]
    assert lines[0] == "sequenceDiagram"
    participants = {line for line in lines if line.startswith("participant")}
    assert participants == {
        "participant admin as admin",
        "participant relayer_r1 as relayer/r1",
        "participant echo_e1 as echo/e1",
    }
    arrows = [line for line in lines if ": " in line and not line.startswith("participant")]
    assert arrows == [
        "admin->>relayer_r1: Relay",
        "relayer_r1->>echo_e1: Ping",
        "echo_e1-->>relayer_r1: Pong",
        "relayer_r1-->>admin: Pong",
    ], mermaid


def test_an_unsampled_trace_records_nothing(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    asyncio.run(runtime.send(AgentId("echo", "e1"), sa.Ping(text="quiet"), trace_id="0123456789abcdef"))
    assert runtime.trace("0123456789abcdef") == []


def test_an_answer_from_a_host_that_was_not_given_the_call_is_refused(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    echo = AgentId("echo", "e1")

    async def forge_while_waiting() -> Any:
        call = asyncio.ensure_future(runtime.send(echo, sa.Hang(seconds=6.0), timeout=4.0))
        await asyncio.sleep(0.5)
        (call_id,) = list(runtime._client.pending)
        forged = Answer("forged-1", "t", str(echo), runtime._client.name, "Pong", {"text": "forged", "by": str(echo)},
                        call_id)
        await runtime._bus.route.remote("pool:intruder.0", pack([forged]))
        with contextlib.suppress(DeliveryTimeout):
            return await call
        return "timed out"

    assert asyncio.run(forge_while_waiting()) == "timed out"
    assert bus_count(runtime, "forged_answers") == 1


def test_a_publish_and_a_later_call_from_one_sender_reach_a_subscriber_in_that_order(runtime: Runtime) -> None:
    runtime.register("listener", sa.Listener, placement=sa.pinned("listener"))
    runtime.register("teller", sa.Teller, placement=sa.pinned("teller"))
    listener = AgentId("listener", "l1")
    runtime.subscribe(MemberSubscription(TopicId("topic", "all"), listener))

    async def tell_all() -> None:
        await asyncio.gather(*(runtime.send(AgentId("teller", f"t{i}"), sa.CastThenTell(text=str(i), to_key="l1"),
                                            timeout=30.0) for i in range(20)))

    asyncio.run(tell_all())
    heard = wait_until(lambda: (texts := runtime.inspect(listener, "texts")) and len(texts) == 40 and texts)
    for i in range(20):
        assert heard.index(f"published {i}") < heard.index(f"told {i}")


def test_a_host_cannot_send_as_an_agent_of_another_host(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    runtime.register("relayer", sa.Relayer, placement=Sharded(1))
    forged = Call("forged-call", "t", "relayer/r1", "echo/e1", "Who", {}, 0.0, "")
    ray.get(runtime._bus.route.remote("pool:echo.0", pack([forged])))  # echo's host, posing as the relayer
    assert wait_until(lambda: bus_count(runtime, "forged_senders")) == 1
    assert runtime.inspect(AgentId("echo", "e1"), "seen_senders") == []
