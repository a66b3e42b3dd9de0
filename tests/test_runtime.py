"""The runtime on a real (private, local) Ray: request/reply, errors, serial mailboxes, drivers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import ray
import sample_agents as sa
from conftest import TESTS_DIR

from cluster import (
    AgentId,
    BusUnavailable,
    DeliveryTimeout,
    DuplicateRegistration,
    HandlerError,
    InvalidMessage,
    NotAuthorized,
    NotSettled,
    Runtime,
    Sharded,
    UnknownAgentType,
    UnknownMessageType,
)
from cluster._wire import Call, pack
from cluster.constants import host_actor_name

ECHO = AgentId("echo", "e1")


def send(rt: Runtime, recipient: AgentId, message: Any, timeout: float = 30.0) -> Any:
    return asyncio.run(rt.send(recipient, message, timeout=timeout))


def send_raises(rt: Runtime, recipient: AgentId, message: Any, timeout: float = 30.0) -> BaseException:
    async def attempt() -> BaseException:
        try:
            await rt.send(recipient, message, timeout=timeout)
        except Exception as exc:
            return exc
        raise AssertionError(f"sending {message!r} to {recipient} did not raise")

    return asyncio.run(attempt())


@pytest.fixture
def echo_rt(runtime: Runtime) -> Runtime:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    return runtime


# --- request / reply ------------------------------------------------------------------------------


def test_request_reply_returns_the_typed_reply(echo_rt: Runtime) -> None:
    reply = send(echo_rt, ECHO, sa.Ping(text="hello"))
    assert isinstance(reply, sa.Pong)
    assert reply == sa.Pong(text="hello", by="echo/e1")


def test_a_handler_returning_none_gives_none(echo_rt: Runtime) -> None:
    assert send(echo_rt, ECHO, sa.Nothing()) is None


def test_agents_are_created_by_key_on_first_message(echo_rt: Runtime) -> None:
    async def both() -> list[sa.Pong]:
        return await asyncio.gather(*(echo_rt.send(AgentId("echo", key), sa.Ping(text=key)) for key in ("a", "b")))

    assert [reply.by for reply in asyncio.run(both())] == ["echo/a", "echo/b"]


# --- errors ---------------------------------------------------------------------------------------


def test_send_to_an_unregistered_agent_type_raises_unknown_agent_type_naming_it(echo_rt: Runtime) -> None:
    error = send_raises(echo_rt, AgentId("ghost", "g1"), sa.Ping(text="anyone?"))
    assert isinstance(error, UnknownAgentType)
    assert "'ghost'" in str(error)
    assert "echo" in str(error)  # and lists what is registered


def test_a_message_type_the_agent_has_no_handler_for_raises_unknown_message_type(echo_rt: Runtime) -> None:
    echo_rt.register_message(sa.Unhandled)
    error = send_raises(echo_rt, ECHO, sa.Unhandled(value=1))
    assert isinstance(error, UnknownMessageType)
    assert "Unhandled" in str(error)
    assert "echo/e1" in str(error)


def test_an_unregistered_message_type_raises_unknown_message_type_before_sending(echo_rt: Runtime) -> None:
    error = send_raises(echo_rt, ECHO, sa.Stray(value=1))
    assert isinstance(error, UnknownMessageType)
    assert "'Stray'" in str(error)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the driver dumps the bad value as is
def test_an_invalid_payload_raises_invalid_message_naming_the_field(echo_rt: Runtime) -> None:
    bad = sa.Ping.model_construct(text=["not", "a", "string"])
    error = send_raises(echo_rt, ECHO, bad)
    assert isinstance(error, InvalidMessage)
    assert "Ping" in str(error)
    assert "text" in str(error)


def test_a_raising_handler_gives_handler_error_with_remote_type_message_and_traceback(echo_rt: Runtime) -> None:
    error = send_raises(echo_rt, ECHO, sa.Boom(text="on purpose"))
    assert isinstance(error, HandlerError)
    assert error.remote_type == "ValueError"
    assert "kaboom: on purpose" in str(error)
    assert "explode_on_purpose" in error.remote_traceback
    assert "Traceback" in error.remote_traceback


def test_a_handler_refusing_with_a_runtime_error_reaches_the_caller_as_that_error(echo_rt: Runtime) -> None:
    error = send_raises(echo_rt, ECHO, sa.Refuse(text="not you"))
    assert type(error) is NotAuthorized
    assert str(error) == "refused: not you"


def test_the_agent_keeps_working_after_its_handler_raised(echo_rt: Runtime) -> None:
    send_raises(echo_rt, ECHO, sa.Boom(text="once"))
    assert send(echo_rt, ECHO, sa.Ping(text="still here")).text == "still here"


def test_a_handler_that_never_answers_raises_delivery_timeout(echo_rt: Runtime) -> None:
    send(echo_rt, ECHO, sa.Ping(text="warm up"))  # the host is up: the timeout is the handler's
    started = time.monotonic()
    error = send_raises(echo_rt, ECHO, sa.Hang(), timeout=0.5)
    elapsed = time.monotonic() - started
    assert isinstance(error, DeliveryTimeout)
    assert "echo/e1" in str(error)
    assert 0.4 < elapsed < 3.0


def test_a_reply_of_an_unregistered_type_gives_the_caller_an_error_not_a_timeout(echo_rt: Runtime) -> None:
    send(echo_rt, ECHO, sa.Ping(text="warm up"))
    error = send_raises(echo_rt, ECHO, sa.Untyped(), timeout=1.5)
    assert not isinstance(error, DeliveryTimeout), error
    assert "Stray" in str(error)


def test_messages_queued_behind_a_failed_reply_are_still_handled(echo_rt: Runtime) -> None:
    send(echo_rt, ECHO, sa.Ping(text="warm up"))

    async def burst() -> list[Any]:
        return await asyncio.gather(
            echo_rt.send(ECHO, sa.Untyped(), timeout=1.5),
            echo_rt.send(ECHO, sa.Ping(text="queued behind"), timeout=1.5),
            return_exceptions=True,
        )

    _, queued = asyncio.run(burst())
    assert isinstance(queued, sa.Pong), queued


# --- serial mailboxes and concurrency -------------------------------------------------------------


def test_concurrent_sends_to_one_agent_never_lose_an_update(runtime: Runtime) -> None:
    runtime.register("counter", sa.Counter, placement=Sharded(1))
    counter = AgentId("counter", "c1")

    async def thirty() -> list[sa.Total]:
        return await asyncio.gather(*(runtime.send(counter, sa.Add(amount=1), timeout=20) for _ in range(30)))

    totals = asyncio.run(thirty())
    assert sorted(total.value for total in totals) == list(range(1, 31))
    assert runtime.inspect(counter, "get_count") == 30


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_two_agents_on_one_host_run_concurrently_while_each_stays_serial(runtime: Runtime) -> None:
    runtime.register("timeline", sa.Timeline, placement=Sharded(1))
    first, second = AgentId("timeline", "a"), AgentId("timeline", "b")
    send(runtime, first, sa.Slow(seconds=0))  # start the host before timing anything

    async def four() -> None:
        await asyncio.gather(*(runtime.send(agent, sa.Slow(seconds=0.25)) for agent in (first, second) * 2))

    asyncio.run(four())
    spans_a = runtime.inspect(first, "get_spans")[1:]
    spans_b = runtime.inspect(second, "get_spans")
    assert len(spans_a) == len(spans_b) == 2
    assert not _overlap(*spans_a), spans_a  # one agent's handlers never overlap
    assert not _overlap(*spans_b), spans_b
    assert any(_overlap(a, b) for a in spans_a for b in spans_b), (spans_a, spans_b)  # two agents do
    assert len(runtime.stats()["hosts"]) == 1


def test_an_interleaving_handler_runs_while_another_is_suspended(runtime: Runtime) -> None:
    runtime.register("latch", sa.Latch, placement=Sharded(1))
    latch = AgentId("latch", "l1")

    async def wait_then_open() -> tuple[sa.Opened, sa.Done]:
        waiting = asyncio.ensure_future(runtime.send(latch, sa.Wait(), timeout=10))
        deadline = time.monotonic() + 10
        while await asyncio.to_thread(runtime.inspect, latch, "get_waiting") != 1:  # Wait is suspended
            assert time.monotonic() < deadline, "Wait never started"
            await asyncio.sleep(0.02)
        opened = await runtime.send(latch, sa.Open(), timeout=5)
        return opened, await waiting

    opened, done = asyncio.run(wait_then_open())
    assert opened == sa.Opened(waiting=1)  # Open ran while Wait was suspended in the same agent
    assert isinstance(done, sa.Done)


def test_a_serial_handler_blocks_the_mailbox_while_suspended(runtime: Runtime) -> None:
    runtime.register("latch", sa.SerialLatch, placement=Sharded(1))
    send(runtime, AgentId("latch", "warm"), sa.Open())  # the host is up before timing anything
    latch = AgentId("latch", "l1")

    async def wait_then_open() -> BaseException | None:
        waiting = asyncio.ensure_future(runtime.send(latch, sa.Wait(), timeout=5))
        await asyncio.sleep(0.2)
        try:
            await runtime.send(latch, sa.Open(), timeout=0.5)
        except DeliveryTimeout as exc:
            return exc
        finally:
            waiting.cancel()
        return None

    assert isinstance(asyncio.run(wait_then_open()), DeliveryTimeout)


# --- agents talking to agents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "placement",
    [Sharded(1, pool="shared"), None],
    ids=["same-host-in-process", "separate-hosts-via-bus"],
)
def test_an_agent_can_send_to_another_and_get_the_reply(runtime: Runtime, placement: Sharded | None) -> None:
    runtime.register("echo", sa.Echo, placement=placement)
    runtime.register("relayer", sa.Relayer, placement=placement)
    reply = send(runtime, AgentId("relayer", "r1"), sa.Relay(to_key="e7", text="via relay"))
    assert reply == sa.Pong(text="via relay", by="echo/e7")
    assert len(runtime.stats()["hosts"]) == (1 if placement else 2)


# --- drivers and registration ---------------------------------------------------------------------


SECOND_DRIVER = textwrap.dedent(
    """
    import asyncio, os
    from cluster import AgentId, Runtime
    from sample_agents import Add

    rt = Runtime.connect(namespace=os.environ["RAYBUS_TEST_NAMESPACE"])  # the credential: RAYBUS_CREDENTIAL
    counter = AgentId("counter", "shared")
    print("PRINCIPAL", rt.principal)
    print("SEEN", rt.inspect(counter, "get_count"))
    print("TOTAL", asyncio.run(rt.send(counter, Add(amount=10), timeout=20)).value)
    rt.shutdown()
    """
)


def test_a_second_driver_process_with_the_admin_credential_in_its_environment_reaches_the_same_agent(
        runtime: Runtime, ray_session: Any) -> None:
    runtime.register("counter", "sample_agents:Counter", placement=Sharded(1))
    counter = AgentId("counter", "shared")
    for _ in range(3):
        send(runtime, counter, sa.Add(amount=1))
    env = os.environ | {
        "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address,
        "RAYBUS_TEST_NAMESPACE": runtime.namespace,
        "RAYBUS_CREDENTIAL": runtime.credential,  # as `ray job submit` would pass it
        "PYTHONPATH": os.pathsep.join(filter(None, [TESTS_DIR, os.environ.get("PYTHONPATH")])),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    done = subprocess.run([sys.executable, "-c", SECOND_DRIVER], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines()
                 if line.startswith(("PRINCIPAL", "SEEN", "TOTAL")))
    assert lines == {"PRINCIPAL": "admin", "SEEN": "3", "TOTAL": "13"}, done.stdout
    assert runtime.inspect(counter, "get_count") == 13  # and the first driver sees the second's update


def test_agents_lists_activated_agents(echo_rt: Runtime) -> None:
    assert echo_rt.agents() == []
    send(echo_rt, AgentId("echo", "x"), sa.Ping(text="1"))
    send(echo_rt, AgentId("echo", "y"), sa.Ping(text="2"))
    assert echo_rt.agents() == ["echo/x", "echo/y"]


def test_register_accepts_an_import_path(runtime: Runtime) -> None:
    runtime.register("counter", "sample_agents:Counter", placement=Sharded(1))
    assert send(runtime, AgentId("counter", "c1"), sa.Add(amount=5)) == sa.Total(value=5)


def test_registering_the_same_type_again_is_a_no_op(echo_rt: Runtime) -> None:
    echo_rt.register("echo", "sample_agents:Echo", placement=Sharded(1))
    assert send(echo_rt, ECHO, sa.Ping(text="again")).by == "echo/e1"


def test_registering_another_definition_under_a_taken_name_raises(echo_rt: Runtime) -> None:
    with pytest.raises(DuplicateRegistration, match="'echo'"):
        echo_rt.register("echo", sa.Counter, placement=Sharded(1))


def test_settle_names_what_is_still_held_and_returns_once_nothing_is(runtime: Runtime) -> None:
    runtime.register("counter", sa.Counter, placement=Sharded(1))
    counter = AgentId("counter", "c1")
    runtime.inspect(counter, "get_count")
    host = ray.get(runtime._bus.host_of.remote(str(counter)))
    slow = Call("m-slow", "t-1", None, str(counter), "Add", {"amount": 1, "pause": 3.0}, time.time() + 60, "")
    ray.get(host.deliver.remote(pack([slow])))
    with pytest.raises(NotSettled, match=r"pool:counter\.0: .*taken 1"):
        runtime.settle(timeout=0.5)
    runtime.settle(timeout=30.0)
    assert runtime.inspect(counter, "get_count") == 1


def test_inspect_all_answers_for_each_agent_in_order_over_every_host(runtime: Runtime) -> None:
    runtime.register("counter", sa.Counter, placement=Sharded(3))
    counters = [AgentId("counter", f"c{k}") for k in range(30)]
    asyncio.run(runtime.send(counters[7], sa.Add(amount=7, pause=0.0), timeout=30.0))
    assert runtime.inspect_all(counters, "get_count") == [7 if k == 7 else 0 for k in range(30)]
    hosts = runtime.stats()["hosts"]
    assert len(hosts) == 3 and sum(host["agents"] for host in hosts.values()) == 30  # each asked once, all active


def test_questions_asked_while_the_bus_restarts_are_answered_once_it_is_back(ray_session: Any, tmp_path: Path) -> None:
    rt = Runtime.connect(namespace=f"t{uuid4().hex[:10]}", state=str(tmp_path / "state"))  # its admin outlives
    try:  # a bus restart
        rt.register("counter", sa.Counter, placement=Sharded(1))
        counter = AgentId("counter", "c")
        send(rt, counter, sa.Add(amount=2))

        ray.kill(rt._bus, no_restart=False)  # a lost node: the driver's next questions meet a restarting shard

        assert rt.inspect(counter, "get_count") == 2
        assert rt.where(counter) == "pool:counter.0" and rt.agents() == ["counter/c"]
        assert rt.stats()["bus"]["restarts"] == 1 and rt.dead_letters() == []
        assert rt.settle(30)["bus"]["restarts"] == 1
    finally:
        rt.shutdown(destroy=True)


def test_a_change_asked_of_a_bus_that_is_gone_is_not_asked_again_and_says_it_may_have_been_done(
        runtime: Runtime) -> None:
    runtime.register("counter", sa.Counter, placement=Sharded(1))
    counter = AgentId("counter", "c")
    send(runtime, counter, sa.Add(amount=1))
    bus = runtime._bus
    try:
        ray.kill(bus, no_restart=True)  # gone for good: every call of it fails, as one in flight in a restart may

        with pytest.raises(BusUnavailable, match="move may or may not have been done: ask again once it is back"):
            runtime.move(counter, "pool:elsewhere.0")
    finally:  # the namespace's host outlives its bus: stopped here, as ``destroy`` would have
        ray.kill(ray.get_actor(host_actor_name("pool:counter.0"), namespace=runtime.namespace), no_restart=True)
        runtime._client.close()
        runtime._buses.clear()


def test_without_a_state_a_restarted_bus_knows_no_credential_and_refuses_the_admin(runtime: Runtime) -> None:
    runtime.register("counter", sa.Counter, placement=Sharded(1))
    counter = AgentId("counter", "c")
    send(runtime, counter, sa.Add(amount=1))
    try:
        ray.kill(runtime._bus, no_restart=False)

        with pytest.raises(NotAuthorized, match="does not know this credential"):
            runtime.inspect(counter, "get_count")
    finally:  # nobody may destroy the namespace now: its bus and host are stopped here
        ray.kill(ray.get_actor(host_actor_name("pool:counter.0"), namespace=runtime.namespace), no_restart=True)
        ray.kill(runtime._bus, no_restart=True)
        runtime._client.close()
        runtime._buses.clear()
