"""The employee agent: asks for time off in words and keeps its own requests and their outcomes."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from cluster import Agent, AgentId, DeltaCounter, MessageContext, NotAuthorized, StateMap, TopicId, handler, inspectable

from ._config import org_of
from ._guard import check_notice, check_speaks_for, for_a_person, refuse_unless, who
from .messages import (
    Cancelled,
    CancelRequest,
    Decision,
    Done,
    HoldPlaced,
    PlaceHold,
    PtoRequest,
    RequestOutcome,
    RequestTimeOff,
    ResolveDates,
    ResolvedDates,
    TimeOffCancelled,
    TimeOffNotice,
    Waiting,
)
from .org import Employee as Profile
from .queries import GetRequests, Requests, RequestView

__all__ = ["Employee", "RequestIdReused", "employee_report"]

TERMINAL = ("approved", "rejected", "cancelled")
REQUESTS = DeltaCounter("raybus_pto_requests", "PTO requests by terminal outcome", ("status", "reason"))


class RequestIdReused(ValueError):
    """A request id this employee already has, asked again with other words: one id, one request."""


class Employee(Agent):
    def __init__(self) -> None:
        self.requests: StateMap = StateMap()  # request id → its record; a record is replaced, never edited
        self.task_notices: StateMap = StateMap()  # "request|topic" → copies heard
        self.refused: list[dict[str, Any]] = []
        self._in_flight: dict[str, asyncio.Event] = {}
        self._cancelling: dict[str, asyncio.Event] = {}

    @property
    def profile(self) -> Profile:
        org = org_of(self.config)
        profile = org.employees.get(self.id.key)
        if profile is None:
            raise LookupError(f"unknown employee {self.id.key!r}: not in the org")
        return profile

    @property
    def manager(self) -> AgentId:
        return AgentId("manager", self.profile.manager)

    # A request is a long chain (dates, hr, manager); holding the mailbox for it would queue this
    # employee's other requests behind it. Its consistency lives in hr (holds) and the teams (cover).
    @handler(interleave=True)
    async def on_request(self, message: RequestTimeOff, ctx: MessageContext) -> RequestOutcome:
        check_speaks_for(ctx, self.id, f"ask for time off ({message.request_id!r})")
        request_id = message.request_id
        asked = self.requests.get(request_id, {}).get("text", message.text)  # records before texts were kept: as now
        if asked != message.text:
            raise RequestIdReused(f"request {request_id!r} of {self.id.key} was asked as {asked!r}, not "
                                  f"{message.text!r}")
        if request_id in self._in_flight:  # a retried request gets the answer of the first
            await self._in_flight[request_id].wait()
            return self._outcome(request_id)
        if self.requests.get(request_id, {}).get("status") in (*TERMINAL, "waiting"):
            return self._outcome(request_id)
        # new, or begun by an earlier life of this agent that crashed: (re)run it; every step is idempotent
        self.requests.setdefault(request_id, {"status": "resolving", "days": [], "reason": None, "detail": None,
                                              "balance": None, "text": message.text, "history": ["resolving"]})
        self._in_flight[request_id] = asyncio.Event()
        try:
            return await self._request(message, ctx)
        finally:
            self._in_flight.pop(request_id).set()

    async def _request(self, message: RequestTimeOff, ctx: MessageContext) -> RequestOutcome:
        """Run again after a crash, a request may meet its manager's decision on the way (the first run had
        asked for it): the decision wins, whatever this run would have recorded."""
        request_id, me = message.request_id, self.profile
        today = message.today or org_of(self.config).today
        resolved: ResolvedDates = await ctx.send(
            AgentId("dates", me.department), ResolveDates(request_id=request_id, text=message.text, today=today)
        )
        if self._decided(request_id):
            return self._outcome(request_id)
        if resolved.error:
            return self._finish(request_id, "rejected", "invalid_dates", resolved.error)
        self._update(request_id, days=resolved.days)
        hold: HoldPlaced = await ctx.send(
            AgentId("hr", me.department), PlaceHold(request_id=request_id, employee=me.id, days=resolved.days)
        )
        if self._decided(request_id):
            return self._outcome(request_id)
        self._update(request_id, balance=hold.balance)
        if not hold.ok:
            return self._finish(request_id, "rejected", hold.reason or "refused")
        self._update(request_id, status="pending")
        answer = await ctx.send(self.manager, PtoRequest(request_id=request_id, employee=me.id, days=resolved.days))
        if isinstance(answer, Waiting) and not self._decided(request_id):  # a quick decision may be in already
            self._update(request_id, status="waiting")
        return self._outcome(request_id)  # on_decision recorded any decision before that call returned

    @handler
    async def on_decision(self, message: Decision, ctx: MessageContext) -> Done:
        if ctx.sender != self.manager:
            self.refused.append({"request_id": message.request_id, "from": who(ctx)})
            raise NotAuthorized(f"{who(ctx)} may not decide for {self.id}: only {self.manager} decides")
        record = self.requests.get(message.request_id)
        if record is None or record["status"] not in ("pending", "waiting", "approved", "rejected"):
            return Done(request_id=message.request_id, ok=False, reason="no such pending request")
        if record["status"] in ("pending", "waiting"):  # a redelivered decision changes nothing
            status = "approved" if message.approved else "rejected"
            self._finish(message.request_id, status, message.reason)
            if message.approved:
                if record["balance"] is not None:  # the hold's balance, less the days now committed
                    record = self._update(message.request_id, balance=record["balance"] - len(record["days"]))
                await self._tell(TimeOffNotice(request_id=message.request_id, employee=self.id.key,
                                               days=record["days"]), ctx)
        return Done(request_id=message.request_id)

    @handler(interleave=True)
    async def on_cancel(self, message: CancelRequest, ctx: MessageContext) -> Cancelled:
        check_speaks_for(ctx, self.id, f"cancel request {message.request_id!r}")
        request_id = message.request_id
        while request_id in self._cancelling:  # a retried cancel waits for the first: one notice, not two
            await self._cancelling[request_id].wait()
        record = self.requests.get(request_id)
        if record is None or record["status"] not in ("approved", "cancelled"):
            return Cancelled(request_id=request_id, ok=False, reason="not an approved request")
        if record["status"] == "approved":
            self._cancelling[request_id] = asyncio.Event()
            try:
                answer: Cancelled = await ctx.send(self.manager, message)
                if not answer.ok:
                    return answer
                record = self._update(request_id, status="cancelled")
            finally:
                self._cancelling.pop(request_id).set()
            await self._tell(TimeOffCancelled(request_id=message.request_id, employee=self.id.key,
                                              days=record["days"]), ctx)
        return Cancelled(request_id=request_id, ok=True)

    # Read-only and answered at once: it may run while a request or a cancel of this employee is under way.
    @handler(interleave=True)
    async def on_requests(self, message: GetRequests, ctx: MessageContext) -> Requests:
        refuse_unless(for_a_person(ctx), ctx, f"read the requests of {self.id}",
                      "only a driver acting for a person reads them")
        wanted = [message.request_id] if message.request_id is not None else sorted(self.requests)
        return Requests(employee=self.id.key, requests=[_view(rid, self.requests[rid]) for rid in wanted
                                                        if rid in self.requests])

    @handler
    async def on_notice(self, message: TimeOffNotice, ctx: MessageContext) -> None:
        check_notice(message, ctx, self.id)
        self._heard(f"{message.request_id}|{ctx.topic}")

    @handler
    async def on_notice_cancelled(self, message: TimeOffCancelled, ctx: MessageContext) -> None:
        check_notice(message, ctx, self.id)
        self._heard(f"{message.request_id}|{ctx.topic}|cancelled")

    async def _tell(self, notice: TimeOffNotice | TimeOffCancelled, ctx: MessageContext) -> None:
        """The department and everyone sharing a task hear who is off when; never why, never balances."""
        me = self.profile
        await ctx.publish(TopicId("department", me.department), notice)
        for task in me.tasks:
            await ctx.publish(TopicId("task", task), notice)

    def _decided(self, request_id: str) -> bool:
        return self.requests[request_id]["status"] in TERMINAL

    def _finish(self, request_id: str, status: str, reason: str | None, detail: str | None = None) -> RequestOutcome:
        self._update(request_id, status=status, reason=reason, detail=detail)
        REQUESTS.inc(status=status, reason=reason or "")
        return self._outcome(request_id)

    def _outcome(self, request_id: str) -> RequestOutcome:
        record = self.requests[request_id]
        status = record["status"] if record["status"] in ("approved", "rejected", "waiting") else "rejected"
        reason = "cancelled" if record["status"] == "cancelled" else record["reason"]  # said to a late retry
        return RequestOutcome(request_id=request_id, employee=self.id.key, status=status,
                              reason=reason, detail=record["detail"], days=record["days"],
                              balance=record["balance"])

    def _update(self, request_id: str, **changes: Any) -> dict[str, Any]:
        record = self.requests[request_id]
        if changes.get("status", record["status"]) != record["status"]:  # each status it had, for whoever watches
            changes["history"] = [*record.get("history", [record["status"]]), changes["status"]]
        record = self.requests[request_id] = record | changes
        return record

    def _heard(self, key: str) -> None:
        self.task_notices[key] = self.task_notices.get(key, 0) + 1

    def save_state(self) -> dict[str, Any]:
        return {"requests": self.requests, "task_notices": self.task_notices, "refused": self.refused}

    def load_state(self, state: dict[str, Any]) -> None:
        self.requests = StateMap.loaded({rid: r | {"days": [date.fromisoformat(d) for d in r["days"]]}
                                  for rid, r in state.get("requests", {}).items()})
        self.task_notices, self.refused = StateMap.loaded(state.get("task_notices", {})), state.get("refused", [])

    @inspectable
    def report(self) -> dict[str, Any]:
        return employee_report(self.requests, self.task_notices, self.refused)


def _view(request_id: str, record: dict[str, Any]) -> RequestView:
    return RequestView(request_id=request_id, text=record.get("text"), status=record["status"],
                       reason=record["reason"], detail=record["detail"], days=record["days"],
                       balance=record["balance"], history=record.get("history", [record["status"]]))


def employee_report(requests: dict[str, dict[str, Any]], task_notices: dict[str, int],
                    refused: list[dict[str, Any]]) -> dict[str, Any]:
    """What the invariant checker reads: every request's status, its record (status, reason, days), and the
    task notices received. ``requests`` as an agent holds them (days as dates) or as stored (as strings)."""
    return {
        "requests": {rid: r["status"] for rid, r in requests.items()},
        "records": {rid: {"status": r["status"], "reason": r["reason"], "days": [str(d) for d in r["days"]]}
                    for rid, r in requests.items()},
        "task_notices": dict(task_notices),
        "refused": list(refused),
    }
