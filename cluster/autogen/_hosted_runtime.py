"""The ``AgentRuntime`` an AutoGen agent on a raybus host sees as ``self.runtime``: it sends and publishes
as that agent through the raybus context of the handler at work, so raybus stamps the true sender."""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Any

from autogen_core import Agent as AgAgent
from autogen_core import AgentId as AgAgentId
from autogen_core import AgentRuntime, AgentType, CancellationToken, MessageSerializer, Subscription
from autogen_core import TopicId as AgTopicId
from autogen_core.exceptions import NotAccessibleError
from pydantic import BaseModel

from cluster import AgentId, MessageContext, TopicId

from ._codec import Codec
from ._messaging import Messenger
from ._names import agent_id_of, to_raybus_agent
from ._spec import TypeSpec

__all__ = ["CURRENT", "LIVE", "HostedRuntime"]

CURRENT: contextvars.ContextVar[MessageContext | None] = contextvars.ContextVar("raybus_autogen_ctx", default=None)
LIVE: dict[str, Any] = {}  # raybus agent id -> the AutoGen agent running in this process


class _ContextPort:
    """Sends through the raybus context of the handler at work (or the last one, outside a handler)."""

    def __init__(self) -> None:
        self.last: MessageContext | None = None

    def _ctx(self) -> MessageContext:
        ctx = CURRENT.get() or self.last
        if ctx is None:
            raise RuntimeError("an agent on a raybus host sends from its handlers (or after its first message)")
        return ctx

    async def call(self, sender: AgAgentId | None, to: AgentId, carrier: BaseModel, timeout: float) -> Any:
        return await self._ctx().send(to, carrier, timeout=timeout)

    async def publish(self, sender: AgAgentId | None, topic: TopicId, carrier: BaseModel) -> None:
        await self._ctx().publish(topic, carrier)


class HostedRuntime(AgentRuntime):
    def __init__(self, spec: TypeSpec, codec: Codec) -> None:
        self.spec = spec
        self.port = _ContextPort()
        self.messenger = Messenger(self.port, codec, spec.namespace, spec.send_timeout)

    async def send_message(self, message: Any, recipient: AgAgentId, *, sender: AgAgentId | None = None,
                           cancellation_token: CancellationToken | None = None, message_id: str | None = None) -> Any:
        return await self.messenger.send_message(message, recipient, sender=sender,
                                                 cancellation_token=cancellation_token, message_id=message_id)

    async def publish_message(self, message: Any, topic_id: AgTopicId, *, sender: AgAgentId | None = None,
                              cancellation_token: CancellationToken | None = None,
                              message_id: str | None = None) -> None:
        await self.messenger.publish_message(message, topic_id, sender=sender,
                                             cancellation_token=cancellation_token, message_id=message_id)

    async def register_factory(self, *args: Any, **kwargs: Any) -> AgentType:
        raise NotImplementedError("register agent types with the RaybusAgentRuntime of the driver")

    async def register_agent_instance(self, *args: Any, **kwargs: Any) -> AgAgentId:
        raise NotImplementedError("register agent instances with the RaybusAgentRuntime of the driver")

    async def try_get_underlying_agent_instance(self, id: AgAgentId, type: type = AgAgent) -> Any:
        agent = LIVE.get(str(to_raybus_agent(id)))
        if agent is None:
            raise NotAccessibleError(f"agent {id} does not run in this process")
        if not isinstance(agent, type):
            raise TypeError(f"Agent with name {id.type} is not of type {type.__name__}")
        return agent

    async def get(self, id_or_type: AgAgentId | AgentType | str, /, key: str = "default", *,
                  lazy: bool = True) -> AgAgentId:
        agent_id = agent_id_of(id_or_type, key)
        if not lazy:
            await self.messenger.control(agent_id, "touch")
        return agent_id

    async def save_state(self) -> dict[str, Any]:
        raise NotImplementedError("save the runtime's state from the driver")

    async def load_state(self, state: Any) -> None:
        raise NotImplementedError("load the runtime's state from the driver")

    async def agent_metadata(self, agent: AgAgentId) -> Any:
        return await self.messenger.control(agent, "metadata")

    async def agent_save_state(self, agent: AgAgentId) -> Any:
        return await self.messenger.control(agent, "save")

    async def agent_load_state(self, agent: AgAgentId, state: Any) -> None:
        await self.messenger.control(agent, "load", state)

    async def add_subscription(self, subscription: Subscription) -> None:
        await self.messenger.add_subscription(subscription)

    async def remove_subscription(self, id: str) -> None:
        await self.messenger.remove_subscription(id)

    def add_message_serializer(self, serializer: MessageSerializer[Any] | Sequence[MessageSerializer[Any]]) -> None:
        self.messenger.codec.add(serializer)
