"""Agent base class, the ``@handler`` decorator and the context a handler receives."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from pydantic import BaseModel

from ._agent_id import AgentId
from ._errors import ImpureHandler
from ._port import Port
from ._principal import Principal
from ._topic import TopicId

__all__ = ["Agent", "HandlerInfo", "MessageContext", "handler", "inspectable", "is_inspectable"]


@dataclass(frozen=True, slots=True)
class HandlerInfo:
    method: str
    message_types: tuple[type[BaseModel], ...]
    reply_type: type[BaseModel] | None
    interleave: bool
    pure: bool


def handler(fn: Callable | None = None, *, interleave: bool = False, pure: bool = False) -> Any:
    """Mark ``async def on_x(self, msg: SomeModel, ctx: MessageContext) -> Reply | None``.

    ``interleave=True`` lets this handler run while the agent's other handlers are suspended (like
    Orleans' ``[AlwaysInterleave]``): for read-only or commutative work, or for long workflows whose
    consistency is enforced elsewhere. The default is a serial mailbox.

    ``pure=True``: its answer depends on the message alone, and it changes nothing the agent saves. Its answer
    leaves at once, neither remembered nor stored (with a ``state_dir`` every other answer waits for a write):
    a copy of its message, which at-least-once delivery may bring, is run again. It may not send, publish or
    checkpoint (``ImpureHandler``): those would happen again with the copy.
    """

    def mark(method: Callable) -> Callable:
        if not inspect.iscoroutinefunction(method):
            raise TypeError(f"handler {method.__qualname__} must be 'async def'")
        method.__raybus_interleave__ = interleave  # type: ignore[attr-defined]
        method.__raybus_pure__ = pure  # type: ignore[attr-defined]
        return method

    return mark(fn) if fn is not None else mark


def inspectable(method: Callable) -> Callable:
    """Mark a method that the namespace's admin may run from outside (``Runtime.inspect``), queued behind the
    agent's messages: a read-only account of the agent, taking no arguments or plain JSON ones (a coroutine
    is awaited: an account read from a database server). The runtime refuses every method not marked; that a
    marked one only reads is its author's promise."""
    if not callable(method):
        raise TypeError(f"@inspectable {method!r} must be a method")
    method.__raybus_inspectable__ = True  # type: ignore[attr-defined]
    return method


def is_inspectable(cls: type, name: str) -> bool:
    return getattr(getattr(cls, name, None), "__raybus_inspectable__", False) is True


def _model_types(annotation: Any) -> tuple[type[BaseModel], ...]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return tuple(t for arg in typing.get_args(annotation) for t in _model_types(arg))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation,)
    return ()


def _handler_info(cls: type, name: str, method: Callable) -> HandlerInfo:
    hints = typing.get_type_hints(method)
    params = [p for p in inspect.signature(method).parameters if p != "self"]
    message_types = _model_types(hints.get(params[0])) if params else ()
    if not message_types:
        raise TypeError(f"{cls.__qualname__}.{name}: annotate the message parameter with a pydantic model")
    replies = _model_types(hints.get("return"))
    return HandlerInfo(name, message_types, replies[0] if replies else None, method.__raybus_interleave__,
                       method.__raybus_pure__)


class Agent:
    """Subclass, add ``@handler`` methods, keep state on ``self``. Constructed with no arguments;
    the runtime sets ``self.id`` and ``self.config`` before ``on_start``."""

    handlers: ClassVar[dict[str, HandlerInfo]] = {}
    id: AgentId
    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, HandlerInfo] = {}
        for klass in reversed(cls.__mro__):
            for name, method in vars(klass).items():
                if hasattr(method, "__raybus_interleave__"):
                    info = _handler_info(cls, name, method)
                    found.update({t.__name__: info for t in info.message_types})
        cls.handlers = found

    @classmethod
    def message_types(cls) -> list[type[BaseModel]]:
        """Every model this agent receives or replies with."""
        seen = {t for info in cls.handlers.values() for t in info.message_types}
        seen |= {info.reply_type for info in cls.handlers.values() if info.reply_type}
        return sorted(seen, key=lambda t: t.__name__)

    async def on_start(self) -> None:
        """Called once after activation and state load, before the first message."""

    async def on_stop(self) -> None:
        """Called once the agent is deactivated for being idle (``Runtime.register(idle_after=...)``), its state
        stored and its activation gone: release what ``on_start`` took (connections, files). A message that
        comes meanwhile starts a new activation; change no state here, it is not stored."""

    def save_state(self) -> dict[str, Any] | None:
        """JSON-able state to persist after each handled message; ``None`` means stateless."""
        return None

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what ``save_state`` returned."""


class MessageContext:
    """What a handler knows about the message, and how it talks to others (as itself).

    Who sent it, as the runtime stamped it: ``sender`` is the agent that did, or None when a driver did;
    then ``principal`` is that driver's (``admin``, ``user/<id>``, ``service/<name>``, ``anonymous``)."""

    __slots__ = ("_port", "_pure", "_self_id", "message_id", "principal", "sender", "topic", "trace_id")

    def __init__(
        self,
        sender: AgentId | None,
        topic: TopicId | None,
        message_id: str,
        trace_id: str,
        port: Port,
        self_id: str,
        principal: Principal | None = None,
        pure: str = "",
    ) -> None:
        """``pure``: the name of the pure handler this context is for, which may not talk to others."""
        self.sender = sender
        self.principal = principal
        self.topic = topic
        self.message_id = message_id
        self.trace_id = trace_id
        self._port = port
        self._self_id = self_id
        self._pure = pure

    def send(self, recipient: AgentId, message: BaseModel, *, timeout: float | None = None) -> Awaitable[Any]:
        """RPC: deliver ``message`` to ``recipient`` and await its handler's reply."""
        self._refuse_if_pure("send")
        return self._port.send(self._self_id, recipient, message, self.trace_id, timeout)

    def checkpoint(self) -> Awaitable[None]:
        """Store this agent's state now, before the handler goes on (with a ``state_dir``; else nothing to do).

        A handler's changes are stored when it returns, before its answer leaves. A handler that tells
        others of a change before it returns (sends a decision, then awaits something else) checkpoints
        first: whoever hears of the change can then count on it outliving this host. Raises if the write
        fails; the change stays in memory and is stored by the next write that succeeds."""
        self._refuse_if_pure("checkpoint")
        return self._port.checkpoint(self._self_id)

    def publish(self, topic: TopicId, message: BaseModel) -> Awaitable[None]:
        """Fan-out to the topic's subscribers (never back to this agent). Returns once the bus has it
        queued, not when subscribers have handled it."""
        self._refuse_if_pure("publish")
        return self._port.publish(self._self_id, topic, message, self.trace_id)

    def _refuse_if_pure(self, what: str) -> None:
        if self._pure:
            raise ImpureHandler(f"{self._self_id}: {self._pure} is marked pure and may not {what}")
