"""AutoGen's documented runtime behaviour, each test run on RaybusAgentRuntime (real Ray) and on
AutoGen's own SingleThreadedAgentRuntime (the oracle)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

autogen_core = pytest.importorskip("autogen_core")

import autogen_agents as aa  # noqa: E402
from autogen_core import (  # noqa: E402
    AgentId,
    CancellationToken,
    ClosureAgent,
    ClosureContext,
    DefaultTopicId,
    MessageContext,
    SingleThreadedAgentRuntime,
    TopicId,
    TypePrefixSubscription,
    TypeSubscription,
)
from autogen_core.exceptions import MessageDroppedException, NotAccessibleError, UndeliverableException  # noqa: E402

from cluster import Sharded  # noqa: E402
from cluster.autogen import RaybusAgentRuntime  # noqa: E402

RUNTIMES = ["raybus", "single"]
ONE_HOST = Sharded(1, pool="autogen")  # every agent of a test on one raybus host: one process to start, not two


@pytest.fixture(params=RUNTIMES)
def make_runtime(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Builds the runtime under test (with the given intervention handlers); closes what it built."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        if request.param == "raybus":
            request.getfixturevalue("ray_session")
            runtime = RaybusAgentRuntime(placement=ONE_HOST, **kwargs)
        else:
            runtime = SingleThreadedAgentRuntime(**kwargs)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        if isinstance(runtime, RaybusAgentRuntime):
            asyncio.run(runtime.close())


def run(scenario: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario, 90))


class Seen(list):
    """What the collector was told, and a way to wait for more of it."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    async def until(self, predicate: Callable[[list], bool]) -> None:
        while not predicate(self):
            self.changed.clear()
            await self.changed.wait()


async def collector(runtime: Any) -> Seen:
    """A ClosureAgent (it stays in this process on raybus) that keeps every Seen it is told."""
    seen = Seen()

    async def keep(_: ClosureContext, message: aa.Seen, ctx: MessageContext) -> None:
        seen.append((message.who, message.text))
        seen.changed.set()

    await ClosureAgent.register_closure(runtime, aa.COLLECTOR.type, keep)
    return seen


def test_send_returns_the_handlers_reply(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, "echo", aa.Echo)
        runtime.start()
        reply = await runtime.send_message(aa.Ask("hi"), AgentId("echo", "k1"))
        assert reply == aa.Reply(text="k1:hi")
        await runtime.stop()

    run(scenario(make_runtime()))


def test_handler_exception_is_raised_to_the_sender_as_its_own_type(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, "echo", aa.Echo)
        runtime.start()
        with pytest.raises(aa.ParrotError, match="no luck"):
            await runtime.send_message(aa.Boom("luck"), AgentId("echo", "k1"))
        await runtime.stop()

    run(scenario(make_runtime()))


def test_send_to_an_unregistered_agent_type_raises(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        runtime.start()
        with pytest.raises(Exception) as raised:  # AutoGen's oracle raises a bare Exception
            await runtime.send_message(aa.Ask("hi"), AgentId("nobody", "k1"))
        if isinstance(runtime, RaybusAgentRuntime):
            assert isinstance(raised.value, UndeliverableException)
            assert "nobody" in str(raised.value)
        await runtime.stop()

    run(scenario(make_runtime()))


def test_publish_reaches_every_subscribed_agent_once(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        for agent_type in ("left", "right", "deaf"):
            await aa.Listener.register(runtime, agent_type, aa.Listener)
        await runtime.add_subscription(TypeSubscription("news", "left"))
        await runtime.add_subscription(TypeSubscription("news", "right"))
        runtime.start()
        await runtime.publish_message(aa.Note("hello"), TopicId("news", "s1"))
        await runtime.stop_when_idle()
        assert sorted(seen) == [("left/s1", "hello"), ("right/s1", "hello")]

    run(scenario(make_runtime()))


def test_publish_cascades_through_handlers_that_publish(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        await aa.Listener.register(runtime, "first", aa.Listener)
        await aa.Listener.register(runtime, "second", aa.Listener)
        await runtime.add_subscription(TypeSubscription("relay", "first"))
        await runtime.add_subscription(TypeSubscription("fanout", "second"))
        runtime.start()
        await runtime.publish_message(aa.Note("go"), TopicId("relay", "s1"))
        await runtime.stop_when_idle()  # idle only once the second hop is handled too
        assert sorted(seen) == [("first/s1", "go"), ("second/s1", "go>")]

    run(scenario(make_runtime()))


def test_publisher_does_not_receive_its_own_publish(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        await aa.Chatter.register(runtime, "chatter", aa.Chatter)
        await aa.Listener.register(runtime, "audience", aa.Listener)
        await runtime.add_subscription(TypeSubscription("chat", "chatter"))
        await runtime.add_subscription(TypeSubscription("chat", "audience"))
        runtime.start()
        await runtime.send_message(aa.Ask("mine"), AgentId("chatter", "s1"))
        await runtime.stop_when_idle()
        assert seen == [("audience/s1", "mine")]

    run(scenario(make_runtime()))


def test_type_subscription_maps_the_topic_source_to_the_agent_key(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        await aa.Listener.register(runtime, "listener", aa.Listener)
        await runtime.add_subscription(TypeSubscription("room", "listener"))
        runtime.start()
        await runtime.publish_message(aa.Note("a"), TopicId("room", "k1"))
        await runtime.publish_message(aa.Note("b"), TopicId("room", "key with spaces/and a slash"))
        await runtime.stop_when_idle()
        assert sorted(seen) == [("listener/k1", "a"), ("listener/key with spaces/and a slash", "b")]

    run(scenario(make_runtime()))


def test_prefix_subscription_matches_topic_types_by_prefix(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        await aa.Listener.register(runtime, "listener", aa.Listener)
        await runtime.add_subscription(TypePrefixSubscription("team.", "listener"))
        runtime.start()
        for topic_type in ("team.red", "team.blue", "teammate", "other"):
            await runtime.publish_message(aa.Note(topic_type), TopicId(topic_type, "s1"))
        await runtime.stop_when_idle()
        assert sorted(seen) == [("listener/s1", "team.blue"), ("listener/s1", "team.red")]

    run(scenario(make_runtime()))


def test_default_subscription_decorator_receives_the_default_topic(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        await aa.DefaultListener.register(runtime, "listener", aa.DefaultListener)
        runtime.start()
        await runtime.publish_message(aa.Note("hi"), DefaultTopicId())
        await runtime.publish_message(aa.Note("elsewhere"), TopicId("other", "default"))
        await runtime.stop_when_idle()
        assert seen == [("listener/default", "hi")]

    run(scenario(make_runtime()))


def test_type_subscription_decorator_receives_its_topic_type(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        await aa.AlertListener.register(runtime, "listener", aa.AlertListener)
        runtime.start()
        await runtime.publish_message(aa.Note("fire"), TopicId("alerts", "default"))
        await runtime.publish_message(aa.Note("quiet"), DefaultTopicId())
        await runtime.stop_when_idle()
        assert seen == [("listener/default", "fire")]

    run(scenario(make_runtime()))


def test_removed_subscription_no_longer_receives(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        await aa.Listener.register(runtime, "listener", aa.Listener)
        subscription = TypeSubscription("news", "listener")
        await runtime.add_subscription(subscription)
        runtime.start()
        await runtime.publish_message(aa.Note("before"), TopicId("news", "s1"))
        await runtime.stop_when_idle()
        await runtime.remove_subscription(subscription.id)
        runtime.start()
        await runtime.publish_message(aa.Note("after"), TopicId("news", "s1"))
        await runtime.stop_when_idle()
        assert seen == [("listener/s1", "before")]
        with pytest.raises(ValueError):
            await runtime.remove_subscription(subscription.id)

    run(scenario(make_runtime()))


def test_intervention_handler_dropping_a_send_raises_message_dropped(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, "echo", aa.Echo)
        runtime.start()
        with pytest.raises(MessageDroppedException):
            await runtime.send_message(aa.Ask("hi"), AgentId("echo", "k1"))
        with pytest.raises(aa.ParrotError):  # what it does not drop goes through
            await runtime.send_message(aa.Boom("x"), AgentId("echo", "k1"))
        await runtime.stop()

    run(scenario(make_runtime(intervention_handlers=[aa.DropAsks()])))


def test_intervention_handler_dropping_a_publish_delivers_it_to_no_one(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime)
        await aa.Listener.register(runtime, "listener", aa.Listener)
        await runtime.add_subscription(TypeSubscription("news", "listener"))
        runtime.start()
        await runtime.publish_message(aa.Note("secret"), TopicId("news", "s1"))  # dropped quietly
        await runtime.publish_message(aa.Note("public"), TopicId("news", "s1"))
        # not stop_when_idle: AutoGen 0.7.5's own runtime never becomes idle after dropping a publish
        await seen.until(lambda got: ("listener/s1", "public") in got)
        await runtime.stop()
        assert seen == [("listener/s1", "public")]

    run(scenario(make_runtime(intervention_handlers=[aa.DropNotes()])))


def test_intervention_handler_rewrites_the_message_and_the_response(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, "echo", aa.Echo)
        runtime.start()
        reply = await runtime.send_message(aa.Ask("hi"), AgentId("echo", "k1"))
        assert reply == aa.Reply(text="k1:HI!")
        await runtime.stop()

    run(scenario(make_runtime(intervention_handlers=[aa.Shout()])))


def test_cancelled_send_stops_waiting_and_cancels_the_handlers_token(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Patient.register(runtime, "patient", aa.Patient)
        runtime.start()
        patient = AgentId("patient", "p1")
        token = CancellationToken()
        waiting = asyncio.ensure_future(runtime.send_message(aa.WaitForCancel(), patient, cancellation_token=token))
        assert await runtime.send_message(aa.Query("started"), patient) == aa.Reply(text="yes")
        token.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await runtime.send_message(aa.Query("saw_cancel"), patient) == aa.Reply(text="yes")
        await runtime.stop()

    run(scenario(make_runtime()))


def test_agent_state_saves_and_loads(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Counter.register(runtime, "counter", aa.Counter)
        runtime.start()
        counter = AgentId("counter", "c1")
        await runtime.send_message(aa.Add(5), counter)
        saved = await runtime.agent_save_state(counter)
        assert saved == {"total": 5}
        await runtime.send_message(aa.Add(2), counter)
        await runtime.agent_load_state(counter, saved)
        assert await runtime.send_message(aa.Add(1), counter) == aa.Reply(text="6")
        await runtime.stop()

    run(scenario(make_runtime()))


def test_runtime_state_saves_and_loads_every_instantiated_agent(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Counter.register(runtime, "counter", aa.Counter)
        runtime.start()
        for key, n in (("c1", 1), ("c2", 2)):
            await runtime.send_message(aa.Add(n), AgentId("counter", key))
        saved = await runtime.save_state()
        assert saved == {"counter/c1": {"total": 1}, "counter/c2": {"total": 2}}
        await runtime.send_message(aa.Add(10), AgentId("counter", "c1"))
        await runtime.load_state(saved)
        assert await runtime.send_message(aa.Add(0), AgentId("counter", "c1")) == aa.Reply(text="1")
        await runtime.stop()

    run(scenario(make_runtime()))


def test_agent_metadata_names_type_key_and_description(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, "echo", aa.Echo)
        runtime.start()
        metadata = await runtime.agent_metadata(AgentId("echo", "k1"))
        assert dict(metadata) == {"type": "echo", "key": "k1",
                                  "description": "answers every Ask with its own key and the text"}
        await runtime.stop()

    run(scenario(make_runtime()))


def test_send_cycle_completes_because_handlers_are_reentrant(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Bouncer.register(runtime, "bouncer", aa.Bouncer)
        runtime.start()
        reply = await runtime.send_message(aa.Ping(3), AgentId("bouncer", "a"))
        assert reply.text == "bouncer/a<bouncer/b<bouncer/a<bouncer/b"
        await runtime.stop()

    run(scenario(make_runtime()))


def test_registered_instance_is_the_object_the_program_holds(make_runtime: Callable[..., Any]) -> None:
    async def scenario(runtime: Any) -> None:
        counter = aa.Counter()
        await counter.register_instance(runtime, AgentId("held", "h1"))
        runtime.start()
        await runtime.send_message(aa.Add(3), AgentId("held", "h1"))
        assert counter.total == 3
        assert await runtime.try_get_underlying_agent_instance(AgentId("held", "h1")) is counter
        await runtime.stop()

    run(scenario(make_runtime()))


def test_agents_on_raybus_hosts_are_not_accessible_in_the_driver(ray_session: Any) -> None:
    """raybus only: an agent whose factory travels runs on a host, out of the driver's reach."""

    async def scenario(runtime: RaybusAgentRuntime) -> None:
        await aa.Echo.register(runtime, "echo", aa.Echo)
        runtime.start()
        await runtime.send_message(aa.Ask("hi"), AgentId("echo", "k1"))
        with pytest.raises(NotAccessibleError):
            await runtime.try_get_underlying_agent_instance(AgentId("echo", "k1"))
        assert "echo/k1" in runtime.raybus.agents()  # the underlying raybus runtime is reachable
        await runtime.stop()

    runtime = RaybusAgentRuntime()
    try:
        run(scenario(runtime))
    finally:
        asyncio.run(runtime.close())
