"""TeamCalendar: the availability of one team, and its cover rule.

On every day, the members off (tentative reservations and confirmed ones) stay at most
``size - min_on_duty``. Reservations are tentative until the manager confirms them, so a request that
is later rejected elsewhere can give its days back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from cluster import StateMap

__all__ = ["DayCover", "ReserveResult", "TeamCalendar"]

TENTATIVE, CONFIRMED = "tentative", "confirmed"


@dataclass(frozen=True, slots=True)
class DayCover:
    """One day of a team as a request finds it: the members already off (the requester aside) and the
    most that may be off. Manager decisions are audited with it."""

    day: date
    off: int
    allowed: int

    @property
    def short(self) -> bool:
        """One more off would drop the team below its minimum on duty."""
        return self.off >= self.allowed


@dataclass(frozen=True, slots=True)
class ReserveResult:
    ok: bool
    reason: str | None = None
    day: date | None = None


class TeamCalendar:
    def __init__(self, team_id: str, members: Iterable[str], min_on_duty: int) -> None:
        self.team_id = team_id
        self.members = frozenset(members)
        self.min_on_duty = min_on_duty
        # request id → employee, days, status; a reservation is replaced, never edited (saves go by entry)
        self.reservations: StateMap = StateMap()
        self._off: dict[date, dict[str, int]] = defaultdict(dict)  # day → employee → requests covering it

    def capacity(self) -> int:
        return len(self.members) - self.min_on_duty

    def off_on(self, day: date) -> set[str]:
        return set(self._off.get(day, ()))

    def cover(self, employee: str, days: Iterable[date]) -> list[DayCover]:
        """Each day's cover for ``employee``, in day order: the rule ``reserve`` applies, and what it saw.
        The employee's own days off do not count: asking twice for a day takes no one else off."""
        capacity = self.capacity()
        return [DayCover(day, len(self._off.get(day, {}).keys() - {employee}), capacity) for day in sorted(set(days))]

    def reserve(self, request_id: str, employee: str, days: Iterable[date]) -> ReserveResult:
        known = self.reservations.get(request_id)
        if known is not None:  # a redelivered request gets the first answer
            return ReserveResult(True)
        if employee not in self.members:
            return ReserveResult(False, "not_a_member")
        days = sorted(set(days))
        short = next((cover.day for cover in self.cover(employee, days) if cover.short), None)
        if short is not None:
            return ReserveResult(False, "coverage", short)
        self.reservations[request_id] = {"employee": employee, "days": days, "status": TENTATIVE}
        for day in days:
            self._off[day][employee] = self._off[day].get(employee, 0) + 1
        return ReserveResult(True)

    def confirm(self, request_id: str) -> bool:
        reservation = self.reservations.get(request_id)
        if reservation is None:
            return False
        self.reservations[request_id] = reservation | {"status": CONFIRMED}
        return True

    def cancel(self, request_id: str) -> bool:
        """Give the days back; cancelling what is not reserved is a no-op, so retries are safe."""
        reservation = self.reservations.pop(request_id, None)
        if reservation is None:
            return False
        employee = reservation["employee"]
        for day in reservation["days"]:
            off = self._off[day]
            off[employee] -= 1
            if not off[employee]:
                del off[employee]
            if not off:
                del self._off[day]
        return True

    def check(self) -> list[str]:
        """Days that break the cover rule, each naming the team, the day and who is off."""
        return [f"team {self.team_id} on {day}: {sorted(off)} off, at most {self.capacity()}"
                for day, off in sorted(self._off.items()) if len(off) > self.capacity()]

    def to_state(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id, "members": sorted(self.members), "min_on_duty": self.min_on_duty,
            "reservations": {rid: {"employee": r["employee"], "status": r["status"],
                                   "days": [d.isoformat() for d in r["days"]]}
                             for rid, r in self.reservations.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TeamCalendar:
        calendar = cls(state["team_id"], state["members"], state["min_on_duty"])
        for rid, r in state.get("reservations", {}).items():  # an empty StateMap stores no entries: none saved
            days = [date.fromisoformat(d) for d in r["days"]]
            calendar.reservations[rid] = {"employee": r["employee"], "days": days, "status": r["status"]}
            for day in days:
                calendar._off[day][r["employee"]] = calendar._off[day].get(r["employee"], 0) + 1
        calendar.reservations.changed.clear()  # as loaded: nothing to save again
        return calendar

    def durable_state(self) -> dict[str, Any]:
        """What an agent saves: like ``to_state``, but the reservations as the StateMap they are kept in."""
        return {"team_id": self.team_id, "members": sorted(self.members), "min_on_duty": self.min_on_duty,
                "reservations": self.reservations}
