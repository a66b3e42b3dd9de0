"""The request mix of a load run: fixed by the seed, spread over the coming weeks, colliding on teams; a
share of long requests that the org's review rule leaves to the manager, each with the manager's answer."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from actors.org import Org

__all__ = ["PlannedRequest", "request_mix"]

_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
_NONSENSE = ["whenever works", "blorp", "next Saturday", "the 31st of February"]


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """``approve``: what the manager answers if the request waits for them (seeded, as the rest)."""

    request_id: str
    employee: str
    text: str
    approve: bool = True


def _working_day(rng: random.Random, today: date, horizon_days: int) -> date:
    """Mostly working days: a weekend start would only make another invalid_dates rejection."""
    day = today + timedelta(days=rng.randint(1, horizon_days))
    return day if day.weekday() < 5 or rng.random() < 0.05 else day + timedelta(days=7 - day.weekday())


def _phrase(rng: random.Random, today: date, horizon_days: int) -> str:
    start = _working_day(rng, today, horizon_days)
    roll = rng.random()
    if roll < 0.02:
        return rng.choice(_NONSENSE)  # every rejection reason should happen, invalid dates too
    if roll < 0.12:  # all of these land in the same week, so they collide on teams the most
        first, second = sorted(rng.sample(range(5), 2))
        return f"next {_WEEKDAYS[first]} and {_WEEKDAYS[second]}"
    if roll < 0.25:
        return f"{rng.randint(1, 4)} days starting next {rng.choice(_WEEKDAYS)}"
    if roll < 0.65:
        end = start + timedelta(days=rng.randint(0, 4))
        return f"{start:%b} {start.day} to {end:%b} {end.day}"
    if roll < 0.85:
        return start.isoformat()
    return f"{rng.randint(1, 3)} days starting {start.isoformat()}"


def _long_phrase(rng: random.Random, longest_auto: int) -> str:
    """Longer than the review rule approves on its own: the manager decides."""
    return f"{longest_auto + rng.randint(1, 3)} days starting next {rng.choice(_WEEKDAYS)}"


def request_mix(org: Org, requests: int, seed: int, horizon_days: int = 60, review_share: float = 0.0,
                approve_share: float = 0.75) -> list[PlannedRequest]:
    """``review_share`` of the requests are long enough to wait for the manager (if balance and cover let
    them get that far), who approves ``approve_share`` of those. With no review share the mix is the one
    the same seed always gave."""
    if not 0.0 <= review_share <= 1.0 or not 0.0 <= approve_share <= 1.0:
        raise ValueError(f"review_share {review_share} and approve_share {approve_share} must be in [0, 1]")
    rng = random.Random(f"mix-{seed}")
    employees = sorted(org.employees)
    plan = []
    for n in range(requests):
        employee = rng.choice(employees)
        if review_share and rng.random() < review_share:
            plan.append(PlannedRequest(f"r{n}", employee, _long_phrase(rng, org.review.auto_approve_days),
                                       approve=rng.random() < approve_share))
        else:
            plan.append(PlannedRequest(f"r{n}", employee, _phrase(rng, org.today, horizon_days)))
    return plan
