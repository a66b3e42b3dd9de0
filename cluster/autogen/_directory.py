"""The directory: a raybus agent (``autogen.directory/main``, on a host of the runtime's pool) that owns
the AutoGen subscriptions of a namespace, applying them to the bus through a ``Runtime`` of its own; sees
each topic type before its first publish (prefix subscriptions); and counts the publish deliveries not
yet handled, which is what ``stop_when_idle`` waits on.

Subscribing is the namespace admin's alone: the AutoGen runtime's driver (the admin) hands the directory its
credential with each type it registers (kept in memory, and in the agent's state with a ``state_dir``), and
the directory takes changes only from the namespace's agents and its admin."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from cluster import (
    Agent,
    AgentId,
    MemberSubscription,
    MessageContext,
    NotAuthorized,
    Runtime,
    TopicId,
    TypeSubscription,
    handler,
)

from ._names import encode_part
from ._subscriptions import Entry, SubscriptionBook

__all__ = ["DIRECTORY", "DIRECTORY_TYPE", "DirAnswer", "DirDone", "DirMember", "DirRegistered", "DirSubscribe",
           "DirUnsubscribe", "DirWaitIdle", "DirWillPublish", "DirectoryAgent"]

DIRECTORY_TYPE = "autogen.directory"
DIRECTORY = AgentId(DIRECTORY_TYPE, "main")


class DirRegistered(BaseModel):
    agent_type: str
    credential: str = ""  # the admin's, to change subscriptions with


class DirSubscribe(BaseModel):
    id: str
    prefix: bool
    topic_type: str
    agent_type: str


class DirUnsubscribe(BaseModel):
    id: str


class DirMember(BaseModel):
    topic_type: str
    source: str
    agent_type: str
    agent_key: str
    credential: str = ""  # the admin's, to change subscriptions with


class DirWillPublish(BaseModel):
    topic_type: str
    source: str
    sender: str = ""  # AutoGen agent id, "" for none


class DirDone(BaseModel):
    n: int


class DirWaitIdle(BaseModel):
    timeout: float


class DirAnswer(BaseModel):
    count: int = 0
    error: str = ""  # a ValueError's text, raised again at the caller as AutoGen does


class DirectoryAgent(Agent):
    def __init__(self) -> None:
        self.book = SubscriptionBook()
        self.applied: set[tuple[str, str]] = set()
        self.pending = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.credential = ""
        self._rt: Runtime | None = None

    def save_state(self) -> dict[str, Any] | None:
        """With a state_dir the book survives a restart of the directory's host (what is not yet handled
        is not kept: ``stop_when_idle`` counts from zero again)."""
        return {"book": self.book.to_state(), "applied": sorted(self.applied), "credential": self.credential}

    def load_state(self, state: dict[str, Any]) -> None:
        self.book = SubscriptionBook.from_state(state["book"])
        self.applied = {(t, a) for t, a in state["applied"]}
        self.credential = state.get("credential", "")

    def _runtime(self) -> Runtime:
        if self._rt is None:
            self._rt = Runtime.connect(namespace=self.config["namespace"], credential=self.credential or None)
        return self._rt

    def _admitted(self, ctx: MessageContext, credential: str = "") -> None:
        """Changes come from the namespace's agents or its admin, never from another driver; the admin's
        credential, when it comes with one, is what the changes are made with."""
        if ctx.sender is None and not (ctx.principal is not None and ctx.principal.is_admin):
            raise NotAuthorized(f"{ctx.principal} may not change the AutoGen subscriptions of {self.id}")
        if credential and credential != self.credential:
            self.credential, self._rt = credential, None

    async def _apply(self) -> None:
        """Make the bus hold exactly what the book wants (handlers that call this are serial)."""
        wanted = self.book.wanted()
        add = [TypeSubscription(encode_part(t), a) for t, a in sorted(wanted - self.applied)]
        drop = [TypeSubscription(encode_part(t), a) for t, a in sorted(self.applied - wanted)]
        if add or drop:
            rt = await asyncio.to_thread(self._runtime)
            await asyncio.to_thread(rt.subscribe, *add)
            await asyncio.to_thread(rt.unsubscribe, *drop)
        self.applied = wanted

    @handler
    async def on_registered(self, msg: DirRegistered, ctx: MessageContext) -> DirAnswer:
        self._admitted(ctx, msg.credential)
        self.book.registered.add(msg.agent_type)
        await self._apply()
        return DirAnswer()

    async def _change(self, change: Callable[[], None]) -> DirAnswer:
        """Change the book and apply it; AutoGen's ValueError (a duplicate, an unknown id) goes back as text."""
        try:
            change()
        except ValueError as exc:
            return DirAnswer(error=str(exc))
        await self._apply()
        return DirAnswer()

    @handler
    async def on_subscribe(self, msg: DirSubscribe, ctx: MessageContext) -> DirAnswer:
        self._admitted(ctx)
        return await self._change(lambda: self.book.add(Entry(msg.id, msg.prefix, msg.topic_type, msg.agent_type)))

    @handler
    async def on_unsubscribe(self, msg: DirUnsubscribe, ctx: MessageContext) -> DirAnswer:
        self._admitted(ctx)
        return await self._change(lambda: self.book.remove(msg.id))

    @handler
    async def on_member(self, msg: DirMember, ctx: MessageContext) -> DirAnswer:
        from autogen_core import AgentId as AgAgentId

        self._admitted(ctx, msg.credential)
        self.book.members.setdefault((msg.topic_type, msg.source), set()).add(AgAgentId(msg.agent_type, msg.agent_key))
        member = MemberSubscription(TopicId(encode_part(msg.topic_type), encode_part(msg.source)),
                                    AgentId(msg.agent_type, encode_part(msg.agent_key)))
        rt = await asyncio.to_thread(self._runtime)
        await asyncio.to_thread(rt.subscribe, member)
        return DirAnswer()

    @handler
    async def on_will_publish(self, msg: DirWillPublish, ctx: MessageContext) -> DirAnswer:
        """Before a publish: its topic type is known (prefix subscriptions applied), its deliveries counted."""
        from autogen_core import AgentId as AgAgentId

        if msg.topic_type not in self.book.topic_types:
            self.book.topic_types.add(msg.topic_type)
            await self._apply()
        sender = AgAgentId.from_str(msg.sender) if msg.sender else None
        count = len(self.book.recipients(msg.topic_type, msg.source, sender))
        self._count(count)
        return DirAnswer(count=count)

    def _count(self, n: int) -> None:
        self.pending = max(0, self.pending + n)
        if self.pending == 0:
            self.idle.set()
        else:
            self.idle.clear()

    @handler(interleave=True)
    async def on_done(self, msg: DirDone, ctx: MessageContext) -> None:
        self._count(-msg.n)

    @handler(interleave=True)
    async def on_wait_idle(self, msg: DirWaitIdle, ctx: MessageContext) -> DirAnswer:
        """Wait (up to ``timeout``) until no counted delivery is left; answers how many are."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), msg.timeout)
        return DirAnswer(count=self.pending)
