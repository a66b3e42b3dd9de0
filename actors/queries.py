"""Read-only questions to the PTO agents, and their answers: a person's view of the state, asked through
the bus like any message, so each agent decides who may read what.

- driver (the manager in person) → manager: ``GetInbox`` → ``Inbox`` (the requests waiting for them, each
  team's cover on each day as it is now)
- manager → team: ``CheckCover`` → ``TeamCover`` (``actors.audit``)
- driver → employee: ``GetRequests`` → ``Requests`` (their requests, each with its status history)
- driver → hr: ``GetBalance`` → ``Balance``
- driver → team: ``GetCalendar`` → ``Calendar`` (every reservation, tentative or confirmed)

A driver is whoever acts for a person (the gateway, after it has checked who the person is and what they
may read); no agent reads another's records this way.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from .audit import TeamCover

__all__ = ["Balance", "Calendar", "CheckCover", "GetBalance", "GetCalendar", "GetInbox", "GetRequests", "Inbox",
           "RequestView", "Requests", "ReservationView", "WaitingRequest"]


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


class GetRequests(_Query):
    """The employee's requests, or only ``request_id`` (none if they have no such request)."""

    request_id: str | None = None


class RequestView(_Query):
    request_id: str
    text: str | None = None
    status: str  # resolving, pending, waiting, approved, rejected or cancelled
    reason: str | None = None
    detail: str | None = None
    days: list[date] = []
    balance: int | None = None
    history: list[str] = []  # every status it has had, in order: what the events stream replays


class Requests(_Query):
    employee: str
    requests: list[RequestView] = []


class GetBalance(_Query):
    employee: str


class Balance(_Query):
    employee: str
    balance: int  # starting balance less the committed days
    held: int  # days held by requests not decided yet
    available: int


class GetCalendar(_Query):
    """A team's reservations."""


class ReservationView(_Query):
    request_id: str
    employee: str
    status: str  # tentative or confirmed
    days: list[date]


class Calendar(_Query):
    team: str
    members: list[str]
    min_on_duty: int
    reservations: list[ReservationView] = []
