"""The manager agent: reviews its reports' requests against every team they belong to, decides,
and tells the employee. The only agent allowed to decide for its reports."""

from __future__ import annotations

import asyncio
from typing import Any

from cluster import Agent, AgentId, MessageContext, NotAuthorized, StateMap, handler

from ._config import org_of
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
    RevokeApproval,
)

__all__ = ["Manager"]


class Manager(Agent):
    def __init__(self) -> None:
        self.decisions: StateMap = StateMap()  # request id → what was decided; a record is replaced, never edited
        self._reviewing: dict[str, asyncio.Future] = {}  # request id → its review in progress

    # Reviews interleave: a manager with many reports would otherwise review one request at a time for
    # the whole chain. Nothing here needs the mailbox: the teams enforce cover and hr the balances,
    # each serially; this agent only records what it decided.
    @handler(interleave=True)
    async def on_request(self, message: PtoRequest, ctx: MessageContext) -> Decision:
        employee = org_of(self.config).employees.get(message.employee)
        if ctx.sender != AgentId("employee", message.employee):
            raise NotAuthorized(f"{ctx.sender or 'the driver'} may not ask for time off for {message.employee}")
        if employee is None or employee.manager != self.id.key:
            raise NotAuthorized(f"{message.employee} does not report to {self.id}")
        known = await self._decided(message, employee.department, ctx)
        decision = Decision(request_id=message.request_id, employee=message.employee, approved=known["approved"],
                            reason=known["reason"], days=message.days)
        await ctx.send(ctx.sender, decision)
        return decision

    async def _decided(self, message: PtoRequest, department: str, ctx: MessageContext) -> dict[str, Any]:
        """The decision on a request, made once: a second ask (the employee ran its request again after a
        crash) waits for the review in progress. The decision is stored before anyone hears of it, so an
        employee that has it can count on this agent keeping it, whatever host dies next."""
        known = self.decisions.get(message.request_id)
        if known is not None:
            return known
        reviewing = self._reviewing.get(message.request_id)
        if reviewing is not None:
            return await asyncio.shield(reviewing)
        reviewing = self._reviewing[message.request_id] = asyncio.get_running_loop().create_future()
        try:
            known = self.decisions[message.request_id] = await self._review(message, department, ctx)
            await ctx.checkpoint()
            reviewing.set_result(known)
            return known
        except BaseException as exc:
            reviewing.set_exception(exc)
            raise
        finally:
            del self._reviewing[message.request_id]

    async def _review(self, message: PtoRequest, department: str, ctx: MessageContext) -> dict[str, Any]:
        request_id = message.request_id
        teams = [AgentId("team", team.id) for team in org_of(self.config).teams_of(message.employee)]
        hr = AgentId("hr", department)
        reason: str | None = None
        detail = ""
        covers: list[TeamCover] = []
        try:
            answers: list[Reserved] = await asyncio.gather(*(
                ctx.send(team, Reserve(request_id=request_id, employee=message.employee, days=message.days))
                for team in teams
            ))
            covers = [TeamCover(team=a.team, reserved=a.ok, reason=a.reason, days=a.cover) for a in answers]
            refused = [answer for answer in answers if not answer.ok]
            if refused:
                reason = refused[0].reason or "coverage"
                detail = "; ".join(f"team {a.team} on {a.day}" for a in refused)
            else:
                committed: Done = await ctx.send(hr, Commit(request_id=request_id,
                                                            decision=_audit(message, covers, None, "")))
                if not committed.ok:
                    reason, detail = "hold_lost", committed.reason or ""
        except Exception as exc:  # whatever failed, undo everything below: a rejection leaves nothing behind
            reason, detail = "error", f"{type(exc).__name__}: {exc}"
        if reason is None:
            await asyncio.gather(*(ctx.send(team, Confirm(request_id=request_id)) for team in teams))
        else:
            await asyncio.gather(*(ctx.send(team, CancelReservation(request_id=request_id)) for team in teams))
            await ctx.send(hr, Release(request_id=request_id, decision=_audit(message, covers, reason, detail)))
        return {"employee": message.employee, "department": department, "approved": reason is None,
                "reason": reason, "detail": detail, "teams": [t.key for t in teams], "cancelled": False}

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

    def report(self) -> dict[str, Any]:
        return {"decisions": {rid: d["approved"] for rid, d in self.decisions.items()}}


def _audit(message: PtoRequest, covers: list[TeamCover], reason: str | None, detail: str) -> DecisionAudit:
    """What hr records with the commit or release: the decision and the cover it rested on."""
    return DecisionAudit(employee=message.employee, days=message.days, approved=reason is None, reason=reason,
                         detail=detail, teams=covers)
