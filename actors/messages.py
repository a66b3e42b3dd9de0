"""The messages of the PTO flow. Every one carries the ``request_id`` it belongs to.

1. employee → dates: ``ResolveDates`` → ``ResolvedDates``
2. employee → hr: ``PlaceHold`` → ``HoldPlaced``
3. employee → manager: ``PtoRequest`` → ``Decision``, or ``Waiting`` when the org's review rule
   (``actors.review``) leaves it to the manager in person; they answer later with ``Review`` (a driver →
   manager), and the manager goes on from step 4 (cover checked again) to 7
4. manager → each team of the employee: ``Reserve`` → ``Reserved`` (with each day's cover)
5. manager → hr ``Commit``/``Release`` (with the ``DecisionAudit``), → teams ``Confirm``/``CancelReservation``
   → ``Done``
6. manager → employee: ``Decision`` → ``Done`` (refused unless it comes from the employee's manager)
7. employee publishes ``TimeOffNotice`` to its department topic and each of its task topics.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .audit import DecisionAudit
from .coverage import DayCover

__all__ = [
    "CancelRequest",
    "CancelReservation",
    "Cancelled",
    "Commit",
    "Confirm",
    "Decision",
    "Done",
    "HoldPlaced",
    "PlaceHold",
    "PtoRequest",
    "Release",
    "RequestOutcome",
    "RequestTimeOff",
    "Reserve",
    "Reserved",
    "ResolveDates",
    "ResolvedDates",
    "Review",
    "RevokeApproval",
    "TimeOffCancelled",
    "TimeOffNotice",
    "Waiting",
]

MAX_TEXT = 200


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(min_length=1, max_length=100)


class RequestTimeOff(_Message):
    """Driver → employee: ask for time off in words."""

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    today: date | None = None


class RequestOutcome(_Message):
    """The employee's answer to ``RequestTimeOff``: a terminal outcome, or ``waiting`` for the manager."""

    employee: str
    status: Literal["approved", "rejected", "waiting"]
    reason: str | None = None
    detail: str | None = None  # what the reason is about, e.g. the date phrase that could not be read
    days: list[date] = []
    balance: int | None = None  # the employee's own balance: theirs to see, nobody else's


class ResolveDates(_Message):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    today: date


class ResolvedDates(_Message):
    days: list[date] = []
    error: str | None = None


class PlaceHold(_Message):
    employee: str
    days: list[date]


class HoldPlaced(_Message):
    ok: bool
    reason: str | None = None
    balance: int | None = None


class PtoRequest(_Message):
    """Employee → manager: review these held days."""

    employee: str
    days: list[date]


class Waiting(_Message):
    """Manager → employee, the answer to ``PtoRequest`` when the manager reviews it in person: its days
    are held and its cover reserved until they decide."""


class Review(_Message):
    """The manager in person (through a driver) → their manager agent: the decision on a waiting request."""

    approve: bool
    reason: str = Field("", max_length=MAX_TEXT)


class Reserve(_Message):
    employee: str
    days: list[date]


class Reserved(_Message):
    team: str
    ok: bool
    reason: str | None = None
    day: date | None = None
    cover: list[DayCover] = []  # each requested day as the team found it, for the audit trail


class Confirm(_Message):
    pass


class CancelReservation(_Message):
    pass


class Commit(_Message):
    """Manager → hr: take the held days; hr records the decision in the same transaction."""

    decision: DecisionAudit


class Release(_Message):
    """Manager → hr: give the held days back; hr records the rejection in the same transaction."""

    decision: DecisionAudit


class RevokeApproval(_Message):
    """Manager → hr: cancel an approved request, reversing its ledger entries."""


class Done(_Message):
    ok: bool = True
    reason: str | None = None


class Decision(_Message):
    employee: str
    approved: bool
    reason: str | None = None
    days: list[date] = []


class CancelRequest(_Message):
    """Driver → employee, then employee → manager: cancel an approved request."""


class Cancelled(_Message):
    ok: bool
    reason: str | None = None


class TimeOffNotice(_Message):
    """Who is off on which days, and nothing else: no balance, no reason."""

    employee: str
    days: list[date]


class TimeOffCancelled(_Message):
    employee: str
    days: list[date]
