"""The AutoGen agents of scenarios.autogen_bench (importable by Ray workers: plain autogen-core agents)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autogen_core import MessageContext, RoutedAgent, TopicId, message_handler


@dataclass
class Job:
    n: int


@dataclass
class Done:
    n: int


@dataclass
class Tick:
    hop: int
    depth: int


class Counting(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("counts what it handles")
        self.count = 0

    async def save_state(self) -> dict[str, Any]:
        return {"count": self.count}

    async def load_state(self, state: Any) -> None:
        self.count = state["count"]


class Worker(Counting):
    """Request: answers every Job."""

    @message_handler
    async def on_job(self, message: Job, ctx: MessageContext) -> Done:
        self.count += 1
        return Done(message.n)


class Stage(Counting):
    """Fan-out and cascade: counts a Tick and, below its depth, publishes it on to the next stage's topic."""

    @message_handler
    async def on_tick(self, message: Tick, ctx: MessageContext) -> None:
        self.count += 1
        if message.hop + 1 < message.depth and ctx.topic_id is not None:
            await self.publish_message(Tick(message.hop + 1, message.depth),
                                       TopicId(f"stage{message.hop + 1}", ctx.topic_id.source))
