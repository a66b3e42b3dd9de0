"""Read-only questions to the PTO agents, and their answers: a person's view of the state, asked through
the bus like any message, so each agent decides who may read what.

- driver (the manager in person) → manager: ``GetInbox`` → ``Inbox`` (the requests waiting for them, each
  team's cover on each day as it is now)
- manager → team: ``CheckCover`` → ``TeamCover`` (``actors.audit``)
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from .audit import TeamCover

__all__ = ["CheckCover", "GetInbox", "Inbox", "WaitingRequest"]


class _Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GetInbox(_Query):
    """The manager's requests waiting for their decision."""


class WaitingRequest(_Query):
    request_id: str
    employee: str
    days: list[date]
    teams: list[TeamCover] = []


class Inbox(_Query):
    manager: str
    waiting: list[WaitingRequest] = []


class CheckCover(_Query):
    """Each of ``days`` as the team stands now, for ``employee`` (their own days off aside), and whether the
    team still holds the reservation of ``request_id``."""

    request_id: str
    employee: str
    days: list[date] = Field(min_length=1)
