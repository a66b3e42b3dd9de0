"""AutoGen's documented runtime behaviour, each test run on RaybusAgentRuntime (real Ray) and on
AutoGen's own SingleThreadedAgentRuntime (the oracle)."""

from __future__ import annotations

import asyncio
import itertools
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
Make = Callable[..., Any]  # builds the runtime under test
Names = Callable[[str], str]  # this test's name for a type
ONE_HOST = Sharded(1, pool="autogen")  # all agents of the module on one raybus host
_names = itertools.count(1)


@pytest.fixture(scope="module")
def raybus_runtimes(ray_session: Any) -> Iterator[dict[tuple[str, ...], RaybusAgentRuntime]]:
    """One RaybusAgentRuntime per set of intervention handlers, shared by the module's tests (starting a
    bus and a host costs seconds on a busy machine); each test names its agent and topic types its own."""
    runtimes: dict[tuple[str, ...], RaybusAgentRuntime] = {}
    yield runtimes
    for runtime in runtimes.values():
        asyncio.run(runtime.close())


@pytest.fixture(params=RUNTIMES)
def make_runtime(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Builds the runtime under test with the given intervention handlers: a fresh SingleThreadedAgentRuntime,
    or the module's RaybusAgentRuntime for those handlers."""
    used: list[Any] = []

    def make(**kwargs: Any) -> Any:
        if request.param == "single":
            return SingleThreadedAgentRuntime(**kwargs)
        runtimes = request.getfixturevalue("raybus_runtimes")
        key = tuple(type(h).__name__ for h in kwargs.get("intervention_handlers", []))
        if key not in runtimes:
            runtimes[key] = RaybusAgentRuntime(placement=ONE_HOST, **kwargs)
        used.append(runtimes[key])
        return runtimes[key]

    yield make
    for runtime in used:  # a failed test must not leave the shared runtime started
        if runtime._started:
            asyncio.run(runtime.stop())


@pytest.fixture
def n() -> Callable[[str], str]:
    """This test's name for an agent or topic type: ``base.N``, the same on both runtimes."""
    number = next(_names)
    return lambda base: f"{base}.{number}"


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


async def collector(runtime: Any, n: Callable[[str], str]) -> Seen:
    """A ClosureAgent (it stays in this process on raybus) that keeps every Seen it is told."""
    seen = Seen()

    async def keep(_: ClosureContext, message: aa.Seen, ctx: MessageContext) -> None:
        seen.append((message.who, message.text))
        seen.changed.set()

    await ClosureAgent.register_closure(runtime, n("collector"), keep)
    return seen


def test_send_returns_the_handlers_reply(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, n("echo"), aa.Echo)
        runtime.start()
        reply = await runtime.send_message(aa.Ask("hi"), AgentId(n("echo"), "k1"))
        assert reply == aa.Reply(text="k1:hi")
        await runtime.stop()

    run(scenario(make_runtime()))


def test_handler_exception_is_raised_to_the_sender_as_its_own_type(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, n("echo"), aa.Echo)
        runtime.start()
        with pytest.raises(aa.ParrotError, match="no luck"):
            await runtime.send_message(aa.Boom("luck"), AgentId(n("echo"), "k1"))
        await runtime.stop()

    run(scenario(make_runtime()))


def test_send_to_an_unregistered_agent_type_raises(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        runtime.start()
        with pytest.raises(Exception) as raised:  # AutoGen's oracle raises a bare Exception
            await runtime.send_message(aa.Ask("hi"), AgentId(n("nobody"), "k1"))
        if isinstance(runtime, RaybusAgentRuntime):
            assert isinstance(raised.value, UndeliverableException)
            assert "nobody" in str(raised.value)
        await runtime.stop()

    run(scenario(make_runtime()))


def test_publish_reaches_every_subscribed_agent_once(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        for agent_type in ("left", "right", "deaf"):
            await aa.Listener.register(runtime, n(agent_type), aa.Listener)
        await runtime.add_subscription(TypeSubscription(n("news"), n("left")))
        await runtime.add_subscription(TypeSubscription(n("news"), n("right")))
        runtime.start()
        await runtime.publish_message(aa.Note("hello"), TopicId(n("news"), "s1"))
        await runtime.stop_when_idle()
        assert sorted(seen) == [(f"{n('left')}/s1", "hello"), (f"{n('right')}/s1", "hello")]

    run(scenario(make_runtime()))


def test_publish_cascades_through_handlers_that_publish(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        await aa.Listener.register(runtime, n("first"), aa.Listener)
        await aa.Listener.register(runtime, n("second"), aa.Listener)
        await runtime.add_subscription(TypeSubscription(n("relay"), n("first")))
        await runtime.add_subscription(TypeSubscription(n("fanout"), n("second")))
        runtime.start()
        await runtime.publish_message(aa.Note("go"), TopicId(n("relay"), "s1"))
        await runtime.stop_when_idle()  # idle only once the second hop is handled too
        assert sorted(seen) == [(f"{n('first')}/s1", "go"), (f"{n('second')}/s1", "go>")]

    run(scenario(make_runtime()))


def test_publisher_does_not_receive_its_own_publish(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        await aa.Chatter.register(runtime, n("chatter"), aa.Chatter)
        await aa.Listener.register(runtime, n("audience"), aa.Listener)
        await runtime.add_subscription(TypeSubscription(n("chat"), n("chatter")))
        await runtime.add_subscription(TypeSubscription(n("chat"), n("audience")))
        runtime.start()
        await runtime.send_message(aa.Ask("mine"), AgentId(n("chatter"), "s1"))
        await runtime.stop_when_idle()
        assert seen == [(f"{n('audience')}/s1", "mine")]

    run(scenario(make_runtime()))


def test_type_subscription_maps_the_topic_source_to_the_agent_key(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        await aa.Listener.register(runtime, n("listener"), aa.Listener)
        await runtime.add_subscription(TypeSubscription(n("room"), n("listener")))
        runtime.start()
        await runtime.publish_message(aa.Note("a"), TopicId(n("room"), "k1"))
        await runtime.publish_message(aa.Note("b"), TopicId(n("room"), "key with spaces/and a slash"))
        await runtime.stop_when_idle()
        assert sorted(seen) == [(f"{n('listener')}/k1", "a"), (f"{n('listener')}/key with spaces/and a slash", "b")]

    run(scenario(make_runtime()))


def test_prefix_subscription_matches_topic_types_by_prefix(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        await aa.Listener.register(runtime, n("listener"), aa.Listener)
        await runtime.add_subscription(TypePrefixSubscription(n("team") + ":", n("listener")))
        runtime.start()
        for topic_type in (n("team") + ":red", n("team") + ":blue", n("team") + "mate", n("other")):
            await runtime.publish_message(aa.Note(topic_type), TopicId(topic_type, "s1"))
        await runtime.stop_when_idle()
        listener = f"{n('listener')}/s1"
        assert sorted(seen) == [(listener, n("team") + ":blue"), (listener, n("team") + ":red")]

    run(scenario(make_runtime()))


def test_default_subscription_decorator_receives_the_default_topic(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        await aa.DefaultListener.register(runtime, n("listener"), aa.DefaultListener)
        runtime.start()
        await runtime.publish_message(aa.Note("hi"), DefaultTopicId())
        await runtime.publish_message(aa.Note("elsewhere"), TopicId(n("other"), "default"))
        await runtime.stop_when_idle()
        assert seen == [(f"{n('listener')}/default", "hi")]

    run(scenario(make_runtime()))


def test_type_subscription_decorator_receives_its_topic_type(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        await aa.AlertListener.register(runtime, n("listener"), aa.AlertListener)
        runtime.start()
        await runtime.publish_message(aa.Note("fire"), TopicId("alerts", "default"))
        await runtime.publish_message(aa.Note("quiet"), DefaultTopicId())
        await runtime.stop_when_idle()
        assert seen == [(f"{n('listener')}/default", "fire")]

    run(scenario(make_runtime()))


def test_removed_subscription_no_longer_receives(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        await aa.Listener.register(runtime, n("listener"), aa.Listener)
        subscription = TypeSubscription(n("news"), n("listener"))
        await runtime.add_subscription(subscription)
        runtime.start()
        await runtime.publish_message(aa.Note("before"), TopicId(n("news"), "s1"))
        await runtime.stop_when_idle()
        await runtime.remove_subscription(subscription.id)
        runtime.start()
        await runtime.publish_message(aa.Note("after"), TopicId(n("news"), "s1"))
        await runtime.stop_when_idle()
        assert seen == [(f"{n('listener')}/s1", "before")]
        with pytest.raises(ValueError):
            await runtime.remove_subscription(subscription.id)

    run(scenario(make_runtime()))


def test_intervention_handler_dropping_a_send_raises_message_dropped(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, n("echo"), aa.Echo)
        runtime.start()
        with pytest.raises(MessageDroppedException):
            await runtime.send_message(aa.Ask("hi"), AgentId(n("echo"), "k1"))
        with pytest.raises(aa.ParrotError):  # what it does not drop goes through
            await runtime.send_message(aa.Boom("x"), AgentId(n("echo"), "k1"))
        await runtime.stop()

    run(scenario(make_runtime(intervention_handlers=[aa.DropAsks()])))


@pytest.mark.filterwarnings("ignore:Intervention handler on_response returned None")  # AutoGen's, for a None reply
def test_intervention_handler_dropping_a_publish_delivers_it_to_no_one(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        seen = await collector(runtime, n)
        await aa.Listener.register(runtime, n("listener"), aa.Listener)
        await runtime.add_subscription(TypeSubscription(n("news"), n("listener")))
        runtime.start()
        await runtime.publish_message(aa.Note("secret"), TopicId(n("news"), "s1"))  # dropped quietly
        await runtime.publish_message(aa.Note("public"), TopicId(n("news"), "s1"))
        # not stop_when_idle: AutoGen 0.7.5's own runtime never becomes idle after dropping a publish
        await seen.until(lambda got: (f"{n('listener')}/s1", "public") in got)
        await runtime.stop()
        assert seen == [(f"{n('listener')}/s1", "public")]

    run(scenario(make_runtime(intervention_handlers=[aa.DropNotes()])))


def test_intervention_handler_rewrites_the_message_and_the_response(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, n("echo"), aa.Echo)
        runtime.start()
        reply = await runtime.send_message(aa.Ask("hi"), AgentId(n("echo"), "k1"))
        assert reply == aa.Reply(text="k1:HI!")
        await runtime.stop()

    run(scenario(make_runtime(intervention_handlers=[aa.Shout()])))


def test_cancelled_send_stops_waiting_and_cancels_the_handlers_token(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Patient.register(runtime, n("patient"), aa.Patient)
        runtime.start()
        patient = AgentId(n("patient"), "p1")
        token = CancellationToken()
        waiting = asyncio.ensure_future(runtime.send_message(aa.WaitForCancel(), patient, cancellation_token=token))
        assert await runtime.send_message(aa.Query("started"), patient) == aa.Reply(text="yes")
        token.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await runtime.send_message(aa.Query("saw_cancel"), patient) == aa.Reply(text="yes")
        await runtime.stop()

    run(scenario(make_runtime()))


def test_agent_state_saves_and_loads(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Counter.register(runtime, n("counter"), aa.Counter)
        runtime.start()
        counter = AgentId(n("counter"), "c1")
        await runtime.send_message(aa.Add(5), counter)
        saved = await runtime.agent_save_state(counter)
        assert saved == {"total": 5}
        await runtime.send_message(aa.Add(2), counter)
        await runtime.agent_load_state(counter, saved)
        assert await runtime.send_message(aa.Add(1), counter) == aa.Reply(text="6")
        await runtime.stop()

    run(scenario(make_runtime()))


def test_runtime_state_saves_and_loads_every_instantiated_agent(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Counter.register(runtime, n("counter"), aa.Counter)
        runtime.start()
        for key, amount in (("c1", 1), ("c2", 2)):
            await runtime.send_message(aa.Add(amount), AgentId(n("counter"), key))
        saved = await runtime.save_state()
        mine = {key: value for key, value in saved.items() if key.startswith(n("counter") + "/")}
        assert mine == {f"{n('counter')}/c1": {"total": 1}, f"{n('counter')}/c2": {"total": 2}}
        await runtime.send_message(aa.Add(10), AgentId(n("counter"), "c1"))
        await runtime.load_state(saved)
        assert await runtime.send_message(aa.Add(0), AgentId(n("counter"), "c1")) == aa.Reply(text="1")
        await runtime.stop()

    run(scenario(make_runtime()))


def test_agent_metadata_names_type_key_and_description(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Echo.register(runtime, n("echo"), aa.Echo)
        runtime.start()
        metadata = await runtime.agent_metadata(AgentId(n("echo"), "k1"))
        assert dict(metadata) == {"type": n("echo"), "key": "k1",
                                  "description": "answers every Ask with its own key and the text"}
        await runtime.stop()

    run(scenario(make_runtime()))


def test_send_cycle_completes_because_handlers_are_reentrant(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Bouncer.register(runtime, n("bouncer"), aa.Bouncer)
        runtime.start()
        reply = await runtime.send_message(aa.Ping(3), AgentId(n("bouncer"), "a"))
        a, b = f"{n('bouncer')}/a", f"{n('bouncer')}/b"
        assert reply.text == f"{a}<{b}<{a}<{b}"
        await runtime.stop()

    run(scenario(make_runtime()))


def test_registered_instance_is_the_object_the_program_holds(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        counter = aa.Counter()
        await counter.register_instance(runtime, AgentId(n("held"), "h1"))
        runtime.start()
        await runtime.send_message(aa.Add(3), AgentId(n("held"), "h1"))
        assert counter.total == 3
        assert await runtime.try_get_underlying_agent_instance(AgentId(n("held"), "h1")) is counter
        await runtime.stop()

    run(scenario(make_runtime()))


def test_agents_on_raybus_hosts_are_not_accessible_in_the_driver(
        raybus_runtimes: dict[tuple[str, ...], RaybusAgentRuntime], n: Callable[[str], str]) -> None:
    """raybus only: an agent whose factory travels runs on a host, out of the driver's reach."""

    async def scenario(runtime: RaybusAgentRuntime) -> None:
        await aa.Echo.register(runtime, n("echo"), aa.Echo)
        runtime.start()
        await runtime.send_message(aa.Ask("hi"), AgentId(n("echo"), "k1"))
        with pytest.raises(NotAccessibleError):
            await runtime.try_get_underlying_agent_instance(AgentId(n("echo"), "k1"))
        assert f"{n('echo')}/k1" in runtime.raybus.agents()  # the underlying raybus runtime is reachable
        await runtime.stop()

    if () not in raybus_runtimes:
        raybus_runtimes[()] = RaybusAgentRuntime(placement=ONE_HOST)
    run(scenario(raybus_runtimes[()]))


def test_durable_agent_state_survives_its_host_being_killed(ray_session: Any, tmp_path: Any) -> None:
    """raybus only: with a state_dir, an agent's AutoGen state is saved with each message and loaded when
    Ray restarts its host."""
    import ray

    runtime = RaybusAgentRuntime(state_dir=str(tmp_path / "state"), placement=Sharded(1, pool="durable"))

    async def before() -> None:
        await aa.Counter.register(runtime, "counter", aa.Counter)
        assert await runtime.send_message(aa.Add(5), AgentId("counter", "c1")) == aa.Reply(text="5")

    async def after() -> None:
        assert await runtime.send_message(aa.Add(1), AgentId("counter", "c1")) == aa.Reply(text="6")

    def host_pid() -> int:
        host = ray.get_actor("raybus.host.pool:durable.0", namespace=runtime.namespace)
        return ray.get(host.stats.remote(), timeout=60)["pid"]

    try:
        run(before())
        killed = host_pid()
        ray.kill(ray.get_actor("raybus.host.pool:durable.0", namespace=runtime.namespace), no_restart=False)
        run(after())
        assert host_pid() != killed  # the answer came from a new process, which loaded the state
    finally:
        asyncio.run(runtime.close())


def test_a_traced_autogen_conversation_shows_every_hop(
        raybus_runtimes: dict[tuple[str, ...], RaybusAgentRuntime], n: Names) -> None:
    """raybus only: with ``runtime.trace_id`` set, raybus records the whole conversation, cycle included."""
    if () not in raybus_runtimes:
        raybus_runtimes[()] = RaybusAgentRuntime(placement=ONE_HOST)
    runtime = raybus_runtimes[()]

    async def scenario() -> None:
        await aa.Bouncer.register(runtime, n("bouncer"), aa.Bouncer)
        await runtime.send_message(aa.Ping(2), AgentId(n("bouncer"), "a"))

    runtime.trace_id = runtime.raybus.new_trace()
    try:
        run(scenario())
    finally:
        trace, runtime.trace_id = runtime.trace_id, None
    hops = {(e.sender, e.recipient) for e in runtime.raybus.trace(trace) if e.type_name == "AutogenDelivery"}
    a, b = f"{n('bouncer')}/a", f"{n('bouncer')}/b"
    assert ("admin", a) in hops and (a, b) in hops and (b, a) in hops  # the driver by its principal


def test_get_not_lazy_instantiates_the_agent(make_runtime: Make, n: Names) -> None:
    async def scenario(runtime: Any) -> None:
        await aa.Counter.register(runtime, n("counter"), aa.Counter)
        runtime.start()
        lazy = await runtime.get(n("counter"), key="lazy")
        eager = await runtime.get(AgentId(n("counter"), "eager"), lazy=False)
        assert (lazy, eager) == (AgentId(n("counter"), "lazy"), AgentId(n("counter"), "eager"))
        saved = await runtime.save_state()  # every instantiated agent, and only those
        assert f"{n('counter')}/eager" in saved and f"{n('counter')}/lazy" not in saved
        await runtime.stop()

    run(scenario(make_runtime()))
