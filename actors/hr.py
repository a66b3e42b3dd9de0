"""The hr agent: the system of record for one department's balances, in its own ledger (a SQLite file, or a
schema of a PostgreSQL database). A ledger on a server is called off the host's event loop.

Its handlers interleave, but every change goes through the agent's ``LedgerQueue`` in the order the messages
arrived, each in a transaction with the changes asked at the same time, each seeing those before it: what
the serial mailbox gave (one change at a time, in arrival order), without holding the department to one
round trip to a server per change. Who may decide a request is checked in the transaction of its move."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from cluster import Agent, AgentId, MessageContext, handler, inspectable

from ._config import org_of
from ._guard import for_a_person, refuse_unless
from .audit import DecisionAudit
from .hr_store import HrStore
from .ledger_changes import NOT_ALLOWED, Hold, Move
from .ledger_queue import LedgerQueue
from .ledgers import Ledgers
from .messages import Commit, Done, HoldPlaced, PlaceHold, Release, RevokeApproval
from .queries import Balance, GetBalance

__all__ = ["Hr", "hr_report"]

T = TypeVar("T")


class Hr(Agent):
    store: HrStore
    ledger: LedgerQueue
    reports: dict[AgentId, frozenset[str]]  # by manager: its employees in this department

    async def on_start(self) -> None:
        org = org_of(self.config)
        if self.id.key not in org.departments:
            raise LookupError(f"unknown department {self.id.key!r}: not in the org")
        self.store = await asyncio.to_thread(Ledgers(self.config["hr"], self.config["run"]).open, self.id.key)
        self.ledger = LedgerQueue(self.store, together=any(info.interleave for info in self.handlers.values()))
        employees = org.staff_of(self.id.key)
        self.reports = {manager: frozenset(e.id for e in employees if AgentId("manager", e.manager) == manager)
                        for manager in {AgentId("manager", e.manager) for e in employees}}
        await self._ledger(self.store.add_employees, {e.id: e.starting_balance for e in employees})

    async def on_stop(self) -> None:
        """Deactivated for being idle: its ledger connection goes (the next activation opens one)."""
        await self._ledger(self.store.close)

    async def _ledger(self, method: Callable[..., T], *args: Any) -> T:
        """A call of the ledger: in a thread when it goes to a server, where a file's would cost more than it
        saves."""
        return await asyncio.to_thread(method, *args) if self.store.remote else method(*args)

    @handler(interleave=True)
    async def on_hold(self, message: PlaceHold, ctx: MessageContext) -> HoldPlaced:
        employee = org_of(self.config).employees.get(message.employee)
        refuse_unless(ctx.sender == AgentId("employee", message.employee) and employee is not None
                      and employee.department == self.id.key, ctx,
                      f"place a hold for {message.employee} at {self.id}",
                      "an employee of the department holds days only for itself")
        result = await self.ledger.make(Hold(message.request_id, message.employee, tuple(message.days)))
        return HoldPlaced(request_id=message.request_id, ok=result.ok, reason=result.reason,
                          balance=result.balance)

    # The audit names the decider as the runtime stamped the message's sender: a message cannot claim one.
    @handler(interleave=True)
    async def on_commit(self, message: Commit, ctx: MessageContext) -> Done:
        return await self._move("commit", message, ctx, message.decision)

    @handler(interleave=True)
    async def on_release(self, message: Release, ctx: MessageContext) -> Done:
        return await self._move("release", message, ctx, message.decision)

    @handler(interleave=True)
    async def on_revoke(self, message: RevokeApproval, ctx: MessageContext) -> Done:
        return await self._move("cancel", message, ctx)

    async def _move(self, kind: Literal["commit", "release", "cancel"], message: Commit | Release | RevokeApproval,
                    ctx: MessageContext, decision: DecisionAudit | None = None) -> Done:
        """Only the manager of the request's employee (as hr recorded it with the hold, never as the message
        says) changes what hr holds for it; for a request hr does not know, a manager of the department."""
        allowed = self.reports.get(ctx.sender, frozenset()) if ctx.sender is not None else frozenset()
        result = await self.ledger.make(Move(kind, message.request_id, _sender(ctx), decision, allowed))
        refuse_unless(result.reason != NOT_ALLOWED, ctx,
                      f"{type(message).__name__} request {message.request_id!r} at {self.id}",
                      "only the manager of the request's employee decides")
        return _done(message.request_id, result)

    @handler
    async def on_balance(self, message: GetBalance, ctx: MessageContext) -> Balance:
        employee = org_of(self.config).employees.get(message.employee)
        refuse_unless(for_a_person(ctx) and employee is not None and employee.department == self.id.key, ctx,
                      f"read the balance of {message.employee} at {self.id}",
                      "only a driver acting for a person reads a balance of the department")
        wanted = message.employee
        return Balance(employee=wanted, balance=await self._ledger(self.store.balance, wanted),
                       held=await self._ledger(self.store.held_days, wanted),
                       available=await self._ledger(self.store.available, wanted))

    @inspectable
    async def snapshot(self) -> dict[str, Any]:
        """What the invariant checker reads (see ``hr_report``)."""
        employees = [e.id for e in org_of(self.config).staff_of(self.id.key)]
        return await self._ledger(hr_report, self.store, employees)


def hr_report(store: HrStore, employees: list[str]) -> dict[str, Any]:
    """The store's own reconciliation, every request, the balances of ``employees`` and every audit row
    (request, employee, approved, decided by, cancelled by), as the invariant checker reads them."""
    return {
        "violations": store.reconcile(),
        "requests": {r.request_id: (r.employee, r.status, [d.isoformat() for d in r.days])
                     for r in store.requests()},
        "balances": {e: store.balance(e) for e in employees},
        "decisions": [(r.request_id, r.employee, r.approved, r.decided_by, r.cancelled_by)
                      for r in store.decisions()],
    }


def _sender(ctx: MessageContext) -> str | None:
    return None if ctx.sender is None else str(ctx.sender)


def _done(request_id: str, result: Any) -> Done:
    return Done(request_id=request_id, ok=result.ok, reason=result.reason)
