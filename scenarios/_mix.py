"""The request mix of a load run: fixed by the seed, spread over the coming weeks, colliding on teams."""

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
    request_id: str
    employee: str
    text: str


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


def request_mix(org: Org, requests: int, seed: int, horizon_days: int = 60) -> list[PlannedRequest]:
    rng = random.Random(f"mix-{seed}")
    employees = sorted(org.employees)
    return [PlannedRequest(f"r{n}", rng.choice(employees), _phrase(rng, org.today, horizon_days))
            for n in range(requests)]
