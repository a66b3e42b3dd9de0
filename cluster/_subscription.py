"""Subscriptions: who receives a publish on a topic."""

from __future__ import annotations

from dataclasses import dataclass

from ._agent_id import AgentId
from ._ids import check_part
from ._topic import TopicId

__all__ = ["MemberSubscription", "Subscription", "TypeSubscription"]


@dataclass(frozen=True, slots=True)
class TypeSubscription:
    """A publish on ``TopicId(topic_type, s)`` goes to ``AgentId(agent_type, s)``."""

    topic_type: str
    agent_type: str

    def __post_init__(self) -> None:
        check_part("subscription", "topic_type", self.topic_type)
        check_part("subscription", "agent_type", self.agent_type)


@dataclass(frozen=True, slots=True)
class MemberSubscription:
    """One agent joins one topic explicitly (an employee in two teams joins both team topics)."""

    topic: TopicId
    agent_id: AgentId


Subscription = TypeSubscription | MemberSubscription
