"""The PTO app on AutoGen core's ``SingleThreadedAgentRuntime`` (autogen-core 0.7.5): the same agents
(``actors/``), each inside an AutoGen agent that hands it its messages and is its port — its sends are
AutoGen's ``send_message``, its publishes AutoGen's ``publish_message``. AutoGen passes messages by
reference and runs each delivery as a task of its own (every handler interleaves); it has no policy,
durability or process boundary. Subscriptions are the app's own: the department's type subscription, and
each task member as a subscription of one topic to one agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autogen_core import AgentId as AutogenId
from autogen_core import AgentInstantiationContext, BaseAgent, SingleThreadedAgentRuntime
from autogen_core import MessageContext as AutogenContext
from autogen_core import TopicId as AutogenTopic
from autogen_core import TypeSubscription as AutogenTypeSubscription
from pydantic import BaseModel

from actors.app import AGENT_TYPES, pto_config, pto_subscriptions
from actors.org import Org
from actors.policy import PTO_SERVICE
from cluster import Agent, AgentId, MemberSubscription, MessageContext, TopicId, TypeSubscription

from ._in_process import InProcessApp, agent_ids, build, handle

__all__ = ["AutogenPto"]


class PtoOnAutogen(BaseAgent):
    """One PTO agent on AutoGen: its messages go to its handlers, and it is the port they talk through."""

    def __init__(self, inner: Agent) -> None:
        super().__init__(f"the PTO {inner.id.type} agent")
        self.inner = inner

    async def on_message_impl(self, message: Any, ctx: AutogenContext) -> Any:
        sender = None if ctx.sender is None else AgentId(ctx.sender.type, ctx.sender.key)
        topic = None if ctx.topic_id is None else TopicId(ctx.topic_id.type, ctx.topic_id.source)
        principal = PTO_SERVICE if sender is None else None  # the driver asks as the PTO service, as on raybus
        return await handle(self.inner, message, MessageContext(sender, topic, ctx.message_id, "", self,
                                                                str(self.inner.id), principal))

    async def send(self, sender: str | None, recipient: AgentId, message: BaseModel, trace_id: str,
                   timeout: float | None) -> Any:
        return await self.send_message(message, AutogenId(recipient.type, recipient.key))

    async def publish(self, sender: str | None, topic: TopicId, message: BaseModel, trace_id: str) -> None:
        await self.publish_message(message, AutogenTopic(topic.type, topic.source))

    async def checkpoint(self, agent_id: str) -> None:
        """AutoGen's runtime keeps agents in memory: nothing to store."""


@dataclass(frozen=True)
class _Member:
    """A raybus member subscription as an AutoGen subscription: one topic, one agent."""

    topic: AutogenTopic
    agent: AutogenId

    @property
    def id(self) -> str:
        return f"member:{self.topic}:{self.agent}"

    def is_match(self, topic_id: AutogenTopic) -> bool:
        return topic_id == self.topic

    def map_to_agent(self, topic_id: AutogenTopic) -> AutogenId:
        return self.agent


class AutogenPto(InProcessApp):
    def __init__(self, org: Org, hr_dir: str) -> None:
        super().__init__()
        self.org = org
        self.config = pto_config(org, hr_dir, "autogen")
        self.runtime = SingleThreadedAgentRuntime()

    async def start(self) -> None:
        """Register the six types and the app's subscriptions, start, and build every agent before the clock."""
        for agent_type in AGENT_TYPES:
            await PtoOnAutogen.register(self.runtime, agent_type, self._built, skip_direct_message_subscription=True)
        for subscription in pto_subscriptions(self.org):
            if isinstance(subscription, TypeSubscription):
                await self.runtime.add_subscription(AutogenTypeSubscription(subscription.topic_type,
                                                                            subscription.agent_type))
            elif isinstance(subscription, MemberSubscription):
                topic, agent = subscription.topic, subscription.agent_id
                await self.runtime.add_subscription(_Member(AutogenTopic(topic.type, topic.source),
                                                            AutogenId(agent.type, agent.key)))
        self.runtime.start()
        for agent_id in agent_ids(self.org):
            await self.runtime.get(AutogenId(agent_id.type, agent_id.key), lazy=False)

    async def _built(self) -> PtoOnAutogen:
        here = AgentInstantiationContext.current_agent_id()
        agent = PtoOnAutogen(build(AgentId(here.type, here.key), self.config))
        await agent.inner.on_start()
        self.agents[agent.inner.id] = agent.inner
        return agent

    async def send(self, recipient: AgentId, message: BaseModel) -> Any:
        """A driver's send (no sender)."""
        return await self.runtime.send_message(message, AutogenId(recipient.type, recipient.key))

    async def stop(self) -> None:
        await self.runtime.stop_when_idle()
