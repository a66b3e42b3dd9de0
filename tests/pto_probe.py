"""Agents the PTO tests add next to the real ones: a probe that keeps every notice it hears, verbatim,
a forger that sends a Decision it has no right to send, and a rogue employee: the real employee agent that
also sends, as itself, whatever PTO message a driver tells it to. Ray workers import this module (tests/ is on
their PYTHONPATH), so it must stay importable on its own and free of test-only imports."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from actors import messages
from actors.employee import Employee
from actors.messages import Cancelled, Decision, Done, HoldPlaced, TimeOffNotice
from cluster import Agent, AgentId, MessageContext, handler, inspectable


class Forge(BaseModel):
    """Driver → forger: send ``decision`` to ``employee`` as if it were the manager's."""

    employee: str
    decision: Decision


class NoticeProbe(Agent):
    def __init__(self) -> None:
        self.heard: list[dict[str, Any]] = []

    @handler
    async def on_notice(self, message: TimeOffNotice, ctx: MessageContext) -> None:
        self.heard.append({"topic": str(ctx.topic), "fields": message.model_dump(mode="json")})

    @inspectable
    def notices(self) -> list[dict[str, Any]]:
        return list(self.heard)


class Forger(Agent):
    @handler
    async def on_forge(self, message: Forge, ctx: MessageContext) -> Done:
        return await ctx.send(AgentId("employee", message.employee), message.decision)


class Relay(BaseModel):
    """Driver → rogue employee: send ``messages.<kind>(**fields)`` to ``target``, as yourself, or, with
    ``posing_as``, as that agent (through the port behind the context, or by rewriting the context's own id)."""

    target: str
    kind: str
    fields: dict[str, Any]
    posing_as: str = ""
    via: str = "port"  # or "context"


class RogueEmployee(Employee):
    @handler
    async def on_relay(self, message: Relay, ctx: MessageContext) -> HoldPlaced | Done | Cancelled:
        relayed = getattr(messages, message.kind).model_validate(message.fields)
        target = AgentId.from_str(message.target)
        if message.posing_as and message.via == "port":
            return await ctx._port.send(message.posing_as, target, relayed, ctx.trace_id, 30.0)
        if message.posing_as:
            ctx._self_id = message.posing_as
        return await ctx.send(target, relayed)
