"""Agents that stay in the registering process (closures, ``ClosureAgent``, factories holding local queues,
registered instances). Their raybus proxies hand each message to this process's ``Inbox`` actor; the
driver takes them by long poll while the runtime is started, runs each as its own task, and answers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
from autogen_core import AgentId as AgAgentId

from ._carriers import AutogenDelivery
from ._cell import AgentCell, build_agent
from ._codec import Codec, failure
from ._names import from_raybus_agent

__all__ = ["Inbox", "LocalAgents", "start_inbox"]

log = logging.getLogger("raybus.autogen")


class Inbox:
    """A Ray actor: proxies ``deliver`` and wait; the driver ``take``s and ``answer``s."""

    def __init__(self) -> None:
        self.items: list[tuple] = []
        self.waiting: dict[int, asyncio.Future] = {}
        self.ready = asyncio.Event()
        self.next_id = 0

    async def deliver(self, agent_id: str, kind: str, payload: dict[str, Any], sender: str) -> Any:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self.items.append((self.next_id, agent_id, kind, payload, sender))
        self.ready.set()
        return await future

    async def take(self, timeout: float) -> list[tuple]:
        if not self.items:
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except TimeoutError:
                return []
        items, self.items = self.items, []
        self.ready.clear()
        return items

    async def answer(self, call_id: int, result: Any) -> None:
        future = self.waiting.pop(call_id, None)
        if future is not None and not future.done():
            future.set_result(result)


def start_inbox(name: str, namespace: str) -> Any:
    return ray.remote(Inbox).options(name=name, namespace=namespace, num_cpus=0,
                                     max_concurrency=100_000).remote()


class LocalAgents:
    def __init__(self, runtime: Any, codec: Codec, interventions: list[Any]) -> None:
        self.runtime = runtime
        self.codec = codec
        self.interventions = interventions
        self.factories: dict[str, tuple[Any, type | None]] = {}
        self.cells: dict[AgAgentId, AgentCell] = {}
        self.building: dict[AgAgentId, asyncio.Task] = {}
        self.busy = 0
        self.quiet = asyncio.Event()
        self.quiet.set()
        self._pump: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

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

    def start(self, inbox: Any) -> None:
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._take(inbox))

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None

    async def _take(self, inbox: Any) -> None:
        while True:
            for item in await inbox.take.remote(10.0):
                self._enter()
                task = asyncio.ensure_future(self._handle(inbox, *item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _enter(self) -> None:
        self.busy += 1
        self.quiet.clear()

    def _leave(self) -> None:
        self.busy -= 1
        if self.busy == 0:
            self.quiet.set()

    async def _handle(self, inbox: Any, call_id: int, agent_id: str, kind: str, payload: dict[str, Any],
                      sender: str) -> None:
        result: Any = None
        try:
            cell = await self.cell(from_raybus_agent(agent_id))
            if kind == "delivery":
                delivery = AutogenDelivery.model_validate(payload)
                result = (await cell.deliver(delivery, AgAgentId.from_str(sender) if sender else None)).model_dump()
            elif kind == "cancel":
                cell.cancel(payload["message_id"])
            else:
                result = {"data": await cell.control(payload["op"], payload["state"])}
        except Exception as exc:
            if kind == "delivery":
                log.warning("local agent %s failed on a publish: %r", agent_id, exc)
            result = failure(exc).model_dump()
        finally:
            inbox.answer.remote(call_id, result)
            self._leave()
