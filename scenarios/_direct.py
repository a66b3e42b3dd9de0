"""The ceiling of the PTO work: the app's handlers called directly in one process, no runtime — no
mailboxes, no Ray, no bus — but every message and reply still copied through pydantic as raybus copies it
(``model_dump`` at the sender, ``model_validate`` at the recipient). What any runtime adds is on top of this.

``DirectPto`` is the agents' port: a handler's ``ctx.send`` awaits the recipient's handler, ``ctx.publish``
calls each subscriber's in turn (a subscriber's refusal is counted, never raised to the publisher, as a
runtime makes it a dead letter)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from actors.app import pto_config, pto_subscriptions
from actors.org import Org
from actors.policy import PTO_SERVICE
from cluster import AgentId, MemberSubscription, MessageContext, TopicId, TypeSubscription

from ._in_process import InProcessApp, agent_ids, handle, started

__all__ = ["DirectPto"]


def _copied(message: BaseModel) -> BaseModel:
    return type(message).model_validate(message.model_dump())


class DirectPto(InProcessApp):
    def __init__(self, org: Org, hr_dir: str) -> None:
        super().__init__()
        self.org = org
        self.config = pto_config(org, hr_dir, "direct")
        self.refused_copies = 0
        self._ids = itertools.count()
        self._by_type: dict[str, list[str]] = defaultdict(list)  # topic type → agent types
        self._members: dict[TopicId, list[AgentId]] = defaultdict(list)
        for subscription in pto_subscriptions(org):
            if isinstance(subscription, TypeSubscription):
                self._by_type[subscription.topic_type].append(subscription.agent_type)
            elif isinstance(subscription, MemberSubscription):
                self._members[subscription.topic].append(subscription.agent_id)

    async def start(self) -> None:
        """Every agent built and started before the clock, as the load scenarios warm theirs up."""
        for agent_id in agent_ids(self.org):
            self.agents[agent_id] = await started(agent_id, self.config)

    async def ask(self, recipient: AgentId, message: BaseModel) -> Any:
        """A driver's send (no sender), as the PTO service, as the load scenarios send."""
        return await self.send(None, recipient, message)

    # --- the port of every agent ----------------------------------------------------------------
    async def send(self, sender: str | None, recipient: AgentId, message: BaseModel, trace_id: str = "",
                   timeout: float | None = None) -> Any:
        context = MessageContext(AgentId.from_str(sender) if sender else None, None, f"d{next(self._ids)}",
                                 trace_id, self, str(recipient), None if sender else PTO_SERVICE)
        reply = await handle(self.agents[recipient], _copied(message), context)
        return None if reply is None else _copied(reply)

    async def publish(self, sender: str | None, topic: TopicId, message: BaseModel, trace_id: str = "") -> None:
        recipients = [AgentId(agent_type, topic.source) for agent_type in self._by_type[topic.type]]
        recipients += self._members[topic]
        publisher = AgentId.from_str(sender) if sender else None
        for recipient in dict.fromkeys(recipients):  # each once, never the publisher
            if recipient == publisher:
                continue
            context = MessageContext(publisher, topic, f"d{next(self._ids)}", trace_id, self, str(recipient))
            try:
                await handle(self.agents[recipient], _copied(message), context)
            except Exception:
                self.refused_copies += 1

    async def checkpoint(self, agent_id: str) -> None:
        """Nothing to store: the ceiling keeps its agents in memory."""
