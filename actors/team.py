"""The team agent: one team's availability. Reservations are tentative until the manager confirms."""

from __future__ import annotations

from typing import Any

from cluster import Agent, MessageContext, handler, inspectable

from ._config import org_of
from ._guard import for_a_person, managers_of, refuse_unless
from .audit import TeamCover
from .coverage import TeamCalendar
from .messages import CancelReservation, Confirm, Done, Reserve, Reserved
from .queries import Calendar, CheckCover, GetCalendar, ReservationView

__all__ = ["Team", "team_report"]


class Team(Agent):
    """Serial on purpose: the coverage rule is checked and applied in one step per message."""

    calendar: TeamCalendar
    _saved: dict[str, Any] | None = None

    async def on_start(self) -> None:
        team = org_of(self.config).teams[self.id.key]
        self.calendar = (TeamCalendar.from_state(self._saved) if self._saved is not None
                         else TeamCalendar(team.id, team.members, team.min_on_duty))

    def save_state(self) -> dict[str, Any]:
        return self.calendar.durable_state()

    def load_state(self, state: dict[str, Any]) -> None:
        self._saved = state  # the calendar is built in on_start, which runs after this

    def _check_manager(self, message: Reserve | Confirm | CancelReservation, ctx: MessageContext) -> None:
        """Only the manager of the reservation's employee (the one recorded with it, else the one a Reserve
        names) touches it; for a request the team does not know, a manager of one of its members."""
        known = self.calendar.reservations.get(message.request_id)
        of = ([known["employee"]] if known is not None else [message.employee] if isinstance(message, Reserve)
              else self.calendar.members)
        refuse_unless(ctx.sender in managers_of(org_of(self.config), of), ctx,
                      f"{type(message).__name__} request {message.request_id!r} at {self.id}",
                      "only the manager of the reservation's employee reserves its days")

    @handler
    async def on_reserve(self, message: Reserve, ctx: MessageContext) -> Reserved:
        self._check_manager(message, ctx)
        cover = self.calendar.cover(message.employee, message.days)  # before this request takes its days
        result = self.calendar.reserve(message.request_id, message.employee, message.days)
        return Reserved(request_id=message.request_id, team=self.id.key, ok=result.ok, reason=result.reason,
                        day=result.day, cover=cover)

    @handler
    async def on_check_cover(self, message: CheckCover, ctx: MessageContext) -> TeamCover:
        refuse_unless(ctx.sender in managers_of(org_of(self.config), [message.employee]), ctx,
                      f"read the cover of {self.id} for {message.employee}", "only the employee's manager reads it")
        cover = self.calendar.cover(message.employee, message.days)
        return TeamCover(team=self.id.key, reserved=message.request_id in self.calendar.reservations, days=cover)

    @handler
    async def on_calendar(self, message: GetCalendar, ctx: MessageContext) -> Calendar:
        refuse_unless(for_a_person(ctx), ctx, f"read the calendar of {self.id}",
                      "only a driver acting for a person reads it")
        reservations = [ReservationView(request_id=rid, employee=r["employee"], status=r["status"], days=r["days"])
                        for rid, r in sorted(self.calendar.reservations.items())]
        return Calendar(team=self.id.key, members=sorted(self.calendar.members), min_on_duty=self.calendar.min_on_duty,
                        reservations=reservations)

    @handler
    async def on_confirm(self, message: Confirm, ctx: MessageContext) -> Done:
        self._check_manager(message, ctx)
        return Done(request_id=message.request_id, ok=self.calendar.confirm(message.request_id))

    @handler
    async def on_cancel(self, message: CancelReservation, ctx: MessageContext) -> Done:
        self._check_manager(message, ctx)
        return Done(request_id=message.request_id, ok=self.calendar.cancel(message.request_id))

    @inspectable
    def report(self) -> dict[str, Any]:
        return team_report(self.calendar)


def team_report(calendar: TeamCalendar) -> dict[str, Any]:
    """What the invariant checker reads: violations of the rule, and the reservations by status."""
    return {"violations": calendar.check(), "state": calendar.to_state()}
