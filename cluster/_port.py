"""Port: what an agent's context needs of the process it runs in — a way to send and publish as itself,
and to store its state before it goes on.
A host is the port of its agents (``Endpoint.send`` / ``Endpoint.publish``)."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from ._agent_id import AgentId
from ._topic import TopicId

__all__ = ["Port"]


class Port(Protocol):
    async def send(self, sender: str | None, recipient: AgentId, message: BaseModel, trace_id: str,
                   timeout: float | None) -> Any: ...

    async def publish(self, sender: str | None, topic: TopicId, message: BaseModel, trace_id: str) -> None: ...

    async def checkpoint(self, agent_id: str) -> None: ...
