"""Port: what an agent's context needs of the process it runs in — a way to send and publish as itself,
and to store its state before it goes on.
A host is the port of its agents (``Endpoint.send`` / ``Endpoint.publish``)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol

from pydantic import BaseModel

from ._agent_id import AgentId
from ._topic import TopicId

__all__ = ["CURRENT_AGENT", "Port"]

# The agent whose handler (or on_start) is running in this task, set by the host: an agent's messages carry
# this id as their sender, never one that handler code passes (tasks a handler starts inherit it).
CURRENT_AGENT: ContextVar[str | None] = ContextVar("raybus_current_agent", default=None)


class Port(Protocol):
    async def send(self, sender: str | None, recipient: AgentId, message: BaseModel, trace_id: str,
                   timeout: float | None) -> Any: ...

    async def publish(self, sender: str | None, topic: TopicId, message: BaseModel, trace_id: str) -> None: ...

    async def checkpoint(self, agent_id: str) -> None: ...
