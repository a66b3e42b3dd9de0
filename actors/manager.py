"""The manager agent: reviews its reports' requests against every team they belong to, decides,
and tells the employee. The only agent allowed to decide for its reports. What the org's review rule
(``actors.review``) leaves to the manager in person waits in their inbox, holding its days and cover, until
they decide through a driver (``Review``); the cover is checked again then."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from cluster import Agent, AgentId, MessageContext, NotAuthorized, StateMap, handler, inspectable

from ._config import org_of
from ._guard import for_a_person, refuse_unless
from .audit import DecisionAudit, TeamCover
from .messages import (
    Cancelled,
    CancelRequest,
    CancelReservation,
    Commit,
    Confirm,
    Decision,
    Done,
    PtoRequest,
    Release,
    Reserve,
    Reserved,
    Review,
    RevokeApproval,
    Waiting,
)
from .queries import CheckCover, GetInbox, Inbox, WaitingRequest

__all__ = ["Manager", "manager_report"]


class Manager(Agent):
    def __init__(self) -> None:
        # request id → what was decided (approved True or False) or that it waits for the manager in person
        # (approved None); a record is replaced, never edited
        self.decisions: StateMap = StateMap()
        self._reviewing: dict[str, asyncio.Future] = {}  # request id → its review in progress

    # Reviews interleave: a manager with many reports would otherwise review one request at a time for
    # the whole chain. Nothing here needs the mailbox: the teams enforce cover and hr the balances,
    # each serially; this agent only records what it decided.
    @handler(interleave=True)
    async def on_request(self, message: PtoRequest, ctx: MessageContext) -> Decision | Waiting:
        employee = org_of(self.config).employees.get(message.employee)
        if ctx.sender != AgentId("employee", message.employee):
            raise NotAuthorized(f"{ctx.sender or 'the driver'} may not ask for time off for {message.employee}")
        if employee is None or employee.manager != self.id.key:
            raise NotAuthorized(f"{message.employee} does not report to {self.id}")
        known = self.decisions.get(message.request_id)
        if known is None:
            known = await self._once(message.request_id, ctx, lambda: self._review(message, employee.department, ctx))
        if known["approved"] is None:
            return Waiting(request_id=message.request_id)
        decision = _decision(message.request_id, known, message.days)
        await ctx.send(ctx.sender, decision)
        return decision

    # The manager in person decides a waiting request through a driver (the gateway, acting for them):
    # no agent may decide in their place.
    @handler(interleave=True)
    async def on_review(self, message: Review, ctx: MessageContext) -> Decision:
        known = self.decisions.get(message.request_id)
        refuse_unless(for_a_person(ctx), ctx, f"decide request {message.request_id!r} for {self.id}",
                      "only the manager in person, through a driver, decides a waiting request")
        refuse_unless(known is not None, ctx, f"decide request {message.request_id!r}",
                      f"no such request was put to {self.id}")
        if known["approved"] is None:
            known = await self._once(message.request_id, ctx, lambda: self._conclude(message, known, ctx))
        decision = _decision(message.request_id, known, _days(known))
        await ctx.send(AgentId("employee", known["employee"]), decision)  # a repeat changes nothing there
        return decision

    @handler(interleave=True)
    async def on_inbox(self, message: GetInbox, ctx: MessageContext) -> Inbox:
        refuse_unless(for_a_person(ctx), ctx, f"read the inbox of {self.id}",
                      "only the manager in person, through a driver, reads it")
        waiting = [(rid, record) for rid, record in sorted(self.decisions.items()) if record["approved"] is None]
        return Inbox(manager=self.id.key, waiting=await asyncio.gather(
            *(self._waiting(rid, record, ctx) for rid, record in waiting)))

    async def _waiting(self, request_id: str, record: dict[str, Any], ctx: MessageContext) -> WaitingRequest:
        """A waiting request with each team's cover on each of its days, as the teams stand now."""
        ask = CheckCover(request_id=request_id, employee=record["employee"], days=_days(record))
        covers = await asyncio.gather(*(ctx.send(AgentId("team", team), ask) for team in record["teams"]))
        return WaitingRequest(request_id=request_id, employee=record["employee"], days=ask.days, teams=covers)

    async def _once(self, request_id: str, ctx: MessageContext,
                    work: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """Run ``work`` (a review, or the end of one) once per request at a time: a second ask (the employee
        ran its request again after a crash, the manager clicked twice) waits for the one in progress. Its
        record is stored before anyone hears of it, so whoever has it can count on this agent keeping it,
        whatever host dies next."""
        reviewing = self._reviewing.get(request_id)
        if reviewing is not None:
            return await asyncio.shield(reviewing)
        reviewing = self._reviewing[request_id] = asyncio.get_running_loop().create_future()
        try:
            known = self.decisions[request_id] = await work()
            await ctx.checkpoint()
            reviewing.set_result(known)
            return known
        except BaseException as exc:
            reviewing.set_exception(exc)
            raise
        finally:
            del self._reviewing[request_id]

    async def _review(self, message: PtoRequest, department: str, ctx: MessageContext) -> dict[str, Any]:
        teams = [AgentId("team", team.id) for team in org_of(self.config).teams_of(message.employee)]
        covers, refusal = await self._reserve(message, teams, ctx)
        if refusal is None and org_of(self.config).review.waits(message.days, covers):
            return _record(message, department, teams, approved=None)
        return await self._settle(message, department, teams, covers, refusal, ctx)

    async def _conclude(self, review: Review, record: dict[str, Any], ctx: MessageContext) -> dict[str, Any]:
        """The manager decided a waiting request: every team's cover is checked again (its reservation still
        stands, or is made again under the rule), then it goes on as an immediate decision would."""
        request = PtoRequest(request_id=review.request_id, employee=record["employee"], days=_days(record))
        teams = [AgentId("team", team) for team in record["teams"]]
        covers, refusal = await self._reserve(request, teams, ctx)
        if refusal is None and not review.approve:
            refusal = ("declined", review.reason)
        return await self._settle(request, record["department"], teams, covers, refusal, ctx, note=review.reason)

    async def _reserve(self, message: PtoRequest, teams: list[AgentId],
                       ctx: MessageContext) -> tuple[list[TeamCover], tuple[str, str] | None]:
        """Each team's reservation and cover, and why the request cannot go on (None if it can)."""
        try:
            answers: list[Reserved] = await asyncio.gather(*(
                ctx.send(team, Reserve(request_id=message.request_id, employee=message.employee, days=message.days))
                for team in teams
            ))
        except Exception as exc:  # whatever failed, _settle undoes what was reserved
            return [], ("error", f"{type(exc).__name__}: {exc}")
        covers = [TeamCover(team=a.team, reserved=a.ok, reason=a.reason, days=a.cover) for a in answers]
        refused = [answer for answer in answers if not answer.ok]
        if refused:
            return covers, (refused[0].reason or "coverage", "; ".join(f"team {a.team} on {a.day}" for a in refused))
        return covers, None

    async def _settle(self, message: PtoRequest, department: str, teams: list[AgentId], covers: list[TeamCover],
                      refusal: tuple[str, str] | None, ctx: MessageContext, note: str = "") -> dict[str, Any]:
        """Commit and confirm, or (refused, or the commit failed) cancel and release: a rejection leaves
        nothing behind. ``note`` is the manager's own word on an approval, kept in the audit trail."""
        request_id, hr = message.request_id, AgentId("hr", department)
        reason, detail = refusal or (None, note)
        if reason is None:
            try:
                committed: Done = await ctx.send(hr, Commit(request_id=request_id,
                                                            decision=_audit(message, covers, None, detail)))
                if not committed.ok:
                    reason, detail = "hold_lost", committed.reason or ""
            except Exception as exc:
                reason, detail = "error", f"{type(exc).__name__}: {exc}"
        if reason is None:
            await asyncio.gather(*(ctx.send(team, Confirm(request_id=request_id)) for team in teams))
        else:
            await asyncio.gather(*(ctx.send(team, CancelReservation(request_id=request_id)) for team in teams))
            await ctx.send(hr, Release(request_id=request_id, decision=_audit(message, covers, reason, detail)))
        return _record(message, department, teams, approved=reason is None, reason=reason, detail=detail)

    @handler(interleave=True)
    async def on_cancel(self, message: CancelRequest, ctx: MessageContext) -> Cancelled:
        record = self.decisions.get(message.request_id)
        if record is None or ctx.sender != AgentId("employee", record["employee"]):
            raise NotAuthorized(f"{ctx.sender or 'the driver'} may not cancel request {message.request_id}")
        if not record["approved"]:
            return Cancelled(request_id=message.request_id, ok=False, reason="not approved")
        if not record["cancelled"]:
            revoked: Done = await ctx.send(AgentId("hr", record["department"]),
                                           RevokeApproval(request_id=message.request_id))
            if not revoked.ok:
                return Cancelled(request_id=message.request_id, ok=False, reason=revoked.reason)
            await asyncio.gather(*(ctx.send(AgentId("team", team), CancelReservation(request_id=message.request_id))
                                   for team in record["teams"]))
            self.decisions[message.request_id] = record | {"cancelled": True}
        return Cancelled(request_id=message.request_id, ok=True)

    def save_state(self) -> dict[str, Any]:
        return {"decisions": self.decisions}

    def load_state(self, state: dict[str, Any]) -> None:
        self.decisions = StateMap.loaded(state.get("decisions", {}))

    @inspectable
    def report(self) -> dict[str, Any]:
        return manager_report(self.decisions)


def manager_report(decisions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the invariant checker reads: each decided request's outcome, and the requests waiting for the
    manager with their employee and days."""
    return {"decisions": {rid: d["approved"] for rid, d in decisions.items() if d["approved"] is not None},
            "waiting": {rid: {"employee": d["employee"], "days": list(d["days"])}
                        for rid, d in decisions.items() if d["approved"] is None}}


def _record(message: PtoRequest, department: str, teams: list[AgentId], approved: bool | None,
            reason: str | None = None, detail: str = "") -> dict[str, Any]:
    return {"employee": message.employee, "department": department, "approved": approved, "reason": reason,
            "detail": detail, "teams": [t.key for t in teams], "cancelled": False,
            "days": [d.isoformat() for d in message.days]}


def _days(record: dict[str, Any]) -> list[date]:
    return [date.fromisoformat(d) for d in record["days"]]


def _decision(request_id: str, record: dict[str, Any], days: list[date]) -> Decision:
    return Decision(request_id=request_id, employee=record["employee"], approved=record["approved"],
                    reason=record["reason"], days=days)


def _audit(message: PtoRequest, covers: list[TeamCover], reason: str | None, detail: str) -> DecisionAudit:
    """What hr records with the commit or release: the decision and the cover it rested on."""
    return DecisionAudit(employee=message.employee, days=message.days, approved=reason is None, reason=reason,
                         detail=detail, teams=covers)
