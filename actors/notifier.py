"""The notifier agent: subscribed to its department's topic; records who was told what."""

from __future__ import annotations

from cluster import Agent, MessageContext, StateMap, handler, inspectable

from ._guard import check_notice
from .messages import TimeOffCancelled, TimeOffNotice

__all__ = ["Notifier"]


class Notifier(Agent):
    def __init__(self) -> None:
        self.notices: StateMap = StateMap()  # request id → copies heard
        self.cancellations: StateMap = StateMap()

    @handler
    async def on_notice(self, message: TimeOffNotice, ctx: MessageContext) -> None:
        check_notice(message, ctx, self.id)
        self.notices[message.request_id] = self.notices.get(message.request_id, 0) + 1

    @handler
    async def on_cancelled(self, message: TimeOffCancelled, ctx: MessageContext) -> None:
        check_notice(message, ctx, self.id)
        self.cancellations[message.request_id] = self.cancellations.get(message.request_id, 0) + 1

    def save_state(self) -> dict[str, StateMap]:
        return {"notices": self.notices, "cancellations": self.cancellations}

    def load_state(self, state: dict[str, dict[str, int]]) -> None:
        self.notices = StateMap.loaded(state.get("notices", {}))
        self.cancellations = StateMap.loaded(state.get("cancellations", {}))

    @inspectable
    def received(self) -> dict[str, int]:
        """Notices by request id, with how many times each arrived (the checker wants exactly once)."""
        return dict(self.notices)

    @inspectable
    def cancelled(self) -> dict[str, int]:
        """Cancellation notices by request id, with how many times each arrived."""
        return dict(self.cancellations)
