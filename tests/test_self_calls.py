"""An actor's calls to itself skip Ray's tracing wrapper; calls through Ray keep it."""

from __future__ import annotations

import asyncio
from functools import wraps
from typing import Any

import ray
import sample_agents as sa

from cluster import AgentId, Runtime
from cluster._self_calls import unwrapped_self_calls
from cluster.constants import BUS_NAME, host_actor_name


def traced(method: Any) -> Any:
    """What Ray's ``_inject_tracing_into_class`` puts on an actor class for each method."""

    @wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.wrapped_calls += 1
        return method(self, *args, **kwargs)

    wrapper.__ray_tracing_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


class Plain:
    def __init__(self) -> None:
        self.wrapped_calls = 0

    def outer(self) -> int:
        return self.inner() + 1

    def inner(self) -> int:
        return 1


class AsRayMakesIt(Plain):
    outer = traced(Plain.outer)
    inner = traced(Plain.inner)


def test_an_actors_own_calls_find_its_methods_as_written() -> None:
    actor = AsRayMakesIt()
    unwrapped_self_calls(actor)
    assert actor.outer() == 2
    assert actor.wrapped_calls == 0


def test_a_call_through_the_class_keeps_the_wrapper() -> None:
    actor = AsRayMakesIt()
    unwrapped_self_calls(actor)
    AsRayMakesIt.outer(actor)  # as Ray's executor calls a remote method
    assert actor.wrapped_calls == 1  # the wrapper once; its own call of inner went past it


def test_a_class_ray_did_not_wrap_is_left_as_it_is() -> None:
    actor = Plain()
    unwrapped_self_calls(actor)
    assert "outer" not in vars(actor)


def wrapped_on_instance(names: list[str]) -> Any:
    """A closure for ``__ray_call__``: which of ``names`` the actor itself would call through the wrapper."""
    return lambda actor: [name for name in names if getattr(getattr(actor, name), "__ray_tracing_wrapped__", False)]


def test_a_host_routes_to_itself_past_the_tracing_wrapper(runtime: Runtime) -> None:
    runtime.register("echo", "sample_agents:Echo", placement=sa.pinned("echo"))
    asyncio.run(runtime.send(AgentId("echo", "a"), sa.Ping(text="hi"), timeout=30))  # the host is up and works
    host = ray.get_actor(host_actor_name(runtime.where(AgentId("echo", "a"))), namespace=runtime.namespace)
    assert ray.get(host.__ray_call__.remote(wrapped_on_instance(["route", "accept_answer", "send", "deliver"]))) == []


def test_the_bus_routes_past_the_tracing_wrapper(runtime: Runtime) -> None:
    bus = ray.get_actor(BUS_NAME, namespace=runtime.namespace)
    assert ray.get(bus.__ray_call__.remote(wrapped_on_instance(["route", "_route_call", "_take_answer"]))) == []
