"""Interceptors and policies, enforced where messages are routed: by the bus, and by a host delivering
in-process. On a real (private, local) Ray."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sample_agents as sa
from conftest import wait_until

from cluster import (
    AgentId,
    MemberSubscription,
    NotAuthorized,
    Policy,
    PublishRule,
    Redact,
    Runtime,
    Sharded,
    TopicId,
)

SHARED = Sharded(1, pool="shared")  # relayer and echo on one host: their messages never reach the bus


def send(rt: Runtime, recipient: AgentId, message: Any) -> Any:
    return asyncio.run(rt.send(recipient, message, timeout=30.0))


def refusals(rt: Runtime) -> list[tuple[str | None, str, str]]:
    return [(d["sender"], d["target"], d["type_name"]) for d in rt.dead_letters() if d["reason"] == "NotAuthorized"]


@pytest.fixture
def shouting(runtime: Runtime) -> Runtime:
    runtime.register("echo", sa.Echo, placement=SHARED)
    runtime.register("relayer", sa.Relayer, placement=SHARED)
    runtime.intercept(sa.Shout())
    return runtime


def test_an_interceptor_rewrites_a_send_from_the_driver(shouting: Runtime) -> None:
    assert send(shouting, AgentId("echo", "e1"), sa.Ping(text="hi")).text == "HI"


def test_an_interceptor_rewrites_a_send_delivered_in_process(shouting: Runtime) -> None:
    assert send(shouting, AgentId("relayer", "r1"), sa.Relay(to_key="e1", text="hi")).text == "HI"
    assert shouting.stats()["hosts"]["pool:shared.0"].get("local_deliveries", 0) >= 1


def test_a_refused_send_raises_not_authorized_and_is_recorded(shouting: Runtime) -> None:
    with pytest.raises(NotAuthorized, match="admin may not say that to echo/e1"):
        send(shouting, AgentId("echo", "e1"), sa.Ping(text="forbidden"))
    assert refusals(shouting) == [("admin", "echo/e1", "Ping")]
    assert shouting.inspect(AgentId("echo", "e1"), "seen_senders") == []


def test_a_send_refused_in_process_reaches_the_sending_handler_as_not_authorized(shouting: Runtime) -> None:
    with pytest.raises(NotAuthorized, match="relayer/r1 may not say that"):
        send(shouting, AgentId("relayer", "r1"), sa.Relay(to_key="e1", text="forbidden"))
    wait_until(lambda: ("relayer/r1", "echo/e1", "Ping") in refusals(shouting))


def test_a_send_refused_by_the_bus_reaches_the_sending_handler_as_not_authorized(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))  # relayer and echo on separate hosts
    runtime.register("relayer", sa.Relayer, placement=Sharded(1))
    runtime.intercept(sa.Shout())
    with pytest.raises(NotAuthorized, match="relayer/r1 may not say that"):
        send(runtime, AgentId("relayer", "r1"), sa.Relay(to_key="e1", text="forbidden"))


def test_an_interceptor_applies_to_in_process_calls_as_soon_as_intercept_returns(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=SHARED)
    runtime.register("relayer", sa.Relayer, placement=SHARED)
    assert send(runtime, AgentId("relayer", "r1"), sa.Relay(to_key="e1", text="before")).text == "before"
    runtime.intercept(sa.Shout())
    assert send(runtime, AgentId("relayer", "r1"), sa.Relay(to_key="e1", text="after")).text == "AFTER"


def test_adding_an_equal_interceptor_again_changes_nothing(shouting: Runtime) -> None:
    version = shouting._client.table.version
    shouting.intercept(sa.Shout())
    assert shouting._client.table.version == version
    assert send(shouting, AgentId("echo", "e1"), sa.Ping(text="once")).text == "ONCE"


@pytest.fixture
def newsroom(runtime: Runtime) -> Runtime:
    runtime.register("listener", sa.LoudListener, placement=Sharded(1))
    runtime.register("caster", sa.Caster, placement=Sharded(1))
    runtime.register_message(sa.Loud)
    runtime.subscribe(MemberSubscription(TopicId("news", "n1"), AgentId("listener", "l1")))
    runtime.intercept(Policy((
        PublishRule("news", {"news/n1": frozenset({"admin"})}, "only the editor publishes news"),
        Redact(frozenset({"news"}), frozenset({"secret"})),
    )))
    return runtime


def test_a_redacted_field_never_reaches_a_subscriber(newsroom: Runtime) -> None:
    asyncio.run(newsroom.publish(TopicId("news", "n1"), sa.Loud(text="out", secret="balance 12")))
    heard = wait_until(lambda: newsroom.inspect(AgentId("listener", "l1"), "get_heard"))
    assert heard == [{"text": "out", "secret": None}]


def test_a_publish_refused_by_policy_raises_for_the_driver_and_reaches_no_one(newsroom: Runtime) -> None:
    with pytest.raises(NotAuthorized, match="admin may not publish to news/n2"):
        asyncio.run(newsroom.publish(TopicId("news", "n2"), sa.Loud(text="scoop")))
    assert newsroom.stats()["bus"].get("publishes", 0) == 0


def test_a_publish_refused_by_policy_raises_in_the_publishing_handler(newsroom: Runtime) -> None:
    cast = sa.Cast(topic_type="news", topic_source="n1", text="leak")
    with pytest.raises(NotAuthorized, match="caster/c1 may not publish to news/n1: only the editor"):
        send(newsroom, AgentId("caster", "c1"), cast)
    assert newsroom.inspect(AgentId("listener", "l1"), "get_heard") == []
