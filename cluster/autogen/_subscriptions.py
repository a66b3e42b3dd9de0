"""AutoGen subscriptions as raybus type subscriptions.

``TypeSubscription(t, a)`` (and ``DefaultSubscription``) is raybus's ``TypeSubscription(enc(t), a)``.
raybus has no prefix subscription: ``TypePrefixSubscription(p, a)`` becomes one raybus type subscription
for every topic type starting with ``p`` that has been published on (the directory sees every topic type
before its first publish). The book computes what raybus should hold; the directory applies the difference."""

from __future__ import annotations

from dataclasses import dataclass

from autogen_core import AgentId as AgAgentId
from autogen_core import Subscription, TypePrefixSubscription
from autogen_core import TypeSubscription as AgTypeSubscription

__all__ = ["Entry", "SubscriptionBook", "entry_of"]


@dataclass(frozen=True)
class Entry:
    id: str
    prefix: bool
    topic_type: str  # the exact type, or the prefix
    agent_type: str

    def same_as(self, other: Entry) -> bool:
        """AutoGen's equality: the same id, or the same kind, topic and agent type."""
        return self.id == other.id or (self.prefix, self.topic_type, self.agent_type) == (
            other.prefix, other.topic_type, other.agent_type)

    def matches(self, topic_type: str) -> bool:
        return topic_type.startswith(self.topic_type) if self.prefix else topic_type == self.topic_type


def entry_of(subscription: Subscription) -> Entry:
    if isinstance(subscription, TypePrefixSubscription):
        return Entry(subscription.id, True, subscription.topic_type_prefix, subscription.agent_type)
    if isinstance(subscription, AgTypeSubscription):  # DefaultSubscription too
        return Entry(subscription.id, False, subscription.topic_type, subscription.agent_type)
    raise NotImplementedError(
        f"{type(subscription).__name__}: raybus carries TypeSubscription, DefaultSubscription and "
        "TypePrefixSubscription; for one agent on one topic use RaybusAgentRuntime.add_member")


class SubscriptionBook:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.topic_types: set[str] = set()
        self.registered: set[str] = set()
        self.members: dict[tuple[str, str], set[AgAgentId]] = {}  # (topic type, source) -> agents

    def to_state(self) -> dict:
        """JSON-able, for a durable directory."""
        return {"entries": [[e.id, e.prefix, e.topic_type, e.agent_type] for e in self.entries.values()],
                "topic_types": sorted(self.topic_types), "registered": sorted(self.registered),
                "members": [[t, s, [[a.type, a.key] for a in sorted(agents, key=str)]]
                            for (t, s), agents in sorted(self.members.items())]}

    @classmethod
    def from_state(cls, state: dict) -> SubscriptionBook:
        book = cls()
        book.entries = {e[0]: Entry(*e) for e in state["entries"]}
        book.topic_types = set(state["topic_types"])
        book.registered = set(state["registered"])
        book.members = {(t, s): {AgAgentId(*a) for a in agents} for t, s, agents in state["members"]}
        return book

    def add(self, entry: Entry) -> None:
        if any(known.same_as(entry) for known in self.entries.values()):
            raise ValueError("Subscription already exists")
        self.entries[entry.id] = entry

    def remove(self, subscription_id: str) -> None:
        if subscription_id not in self.entries:
            raise ValueError("Subscription does not exist")
        del self.entries[subscription_id]

    def wanted(self) -> set[tuple[str, str]]:
        """(AutoGen topic type, agent type) pairs raybus should route: registered agent types only."""
        pairs: set[tuple[str, str]] = set()
        for entry in self.entries.values():
            if entry.agent_type not in self.registered:
                continue
            if entry.prefix:
                pairs |= {(t, entry.agent_type) for t in self.topic_types if entry.matches(t)}
            else:
                pairs.add((entry.topic_type, entry.agent_type))
        return pairs

    def recipients(self, topic_type: str, source: str, sender: AgAgentId | None) -> set[AgAgentId]:
        """Who raybus delivers a publish to once ``wanted`` is applied: each once, never the sender."""
        found = {AgAgentId(agent_type, source) for t, agent_type in self.wanted() if t == topic_type}
        found |= self.members.get((topic_type, source), set())
        found.discard(sender)
        return found
