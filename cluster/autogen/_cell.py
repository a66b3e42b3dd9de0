"""An AutoGen agent at work, wherever it runs (a raybus host, or the registering process): it is built
by its factory inside AutoGen's instantiation context, handles deliveries with AutoGen's
``MessageContext`` (the sender as raybus stamped it, a cancellation token the caller can cancel), and
answers the runtime's state and metadata operations."""

from __future__ import annotations

import inspect
import json
import uuid
from collections import deque
from typing import Any

from autogen_core import AgentId as AgAgentId
from autogen_core import (
    AgentInstantiationContext,
    BaseAgent,
    CancellationToken,
    MessageContext,
    MessageHandlerContext,
)
from autogen_core import TopicId as AgTopicId
from autogen_core.exceptions import MessageDroppedException

from ._carriers import AutogenDelivery, AutogenOutcome
from ._codec import Codec, decode, failure
from ._interventions import respond

__all__ = ["AgentCell", "build_agent"]


async def build_agent(factory: Any, expected_class: type | None, runtime: Any, agent_id: AgAgentId) -> Any:
    """Call ``factory`` as AutoGen does, with the runtime and id in ``AgentInstantiationContext``."""
    with AgentInstantiationContext.populate_context((runtime, agent_id)):
        two_arguments = len(inspect.signature(factory).parameters) == 2  # AutoGen's deprecated form
        agent = factory(runtime, agent_id) if two_arguments else factory()
        if inspect.isawaitable(agent):
            agent = await agent
    if expected_class is not None and not isinstance(agent, expected_class):
        raise ValueError(f"Factory registered using the wrong type: expected {expected_class.__name__}, "
                         f"got {type(agent).__name__}")
    return agent


class AgentCell:
    def __init__(self, agent: Any, codec: Codec, interventions: list[Any]) -> None:
        self.agent = agent
        self.codec = codec
        self.interventions = interventions
        self.tokens: dict[str, CancellationToken] = {}
        self.cancelled_early: deque[str] = deque(maxlen=1024)  # a cancel that overtook its message

    @property
    def keeps_state(self) -> bool:
        return type(self.agent).save_state is not BaseAgent.save_state

    async def deliver(self, delivery: AutogenDelivery, sender: AgAgentId | None) -> AutogenOutcome:
        """Run the handler. A send's exception comes back in the outcome; a publish's is raised."""
        token = CancellationToken()
        if delivery.message_id in self.cancelled_early:
            token.cancel()
        topic = None if delivery.rpc else AgTopicId(delivery.topic_type, delivery.topic_source)
        context = MessageContext(sender=sender, topic_id=topic, is_rpc=delivery.rpc, cancellation_token=token,
                                 message_id=delivery.message_id)
        self.tokens[delivery.message_id] = token
        try:
            message = decode(delivery)
            with MessageHandlerContext.populate_context(self.agent.id):
                value = await self.agent.on_message(message, ctx=context)
        except BaseException as exc:
            if not delivery.rpc:
                raise
            return failure(exc)
        finally:
            self.tokens.pop(delivery.message_id, None)
        if not delivery.rpc:
            return AutogenOutcome()
        try:
            value = await respond(self.interventions, value, self.agent.id, sender)
        except MessageDroppedException:
            return AutogenOutcome(dropped=True)
        except Exception as exc:
            return failure(exc)
        if value is None:
            return AutogenOutcome()
        return AutogenOutcome(value=self.codec.encode(value, str(uuid.uuid4()), True))

    def cancel(self, message_id: str) -> None:
        token = self.tokens.get(message_id)
        if token is None:
            self.cancelled_early.append(message_id)
        else:
            token.cancel()

    async def control(self, op: str, state: str = "") -> str:
        if op == "save":
            return json.dumps(dict(await self.agent.save_state()))
        if op == "load":
            await self.agent.load_state(json.loads(state) if state else {})
        elif op == "metadata":
            return json.dumps(dict(self.agent.metadata))
        elif op == "close":
            await self.agent.close()
        elif op != "touch":
            raise ValueError(f"unknown agent operation {op!r}")
        return ""
