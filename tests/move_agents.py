"""Agents for the tests of moves: a serial ledger that notices overlaps and keeps each sender's order, and a
caller that sends it numbered entries from another host."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from cluster import Agent, AgentId, MessageContext, TopicId, handler, inspectable


class Entry(BaseModel):
    seq: int
    tag: str = ""  # who numbered it (a driver's sends all come from one principal)
    pause: float = 0.0


class Noted(BaseModel):
    count: int


class Burst(BaseModel):
    """Ask a caller to send ``n`` entries to ``target``, all in flight at once, numbered in sending order."""

    target: str
    n: int
    pause: float = 0.0


class Sent(BaseModel):
    counts: list[int]


class Heard(BaseModel):
    text: str


class Tell(BaseModel):
    """Ask a caller to publish ``Heard(text)`` on ``topic`` ("type/key")."""

    topic: str
    text: str


class Ledger(Agent):
    """Serial: counts entries, keeps each sender's numbers in the order handled, and counts handlers that found
    another one running (there must be none)."""

    def __init__(self) -> None:
        self.count = 0
        self.by_sender: dict[str, list[int]] = {}
        self.overlaps = 0
        self.heard: list[str] = []
        self._busy = False

    @handler
    async def on_entry(self, message: Entry, ctx: MessageContext) -> Noted:
        if self._busy:
            self.overlaps += 1
        self._busy = True
        try:
            if message.pause:
                await asyncio.sleep(message.pause)
            self.count += 1
            sender = f"{ctx.sender or ctx.principal}|{message.tag}"
            self.by_sender.setdefault(sender, []).append(message.seq)
            return Noted(count=self.count)
        finally:
            self._busy = False

    @handler
    async def on_heard(self, message: Heard, ctx: MessageContext) -> None:
        self.heard.append(message.text)

    def save_state(self) -> dict:
        return {"count": self.count, "by_sender": self.by_sender, "overlaps": self.overlaps, "heard": self.heard}

    def load_state(self, state: dict) -> None:
        self.count, self.by_sender = state["count"], state["by_sender"]
        self.overlaps, self.heard = state["overlaps"], state["heard"]

    @inspectable
    def report(self) -> dict:
        return {"count": self.count, "by_sender": self.by_sender, "overlaps": self.overlaps, "heard": self.heard}


class Caller(Agent):
    @handler(interleave=True)
    async def on_burst(self, message: Burst, ctx: MessageContext) -> Sent:
        target = AgentId.from_str(message.target)
        answers = await asyncio.gather(*(ctx.send(target, Entry(seq=seq, pause=message.pause), timeout=60)
                                         for seq in range(message.n)))
        return Sent(counts=[answer.count for answer in answers])

    @handler
    async def on_tell(self, message: Tell, ctx: MessageContext) -> None:
        await ctx.publish(TopicId.from_str(message.topic), Heard(text=message.text))
