"""Agents that stay in the registering process (closures, ``ClosureAgent``, factories holding local queues,
registered instances). Their raybus proxies hand each message to this process's inbox, a raybus agent
(``autogen.inbox/<driver>``); the driver takes them by long poll while the runtime is started, runs each
as its own task, and answers."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from autogen_core import AgentId as AgAgentId
from pydantic import BaseModel

from cluster import Agent, AgentId, MessageContext, handler

from ._carriers import AutogenDelivery
from ._cell import AgentCell, build_agent
from ._codec import Codec, failure
from ._names import from_raybus_agent
from ._quiet import Quiet

__all__ = ["INBOX_TYPE", "InboxAgent", "InboxAnswer", "InboxItem", "LocalAgents"]

log = logging.getLogger("raybus.autogen")
INBOX_TYPE = "autogen.inbox"


class InboxItem(BaseModel):
    agent_id: str  # raybus id of the local agent
    kind: str  # delivery | cancel | control
    payload: dict[str, Any]
    sender: str = ""
    call_id: int = 0


class InboxResult(BaseModel):
    result: dict[str, Any] | None = None


class InboxTake(BaseModel):
    timeout: float
    session: str  # one per start(): a new one takes again what an old one took but did not answer


class InboxItems(BaseModel):
    items: list[InboxItem]


class InboxAnswer(BaseModel):
    call_id: int
    result: dict[str, Any] | None = None


class InboxAgent(Agent):
    """Proxies ``deliver`` and wait; the driver ``take``s and ``answer``s. Every handler interleaves.
    An item stays until answered: a driver that stopped and started again gets back what it had taken."""

    def __init__(self) -> None:
        self.unanswered: dict[int, InboxItem] = {}
        self.queue: list[int] = []
        self.waiting: dict[int, asyncio.Future] = {}
        self.ready = asyncio.Event()
        self.session = ""
        self.next_id = 0

    @handler(interleave=True)
    async def on_item(self, msg: InboxItem, ctx: MessageContext) -> InboxResult:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self.unanswered[self.next_id] = msg.model_copy(update={"call_id": self.next_id})
        self.queue.append(self.next_id)
        self.ready.set()
        return InboxResult(result=await future)

    @handler(interleave=True)
    async def on_take(self, msg: InboxTake, ctx: MessageContext) -> InboxItems:
        if msg.session != self.session:
            self.session = msg.session
            self.queue = sorted(self.unanswered)
            self.ready.set()  # an older session's take wakes, sees it is stale, and takes nothing
        if not self.queue:
            self.ready.clear()
            try:
                await asyncio.wait_for(self.ready.wait(), msg.timeout)
            except TimeoutError:
                return InboxItems(items=[])
        if msg.session != self.session:
            return InboxItems(items=[])
        taken, self.queue = self.queue, []
        self.ready.clear()
        return InboxItems(items=[self.unanswered[i] for i in taken if i in self.unanswered])

    @handler(interleave=True)
    async def on_answer(self, msg: InboxAnswer, ctx: MessageContext) -> None:
        self.unanswered.pop(msg.call_id, None)
        future = self.waiting.pop(msg.call_id, None)
        if future is not None and not future.done():
            future.set_result(msg.result)


class LocalAgents:
    def __init__(self, runtime: Any, codec: Codec, interventions: list[Any]) -> None:
        self.runtime = runtime
        self.codec = codec
        self.interventions = interventions
        self.factories: dict[str, tuple[Any, type | None]] = {}
        self.cells: dict[AgAgentId, AgentCell] = {}
        self.building: dict[AgAgentId, asyncio.Future] = {}
        self.working = Quiet()
        self._pump: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.running: set[int] = set()

    async def cell(self, agent_id: AgAgentId) -> AgentCell:
        found = self.cells.get(agent_id)
        if found is not None:
            return found
        if agent_id.type not in self.factories:
            raise LookupError(f"Agent with name {agent_id.type} not found.")
        if agent_id not in self.building:  # two first messages at once build one agent
            factory, expected = self.factories[agent_id.type]
            self.building[agent_id] = asyncio.ensure_future(build_agent(factory, expected, self.runtime, agent_id))
        try:
            agent = await self.building[agent_id]
        finally:
            self.building.pop(agent_id, None)
        return self.cells.setdefault(agent_id, AgentCell(agent, self.codec, self.interventions))

    def add_instance(self, agent: Any, agent_id: AgAgentId) -> None:
        self.cells[agent_id] = AgentCell(agent, self.codec, self.interventions)

    def start(self, raybus: Any, inbox: AgentId) -> None:
        if self._pump is None or self._pump.done():  # done: its event loop ended (asyncio.run returned)
            self._pump = asyncio.ensure_future(self._take(raybus, inbox))

    async def stop(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done():
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    async def _take(self, raybus: Any, inbox: AgentId) -> None:
        session = uuid.uuid4().hex
        while True:
            taken: InboxItems = await raybus.send(inbox, InboxTake(timeout=10.0, session=session), timeout=60.0)
            for item in taken.items:
                if item.call_id in self.running:  # taken again by a new session while still at work here
                    continue
                self.running.add(item.call_id)
                self.working.enter()
                task = asyncio.ensure_future(self._handle(raybus, inbox, item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _handle(self, raybus: Any, inbox: AgentId, item: InboxItem) -> None:
        result: Any = None
        try:
            cell = await self.cell(from_raybus_agent(item.agent_id))
            if item.kind == "delivery":
                delivery = AutogenDelivery.model_validate(item.payload)
                sender = AgAgentId.from_str(item.sender) if item.sender else None
                result = (await cell.deliver(delivery, sender)).model_dump()
            elif item.kind == "cancel":
                cell.cancel(item.payload["message_id"])
            else:
                result = {"data": await cell.control(item.payload["op"], item.payload["state"])}
        except Exception as exc:
            if item.kind == "delivery":
                log.warning("local agent %s failed on a publish: %r", item.agent_id, exc)
            result = failure(exc).model_dump()
        finally:
            try:
                await raybus.send(inbox, InboxAnswer(call_id=item.call_id, result=result))
            finally:
                self.running.discard(item.call_id)
                self.working.leave()
