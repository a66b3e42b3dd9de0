"""The PTO agents in one process with no raybus runtime: built as a host builds them (class by import path,
``id`` and ``config`` set, ``on_start`` awaited), a message handed to the handler its type names. The
direct-call ceiling (``_direct.py``) and AutoGen's runtime (``_autogen_pto.py``) both run the app this way."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from actors.app import AGENT_TYPES
from actors.org import Org
from cluster import Agent, AgentId, MessageContext

__all__ = ["InProcessApp", "agent_ids", "build", "handle", "started"]


def agent_ids(org: Org) -> list[AgentId]:
    """Every agent of the app, as the load scenarios warm them up."""
    by_department = [AgentId(kind, d) for d in org.departments for kind in ("hr", "dates", "notifier")]
    return by_department + [AgentId("team", t) for t in org.teams] + [
        AgentId("manager", m) for m in org.managers] + [AgentId("employee", e) for e in org.employees]


def build(agent_id: AgentId, config: dict[str, Any]) -> Agent:
    module, _, name = AGENT_TYPES[agent_id.type].partition(":")
    agent = getattr(importlib.import_module(module), name)()
    agent.id, agent.config = agent_id, config
    return agent


async def started(agent_id: AgentId, config: dict[str, Any]) -> Agent:
    agent = build(agent_id, config)
    await agent.on_start()
    return agent


async def handle(agent: Agent, message: BaseModel, context: MessageContext) -> Any:
    """Run the agent's handler for ``message`` (by its type's name, as raybus picks it)."""
    return await getattr(agent, agent.handlers[type(message).__name__].method)(message, context)


class InProcessApp:
    """The app's agents of one process, by id, and what the invariant checker asks of them
    (``actors.invariants.collect`` asks ``inspect`` as it asks a raybus ``Runtime``)."""

    def __init__(self) -> None:
        self.agents: dict[AgentId, Agent] = {}

    def inspect(self, agent_id: AgentId, method: str, *args: Any) -> Any:
        account = getattr(self.agents[agent_id], method)(*args)
        if not inspect.iscoroutine(account):
            return account
        try:  # an hr snapshot is a coroutine, which on local SQLite ledgers never waits: run it to its end here
            account.send(None)
        except StopIteration as done:
            return done.value
        account.close()
        raise RuntimeError(f"{agent_id}.{method} waited: an in-process account must finish at once")

    def inspect_all(self, agent_ids: Iterable[AgentId], method: str, *args: Any, keep: bool = True) -> list[Any]:
        """``keep``: as ``Runtime.inspect_all`` takes it; here every agent lives as long as the app."""
        return [self.inspect(agent_id, method, *args) for agent_id in agent_ids]
