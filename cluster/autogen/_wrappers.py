"""The raybus agents that carry AutoGen agents.

``HostedAutogenAgent`` runs the AutoGen agent on its raybus host. ``LocalAutogenProxy`` stands on a host
for an agent that stays in the registering process, and hands each message to that process's inbox.
Both let every handler interleave: AutoGen's runtime runs each delivery as its own task, so an agent may
be re-entered (A awaits B, which awaits A, completes as under AutoGen). Both relay what the driver sends
or publishes *as* the agent (``AutogenRelay``), so raybus stamps the agent as its sender."""

from __future__ import annotations

import asyncio
from typing import Any

from autogen_core import AgentId as AgAgentId

from cluster import Agent, AgentId, MessageContext, TopicId, handler

from ._carriers import (
    AutogenCancel,
    AutogenControl,
    AutogenControlReply,
    AutogenDelivery,
    AutogenOutcome,
    AutogenRelay,
)
from ._cell import AgentCell, build_agent
from ._codec import Codec, exception_of
from ._directory import DIRECTORY, DirDone
from ._hosted_runtime import CURRENT, LIVE, HostedRuntime
from ._local import INBOX_TYPE, InboxItem
from ._names import from_raybus_agent
from ._spec import TypeSpec, spec_of

__all__ = ["HostedAutogenAgent", "LocalAutogenProxy"]


def _sender(delivery: AutogenDelivery, ctx: MessageContext) -> AgAgentId | None:
    if ctx.sender is not None:
        return from_raybus_agent(ctx.sender)
    return AgAgentId.from_str(delivery.claimed_sender) if delivery.claimed_sender else None


async def _relay(msg: AutogenRelay, ctx: MessageContext) -> AutogenOutcome:
    if msg.cancel:
        await ctx.send(AgentId.from_str(msg.to), AutogenCancel(message_id=msg.cancel), timeout=msg.timeout)
        return AutogenOutcome()
    assert msg.delivery is not None
    if msg.delivery.rpc:
        return await ctx.send(AgentId.from_str(msg.to), msg.delivery, timeout=msg.timeout)
    await ctx.publish(TopicId.from_str(msg.to), msg.delivery)
    return AutogenOutcome()


_telling: set[asyncio.Task] = set()


def _tell_done(ctx: MessageContext) -> None:
    """A counted publish copy is handled. Not awaited: it leaves after the handler's own publishes were
    counted (awaited in the handler), and raybus keeps one sender's messages to one recipient in order."""
    task = asyncio.ensure_future(ctx.send(DIRECTORY, DirDone(n=1)))
    _telling.add(task)
    task.add_done_callback(_telling.discard)


class HostedAutogenAgent(Agent):
    def __init__(self) -> None:
        self.cell: AgentCell | None = None
        self.spec: TypeSpec | None = None
        self.runtime: HostedRuntime | None = None
        self.loaded: dict[str, Any] | None = None
        self.snapshot: dict[str, Any] | None = None

    async def on_start(self) -> None:
        self.spec = spec_of(self.config)
        codec = Codec()
        self.runtime = HostedRuntime(self.spec, codec)
        agent = await build_agent(self.spec.factory, self.spec.expected_class, self.runtime,
                                  from_raybus_agent(self.id))
        self.cell = AgentCell(agent, codec, self.spec.interventions)
        if self.loaded is not None:
            await agent.load_state(self.loaded)
        LIVE[str(self.id)] = agent

    def save_state(self) -> dict[str, Any] | None:
        return None if self.snapshot is None else {"autogen": self.snapshot}

    def load_state(self, state: dict[str, Any]) -> None:
        self.loaded = self.snapshot = state.get("autogen")

    async def _snap(self) -> None:
        """raybus saves state synchronously after a message; AutoGen's ``save_state`` is async: take it here."""
        if self.spec is not None and self.spec.durable and self.cell is not None and self.cell.keeps_state:
            self.snapshot = dict(await self.cell.agent.save_state())

    @handler(interleave=True)
    async def on_delivery(self, msg: AutogenDelivery, ctx: MessageContext) -> AutogenOutcome:
        assert self.cell is not None and self.runtime is not None and self.spec is not None
        self.runtime.port.last = ctx
        token = CURRENT.set(ctx)
        try:
            outcome = await self.cell.deliver(msg, _sender(msg, ctx))
        finally:
            CURRENT.reset(token)
            if msg.counted:
                _tell_done(ctx)
        await self._snap()
        return outcome

    @handler(interleave=True)
    async def on_cancel(self, msg: AutogenCancel, ctx: MessageContext) -> None:
        assert self.cell is not None
        self.cell.cancel(msg.message_id)

    @handler(interleave=True)
    async def on_control(self, msg: AutogenControl, ctx: MessageContext) -> AutogenControlReply:
        assert self.cell is not None
        data = await self.cell.control(msg.op, msg.state)
        if msg.op == "load":
            await self._snap()
        return AutogenControlReply(data=data)

    @handler(interleave=True)
    async def on_relay(self, msg: AutogenRelay, ctx: MessageContext) -> AutogenOutcome:
        return await _relay(msg, ctx)


class LocalAutogenProxy(Agent):
    async def on_start(self) -> None:
        self.spec = spec_of(self.config)

    async def _forward(self, kind: str, msg: Any, ctx: MessageContext) -> dict[str, Any] | None:
        sender = str(_sender(msg, ctx)) if isinstance(msg, AutogenDelivery) and _sender(msg, ctx) else ""
        item = InboxItem(agent_id=str(self.id), kind=kind, payload=msg.model_dump(), sender=sender)
        answer = await ctx.send(AgentId(INBOX_TYPE, self.spec.inbox), item, timeout=self.spec.send_timeout)
        return answer.result

    @handler(interleave=True)
    async def on_delivery(self, msg: AutogenDelivery, ctx: MessageContext) -> AutogenOutcome:
        try:
            outcome = AutogenOutcome.model_validate(await self._forward("delivery", msg, ctx))
        finally:
            if msg.counted:
                _tell_done(ctx)
        if not msg.rpc and not outcome.ok:
            raise exception_of(outcome)  # a publish's failure: raybus records it as a dead letter
        return outcome

    @handler(interleave=True)
    async def on_cancel(self, msg: AutogenCancel, ctx: MessageContext) -> None:
        await self._forward("cancel", msg, ctx)

    @handler(interleave=True)
    async def on_control(self, msg: AutogenControl, ctx: MessageContext) -> AutogenControlReply:
        answer = await self._forward("control", msg, ctx)
        if answer is not None and answer.get("ok") is False:
            raise exception_of(AutogenOutcome.model_validate(answer))
        return AutogenControlReply.model_validate(answer)

    @handler(interleave=True)
    async def on_relay(self, msg: AutogenRelay, ctx: MessageContext) -> AutogenOutcome:
        return await _relay(msg, ctx)
