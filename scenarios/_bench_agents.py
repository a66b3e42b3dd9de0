"""Agents and messages of the bus benchmark (importable, so every Ray worker can build them)."""

from __future__ import annotations

from pydantic import BaseModel

from cluster import Agent, MessageContext, handler

__all__ = ["Count", "Counted", "Echo", "Ping", "Pong", "RawSink", "Sink", "Tick"]


class Ping(BaseModel):
    n: int


class Pong(BaseModel):
    n: int


class Tick(BaseModel):
    n: int


class Count(BaseModel):
    pass


class Counted(BaseModel):
    ticks: int


class Echo(Agent):
    @handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
        return Pong(n=message.n)


class Sink(Agent):
    """Counts the ticks it hears; ``Count`` answers after every earlier tick (mailboxes are FIFO)."""

    def __init__(self) -> None:
        self.ticks = 0

    @handler
    async def on_tick(self, message: Tick, ctx: MessageContext) -> None:
        self.ticks += 1

    @handler
    async def on_count(self, message: Count, ctx: MessageContext) -> Counted:
        return Counted(ticks=self.ticks)


class RawSink:
    """The baseline: a plain Ray async actor, no bus."""

    async def ping(self, payload: dict) -> dict:
        return payload

    async def batch(self, payloads: list[dict]) -> int:
        return len(payloads)
