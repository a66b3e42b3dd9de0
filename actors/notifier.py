"""The notifier agent: subscribed to its department's topic; records who was told what."""

from __future__ import annotations

from collections import Counter

from cluster import Agent, MessageContext, handler

from .messages import TimeOffCancelled, TimeOffNotice

__all__ = ["Notifier"]


class Notifier(Agent):
    def __init__(self) -> None:
        self.notices: Counter[str] = Counter()
        self.cancellations: Counter[str] = Counter()

    @handler
    async def on_notice(self, message: TimeOffNotice, ctx: MessageContext) -> None:
        self.notices[message.request_id] += 1

    @handler
    async def on_cancelled(self, message: TimeOffCancelled, ctx: MessageContext) -> None:
        self.cancellations[message.request_id] += 1

    def save_state(self) -> dict[str, dict[str, int]]:
        return {"notices": dict(self.notices), "cancellations": dict(self.cancellations)}

    def load_state(self, state: dict[str, dict[str, int]]) -> None:
        self.notices, self.cancellations = Counter(state["notices"]), Counter(state["cancellations"])

    def received(self) -> dict[str, int]:
        """Notices by request id, with how many times each arrived (the checker wants exactly once)."""
        return dict(self.notices)
