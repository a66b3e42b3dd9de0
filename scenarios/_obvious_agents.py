"""The PTO agents as a user who read only README would write them: every handler serial, the default.

Same code as the app's agents (``actors/``); only the ``interleave=True`` marks are gone, but one: the
employee's request handler. It awaits the manager, whose ``Decision`` comes back to the same employee as a
message of its own; were the request serial, it would hold the mailbox the decision must enter (a serial
item holds back everything behind it, interleaving or not), and every approval would wait for the manager's
call to time out. So the obvious program, to run at all, keeps that one mark."""

from __future__ import annotations

from actors.date_resolver import DateResolver
from actors.employee import Employee
from actors.hr import Hr
from actors.manager import Manager
from actors.messages import (
    Cancelled,
    CancelRequest,
    Commit,
    Decision,
    Done,
    HoldPlaced,
    PlaceHold,
    PtoRequest,
    Release,
    ResolveDates,
    ResolvedDates,
    RevokeApproval,
)
from cluster import MessageContext, handler

__all__ = ["AGENT_TYPES", "SerialDates", "SerialEmployee", "SerialHr", "SerialManager"]


class SerialEmployee(Employee):
    """Its request handler keeps its mark, the one the flow cannot do without (see the module's docstring)."""

    @handler
    async def on_cancel(self, message: CancelRequest, ctx: MessageContext) -> Cancelled:
        return await super().on_cancel(message, ctx)


class SerialManager(Manager):
    @handler
    async def on_request(self, message: PtoRequest, ctx: MessageContext) -> Decision:
        return await super().on_request(message, ctx)

    @handler
    async def on_cancel(self, message: CancelRequest, ctx: MessageContext) -> Cancelled:
        return await super().on_cancel(message, ctx)


class SerialDates(DateResolver):
    @handler
    async def on_resolve(self, message: ResolveDates, ctx: MessageContext) -> ResolvedDates:
        return await super().on_resolve(message, ctx)


class SerialHr(Hr):
    @handler
    async def on_hold(self, message: PlaceHold, ctx: MessageContext) -> HoldPlaced:
        return await super().on_hold(message, ctx)

    @handler
    async def on_commit(self, message: Commit, ctx: MessageContext) -> Done:
        return await super().on_commit(message, ctx)

    @handler
    async def on_release(self, message: Release, ctx: MessageContext) -> Done:
        return await super().on_release(message, ctx)

    @handler
    async def on_revoke(self, message: RevokeApproval, ctx: MessageContext) -> Done:
        return await super().on_revoke(message, ctx)


AGENT_TYPES = {
    "employee": "scenarios._obvious_agents:SerialEmployee",
    "manager": "scenarios._obvious_agents:SerialManager",
    "dates": "scenarios._obvious_agents:SerialDates",
    "hr": "scenarios._obvious_agents:SerialHr",
}
