"""Agents and messages the runtime tests use. Ray workers import this module (tests/ is on their
PYTHONPATH), so it must stay importable on its own and free of test-only imports."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from cluster import (
    Agent,
    AgentId,
    DeadLetter,
    Intercepted,
    Interceptor,
    MessageContext,
    NotAuthorized,
    Sharded,
    TopicId,
    handler,
    inspectable,
)


def pinned(agent_type: str) -> Sharded:
    """One host of the type's own, which the runtime never moves agents from: most of these agents keep no state
    to carry (a listener moved by the runtime came back empty, and a test read that as lost notices)."""
    return Sharded(1, pool=agent_type)


# --- messages -------------------------------------------------------------------------------------


class Ping(BaseModel):
    text: str


class Pong(BaseModel):
    text: str
    by: str


class Nothing(BaseModel):
    pass


class Boom(BaseModel):
    text: str


class Refuse(BaseModel):
    text: str


class Hang(BaseModel):
    seconds: float = 3600.0


class Add(BaseModel):
    amount: int
    pause: float = 0.01  # between reading the count and writing it


class Total(BaseModel):
    value: int


class Slow(BaseModel):
    seconds: float


class Done(BaseModel):
    start: float
    end: float


class Wait(BaseModel):
    pass


class Open(BaseModel):
    pass


class Relay(BaseModel):
    """Ask a relay to forward ``text`` to ``echo/<to_key>`` and return the echo's reply."""

    to_key: str
    text: str


class Who(BaseModel):
    pass


class SenderSeen(BaseModel):
    sender: str | None
    principal: str | None = None  # the driver's, when a driver sent it


class AskWho(BaseModel):
    """Ask an agent to send ``Who`` to ``target`` (a ``type/key`` string) and return what it saw."""

    target: str


class Notice(BaseModel):
    text: str


class Cast(BaseModel):
    """Ask a caster to publish ``Notice(text)`` on ``TopicId(topic_type, topic_source)``."""

    topic_type: str
    topic_source: str
    text: str


class Unhandled(BaseModel):
    """Registered with ``register_message`` but handled by nobody."""

    value: int


class Untyped(BaseModel):
    """Asks ``Echo`` to return a model whose type no handler names (so it is not registered)."""


class Stray(BaseModel):
    """Never registered: returned by ``Echo.on_untyped``."""

    value: int


# --- agents ---------------------------------------------------------------------------------------


class Echo(Agent):
    """Answers pings; also the place for handlers that fail, hang or return nothing."""

    def __init__(self) -> None:
        self.senders: list[str | None] = []

    @handler
    async def on_ping(self, msg: Ping, ctx: MessageContext) -> Pong:
        return Pong(text=msg.text, by=str(self.id))

    @handler
    async def on_nothing(self, msg: Nothing, ctx: MessageContext) -> None:
        return None

    @handler
    async def explode_on_purpose(self, msg: Boom, ctx: MessageContext) -> Pong:
        raise ValueError(f"kaboom: {msg.text}")

    @handler
    async def on_refuse(self, msg: Refuse, ctx: MessageContext) -> Pong:
        raise NotAuthorized(f"refused: {msg.text}")

    @handler
    async def on_hang(self, msg: Hang, ctx: MessageContext) -> Pong:
        await asyncio.sleep(msg.seconds)
        return Pong(text="late", by=str(self.id))

    @handler
    async def on_who(self, msg: Who, ctx: MessageContext) -> SenderSeen:
        sender = None if ctx.sender is None else str(ctx.sender)
        self.senders.append(sender)
        return SenderSeen(sender=sender, principal=None if ctx.principal is None else str(ctx.principal))

    @handler
    async def on_untyped(self, msg: Untyped, ctx: MessageContext) -> None:
        return Stray(value=1)  # type: ignore[return-value]

    @inspectable
    def seen_senders(self) -> list[str | None]:
        return list(self.senders)


class Counter(Agent):
    """Read, await, write: loses updates unless its mailbox is serial."""

    def __init__(self) -> None:
        self.count = 0

    @handler
    async def on_add(self, msg: Add, ctx: MessageContext) -> Total:
        current = self.count
        await asyncio.sleep(msg.pause)
        self.count = current + msg.amount
        return Total(value=self.count)

    @inspectable
    def get_count(self) -> int:
        return self.count


class DurableCounter(Counter):
    """A ``Counter`` whose count outlives its host (with a runtime that has a ``state_dir``)."""

    def save_state(self) -> dict:
        return {"count": self.count}

    def load_state(self, state: dict) -> None:
        self.count = state["count"]


class PureCounter(DurableCounter):
    """A durable counter with pure handlers: ``on_ping`` answers from the message alone (its runs are counted in
    memory, which it never saves), ``on_relay`` tries to send, which a pure handler may not."""

    def __init__(self) -> None:
        super().__init__()
        self.pure_runs = 0

    @handler(pure=True)
    async def on_ping(self, msg: Ping, ctx: MessageContext) -> Pong:
        self.pure_runs += 1
        return Pong(text=msg.text, by=str(self.id))

    @handler(pure=True)
    async def on_relay(self, msg: Relay, ctx: MessageContext) -> Pong:
        return await ctx.send(AgentId("echo", msg.to_key), Ping(text=msg.text), timeout=30.0)

    @inspectable
    def get_pure_runs(self) -> int:
        return self.pure_runs


class Timeline(Agent):
    """Records when each of its handlers ran."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    @handler
    async def on_slow(self, msg: Slow, ctx: MessageContext) -> Done:
        start = time.monotonic()
        await asyncio.sleep(msg.seconds)
        end = time.monotonic()
        self.spans.append((start, end))
        return Done(start=start, end=end)

    @inspectable
    def get_spans(self) -> list[tuple[float, float]]:
        return list(self.spans)


class Opened(BaseModel):
    waiting: int


class Latch(Agent):
    """``Wait`` returns only once ``Open`` has run: possible only if ``Wait`` interleaves."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.waiting = 0

    @handler(interleave=True)
    async def on_wait(self, msg: Wait, ctx: MessageContext) -> Done:
        start = time.monotonic()
        self.waiting += 1
        try:
            await self.opened.wait()
        finally:
            self.waiting -= 1
        return Done(start=start, end=time.monotonic())

    @handler
    async def on_open(self, msg: Open, ctx: MessageContext) -> Opened:
        self.opened.set()
        return Opened(waiting=self.waiting)

    @inspectable
    def get_waiting(self) -> int:
        return self.waiting


class SerialLatch(Latch):
    """``Latch`` with a serial ``Wait``: an ``Open`` sent after it queues behind it forever."""

    @handler
    async def on_wait(self, msg: Wait, ctx: MessageContext) -> Done:
        return await super().on_wait(msg, ctx)


class WaitThenOpen(BaseModel):
    """Ask a latch user to send ``latch/<latch_key>`` a ``Wait`` (unless ``wait`` is False) and, without waiting,
    an ``Open``."""

    latch_key: str
    wait: bool = True


class LatchUser(Agent):
    """Sends a latch ``Wait``, then at once ``Open``: the first can be answered only once the second has run."""

    @handler
    async def on_wait_then_open(self, msg: WaitThenOpen, ctx: MessageContext) -> Done | None:
        latch = AgentId("latch", msg.latch_key)
        if not msg.wait:
            await ctx.send(latch, Open(), timeout=10.0)
            return None
        waited, _ = await asyncio.gather(ctx.send(latch, Wait(), timeout=10.0), ctx.send(latch, Open(), timeout=10.0))
        return waited


class Relayer(Agent):
    """Forwards a ``Relay`` to ``echo/<to_key>`` as a ``Ping`` and returns the echo's ``Pong``."""

    @handler
    async def on_relay(self, msg: Relay, ctx: MessageContext) -> Pong:
        return await ctx.send(AgentId("echo", msg.to_key), Ping(text=msg.text), timeout=30.0)

    @handler
    async def on_ask_who(self, msg: AskWho, ctx: MessageContext) -> SenderSeen:
        return await ctx.send(AgentId.from_str(msg.target), Who(), timeout=30.0)


class Impostor(Agent):
    """Tries to ask who it is as another agent of its host, through the port behind its context."""

    @handler
    async def on_ask_who(self, msg: AskWho, ctx: MessageContext) -> SenderSeen:
        return await ctx._port.send("relayer/r1", AgentId.from_str(msg.target), Who(), ctx.trace_id, 10.0)


class Listener(Agent):
    """Records every notice it receives, with the topic and sender it saw."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str | None, str | None]] = []

    @handler
    async def on_notice(self, msg: Notice, ctx: MessageContext) -> None:
        topic = None if ctx.topic is None else str(ctx.topic)
        sender = None if ctx.sender is None else str(ctx.sender)
        self.received.append((msg.text, topic, sender))

    @inspectable
    def get_received(self) -> list[tuple[str, str | None, str | None]]:
        return list(self.received)

    @inspectable
    def texts(self) -> list[str]:
        return [text for text, _, _ in self.received]


class Caster(Listener):
    """A listener that can also publish (to check it never hears its own publish)."""

    @handler
    async def on_cast(self, msg: Cast, ctx: MessageContext) -> None:
        await ctx.publish(TopicId(msg.topic_type, msg.topic_source), Notice(text=msg.text))


class CastThenTell(BaseModel):
    """Ask a teller to publish ``Notice(text)`` on ``topic/all``, then call ``listener/<to_key>`` with another."""

    text: str
    to_key: str


class Teller(Agent):
    """Publishes, then calls a subscriber of that topic directly: the two must arrive in that order."""

    @handler
    async def on_cast_then_tell(self, msg: CastThenTell, ctx: MessageContext) -> None:
        await ctx.publish(TopicId("topic", "all"), Notice(text=f"published {msg.text}"))
        await ctx.send(AgentId("listener", msg.to_key), Notice(text=f"told {msg.text}"))


class DeadLetterWatcher(Agent):
    """Subscribes to the dead-letter topic and keeps what it hears."""

    def __init__(self) -> None:
        self.letters: list[dict] = []

    @handler
    async def on_dead_letter(self, msg: DeadLetter, ctx: MessageContext) -> None:
        self.letters.append(msg.model_dump())

    @inspectable
    def get_letters(self) -> list[dict]:
        return list(self.letters)


class Loud(BaseModel):
    text: str
    secret: str | None = None


class LoudListener(Agent):
    """Keeps every ``Loud`` it hears exactly as it arrived."""

    def __init__(self) -> None:
        self.heard: list[dict] = []

    @handler
    async def on_loud(self, msg: Loud, ctx: MessageContext) -> None:
        self.heard.append(msg.model_dump())

    @inspectable
    def get_heard(self) -> list[dict]:
        return list(self.heard)


@dataclass(frozen=True)
class Shout(Interceptor):
    """Rewrites every ``Ping`` to upper case; refuses any ``Ping`` whose text is "forbidden"."""

    def on_send(self, message: Intercepted) -> object:
        if message.type_name != "Ping":
            return message.payload
        if message.payload["text"] == "forbidden":
            raise NotAuthorized(f"{message.sender} may not say that to {message.target}")
        return {**message.payload, "text": message.payload["text"].upper()}


class SlowListener(Listener):
    """A listener that takes a while over a notice that says ``slow``."""

    @handler
    async def on_notice(self, msg: Notice, ctx: MessageContext) -> None:
        if msg.text == "slow":
            await asyncio.sleep(1.5)
        await super().on_notice(msg, ctx)


class FlakySave(DurableCounter):
    """A durable counter whose first save in a host process fails (a store that was briefly unreachable)."""

    saves_to_fail = 1

    def save_state(self) -> dict:
        if FlakySave.saves_to_fail > 0:
            FlakySave.saves_to_fail -= 1
            raise OSError("the store is unreachable")
        return super().save_state()


class FailsToStart(Counter):
    """A counter whose first start in a host process raises."""

    starts_to_fail = 1

    async def on_start(self) -> None:
        if FailsToStart.starts_to_fail > 0:
            FailsToStart.starts_to_fail -= 1
            raise RuntimeError("no connection to the ledger")


class Checkpointer(DurableCounter):
    """Stores its count, then goes on with the handler for ``pause`` seconds."""

    @handler
    async def on_add(self, msg: Add, ctx: MessageContext) -> Total:
        self.count += msg.amount
        await ctx.checkpoint()
        await asyncio.sleep(msg.pause)
        return Total(value=self.count)


class Forward(BaseModel):
    """Ask a forwarder to have ``timeline/<its key>`` sleep ``seconds`` and to await that."""

    seconds: float


class Forwarder(Agent):
    """Awaits a slow send in a serial handler: what arrives meanwhile waits for the whole round trip."""

    @handler
    async def on_forward(self, msg: Forward, ctx: MessageContext) -> Done:
        return await ctx.send(AgentId("timeline", self.id.key), Slow(seconds=msg.seconds), timeout=30.0)


class InterleavedForwarder(Forwarder):
    """``Forwarder`` whose handler interleaves: nothing waits behind its sends."""

    @handler(interleave=True)
    async def on_forward(self, msg: Forward, ctx: MessageContext) -> Done:
        return await super().on_forward(msg, ctx)


def marker(what: str, key: str) -> Path:
    """A file an agent on a host of this machine touches to tell a test that something began or happened."""
    return Path(tempfile.gettempdir()) / f"raybus-{what}-{key}"


_LEAVING: dict[str, asyncio.Event] = {}  # per host process: set when a Leaver's last write begins


def leaving(key: str) -> asyncio.Event:
    return _LEAVING.setdefault(key, asyncio.Event())


class Leaver(DurableCounter):
    """A durable counter that says (``leaving(key)``) when it saves with nothing changed: the write its
    deactivation makes."""

    _last: dict | None = None

    def save_state(self) -> dict:
        state = super().save_state()
        if state == self._last:
            leaving(self.id.key).set()
        self._last = state
        return state


class Knock(BaseModel):
    """Ask a knocker to wait until ``leaver/<key>`` begins its last write, then to add 1 to it."""

    key: str


class Knocker(Agent):
    """On the leaver's host, it sends the moment the leaver's deactivation has begun to store its state."""

    @handler
    async def on_knock(self, msg: Knock, ctx: MessageContext) -> Total:
        await leaving(msg.key).wait()
        return await ctx.send(AgentId("leaver", msg.key), Add(amount=1, pause=0.0), timeout=30.0)


class Launch(BaseModel):
    """Ask a launcher to have ``timeline/<its key>`` sleep ``seconds`` in a task of its own, and return."""

    seconds: float


class Launcher(Agent):
    """Sends from a task its handler starts and does not await: the answer comes after the handler ended."""

    def __init__(self) -> None:
        self.answered: list[float] = []

    @handler
    async def on_launch(self, msg: Launch, ctx: MessageContext) -> None:
        async def call() -> None:
            done = await ctx.send(AgentId("timeline", self.id.key), Slow(seconds=msg.seconds), timeout=30.0)
            self.answered.append(done.end)

        self._call = asyncio.ensure_future(call())

    @inspectable
    def get_answered(self) -> list[float]:
        return list(self.answered)


class Stopper(Counter):
    """A counter that tells when it was stopped (``marker("stopped", key)``)."""

    async def on_stop(self) -> None:
        marker("stopped", self.id.key).touch()


class CastThenTellVia(BaseModel):
    """Ask a narrator to have ``caster/<caster_key>`` publish ``published <text>`` on ``topic/all``, then, once
    answered, to call ``listener/<to_key>`` with ``told <text>``."""

    caster_key: str
    to_key: str
    text: str


class Narrator(Agent):
    """Calls a caster, then a listener: what the caster published must reach the listener first."""

    @handler
    async def on_cast_then_tell_via(self, msg: CastThenTellVia, ctx: MessageContext) -> None:
        await ctx.send(AgentId("caster", msg.caster_key), Cast(topic_type="topic", topic_source="all",
                                                               text=f"published {msg.text}"))
        await ctx.send(AgentId("listener", msg.to_key), Notice(text=f"told {msg.text}"))
