"""AutoGen agents and messages the AutoGen runtime tests use. Ray workers import this module (tests/ is on
their PYTHONPATH), so it stays importable on its own. Written against autogen-core only: the same
agents run on SingleThreadedAgentRuntime and on RaybusAgentRuntime."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from autogen_core import (
    AgentId,
    DefaultInterventionHandler,
    DefaultTopicId,
    DropMessage,
    MessageContext,
    RoutedAgent,
    TopicId,
    default_subscription,
    message_handler,
    type_subscription,
)
from pydantic import BaseModel

WAIT = 60.0  # generous: a test waits on an event, never on a clock


@dataclass
class Ask:
    text: str


class Reply(BaseModel):
    text: str


@dataclass
class Note:
    text: str


@dataclass
class Seen:
    """What a subscriber tells the collector: who it is and what it heard."""

    who: str
    text: str


@dataclass
class Boom:
    text: str


@dataclass
class Ping:
    hops: int


@dataclass
class WaitForCancel:
    pass


@dataclass
class Query:
    what: str


@dataclass
class Add:
    n: int


class ParrotError(ValueError):
    """A handler's own exception type: the caller must see this class again."""


def suffix(agent_type: str) -> str:
    """Tests sharing one runtime name their types ``base.N``: an agent finds its test's peers by ``.N``."""
    return agent_type[agent_type.rfind("."):] if "." in agent_type else ""


def collector_of(agent: AgentId) -> AgentId:
    return AgentId("collector" + suffix(agent.type), "default")


class Echo(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("answers every Ask with its own key and the text")

    @message_handler
    async def on_ask(self, message: Ask, ctx: MessageContext) -> Reply:
        return Reply(text=f"{self.id.key}:{message.text}")

    @message_handler
    async def on_boom(self, message: Boom, ctx: MessageContext) -> Reply:
        raise ParrotError(f"no {message.text}")


class Listener(RoutedAgent):
    """Tells its collector every Note it hears, and passes Notes on 'relay' topics to its 'fanout' topic."""

    def __init__(self) -> None:
        super().__init__("reports what it hears")

    @message_handler
    async def on_note(self, message: Note, ctx: MessageContext) -> None:
        await self.send_message(Seen(str(self.id), message.text), collector_of(self.id))
        if ctx.topic_id is not None and ctx.topic_id.type.startswith("relay"):
            fanout = TopicId("fanout" + suffix(self.id.type), ctx.topic_id.source)
            await self.publish_message(Note(message.text + ">"), fanout)


class Chatter(Listener):
    """Publishes on 'chat' when asked: a subscriber of 'chat' itself, it must not hear its own publish."""

    @message_handler
    async def on_ask(self, message: Ask, ctx: MessageContext) -> None:
        await self.publish_message(Note(message.text), TopicId("chat" + suffix(self.id.type), self.id.key))


@default_subscription
class DefaultListener(Listener):
    pass


@type_subscription("alerts")
class AlertListener(Listener):
    pass


class Bouncer(RoutedAgent):
    """A Ping with hops left goes to the other bouncer, whose answer comes back: A awaits B awaits A."""

    def __init__(self) -> None:
        super().__init__("bounces pings")

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Reply:
        if message.hops == 0:
            return Reply(text=str(self.id))
        other = AgentId(self.id.type, "b" if self.id.key == "a" else "a")
        answer = await self.send_message(Ping(message.hops - 1), other)
        return Reply(text=f"{self.id}<{answer.text}")


class Patient(RoutedAgent):
    """Waits for its caller to cancel; answers Queries about it."""

    def __init__(self) -> None:
        super().__init__("waits to be cancelled")
        self.started = asyncio.Event()
        self.saw_cancel = asyncio.Event()

    @message_handler
    async def on_wait(self, message: WaitForCancel, ctx: MessageContext) -> Reply:
        cancelled = asyncio.Event()
        ctx.cancellation_token.add_callback(cancelled.set)
        self.started.set()
        await asyncio.wait_for(cancelled.wait(), WAIT)
        self.saw_cancel.set()
        return Reply(text="cancelled")

    @message_handler
    async def on_query(self, message: Query, ctx: MessageContext) -> Reply:
        event = self.started if message.what == "started" else self.saw_cancel
        await asyncio.wait_for(event.wait(), WAIT)
        return Reply(text="yes")


class Counter(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("counts")
        self.total = 0

    @message_handler
    async def on_add(self, message: Add, ctx: MessageContext) -> Reply:
        self.total += message.n
        return Reply(text=str(self.total))

    async def save_state(self) -> dict[str, Any]:
        return {"total": self.total}

    async def load_state(self, state: Any) -> None:
        self.total = state["total"]


class DropAsks(DefaultInterventionHandler):
    async def on_send(self, message: Any, *, message_context: MessageContext, recipient: AgentId) -> Any:
        return DropMessage if isinstance(message, Ask) else message


class DropNotes(DefaultInterventionHandler):
    async def on_publish(self, message: Any, *, message_context: MessageContext) -> Any:
        return DropMessage if isinstance(message, Note) and message.text == "secret" else message


class Shout(DefaultInterventionHandler):
    """Rewrites every Ask on its way in and every Reply on its way back."""

    async def on_send(self, message: Any, *, message_context: MessageContext, recipient: AgentId) -> Any:
        return Ask(message.text.upper()) if isinstance(message, Ask) else message

    async def on_response(self, message: Any, *, sender: AgentId, recipient: AgentId | None) -> Any:
        return Reply(text=message.text + "!") if isinstance(message, Reply) else message


__all__ = ["WAIT", "DefaultTopicId", "collector_of", "suffix"]
