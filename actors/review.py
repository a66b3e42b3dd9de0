"""The org's review rule: which requests the manager approves in person, and which go through on their own.

A request whose teams all keep their cover is approved at once when it is short enough (and, if the rule
asks, leaves no team at its bare minimum on duty); otherwise it waits in the manager's inbox, holding its
days in hr and its place in every team's cover, until the manager decides. A request that would break a
team's cover is rejected either way: there is no cover to hold for it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from .audit import TeamCover

__all__ = ["DEFAULT_AUTO_APPROVE_DAYS", "ReviewRule"]

DEFAULT_AUTO_APPROVE_DAYS = 5  # a working week goes through on its own; longer is the manager's call


class ReviewRule(BaseModel):
    """``auto_approve_days``: the longest request (in working days) approved without the manager.
    ``review_at_minimum``: also wait for the manager when the request would leave a team with exactly its
    minimum on duty on some day (the last person who may be off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_approve_days: int = Field(DEFAULT_AUTO_APPROVE_DAYS, ge=0, le=366)
    review_at_minimum: bool = False

    def waits(self, days: Sequence[date], covers: Sequence[TeamCover]) -> bool:
        """Does a request for ``days``, which every team in ``covers`` has reserved, wait for the manager?"""
        if len(days) > self.auto_approve_days:
            return True
        # cover.off counts the others already off: with this request one more, the team is at its minimum
        return self.review_at_minimum and any(day.off + 1 >= day.allowed for team in covers for day in team.days)
