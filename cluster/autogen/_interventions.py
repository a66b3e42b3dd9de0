"""AutoGen intervention handlers as a raybus interceptor.

``on_send`` and ``on_publish`` run where raybus routes the message (the bus, or the host that delivers a
send in-process), after the true sender is stamped. ``DropMessage`` (or an exception) refuses it with
``NotAuthorized`` carrying a marker the caller turns back into ``MessageDroppedException`` (or the
exception); a dropped publish is silent, as under AutoGen. raybus may screen one message twice (the
publisher's endpoint, then the bus): a message carries ``intervened`` once the handlers have seen it.
raybus interceptors do not see answers: ``on_response`` runs in the recipient's wrapper (``respond``).

raybus interceptors are synchronous; an intervention handler's coroutine is driven to its end at once,
so it may not wait on anything (they rarely do: they look at the message and return)."""

from __future__ import annotations

import base64
from collections.abc import Coroutine
from typing import Any

from autogen_core import AgentId as AgAgentId
from autogen_core import CancellationToken, DropMessage, MessageContext
from autogen_core.exceptions import MessageDroppedException
from ray import cloudpickle

from cluster import Intercepted, Interceptor, NotAuthorized

from ._carriers import AutogenDelivery, AutogenOutcome
from ._codec import Codec, decode, failure
from ._names import from_raybus_agent, from_raybus_topic

__all__ = ["InterventionInterceptor", "dropped_or_failed", "respond", "run_now"]

_MARK = "autogen intervention: "
_DROPPED = _MARK + "dropped"
_FAILED = _MARK + "failed "
_codec = Codec()


def run_now(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The value of a coroutine that never suspends."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("an intervention handler awaited something: on raybus they must return at once")


def _sender(message: Intercepted, delivery: AutogenDelivery) -> AgAgentId | None:
    if message.from_agent:
        return from_raybus_agent(message.sender)
    return AgAgentId.from_str(delivery.claimed_sender) if delivery.claimed_sender else None


class InterventionInterceptor(Interceptor):
    """Pickles by value of its handlers (``blob``), so it travels to the bus and hosts and into a durable
    routing table with plain pickle."""

    def __init__(self, blob: str) -> None:
        self.blob = blob
        self._handlers: list[Any] | None = None

    @classmethod
    def of(cls, handlers: list[Any]) -> InterventionInterceptor:
        return cls(base64.b64encode(cloudpickle.dumps(list(handlers))).decode())

    def handlers(self) -> list[Any]:
        if self._handlers is None:
            self._handlers = cloudpickle.loads(base64.b64decode(self.blob))
        return self._handlers

    def __getstate__(self) -> dict[str, Any]:
        return {"blob": self.blob, "_handlers": None}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InterventionInterceptor) and other.blob == self.blob

    def __hash__(self) -> int:
        return hash(self.blob)

    def on_send(self, message: Intercepted) -> Any:
        return self._screen(message, publish=False)

    def on_publish(self, message: Intercepted) -> Any:
        return self._screen(message, publish=True)

    def _screen(self, message: Intercepted, publish: bool) -> Any:
        if message.type_name != AutogenDelivery.__name__ or message.payload.get("intervened"):
            return message.payload
        delivery = AutogenDelivery.model_validate(message.payload)
        value = decode(delivery)
        context = MessageContext(
            sender=_sender(message, delivery), topic_id=from_raybus_topic(message.target) if publish else None,
            is_rpc=not publish, cancellation_token=CancellationToken(), message_id=delivery.message_id)
        for handler in self.handlers():
            try:
                if publish:
                    value = run_now(handler.on_publish(value, message_context=context))
                else:
                    value = run_now(handler.on_send(value, message_context=context,
                                                    recipient=from_raybus_agent(message.target)))
            except Exception as exc:
                raise NotAuthorized(_FAILED + (failure(exc).error or repr(exc))) from None
            if value is DropMessage or isinstance(value, DropMessage):
                raise NotAuthorized(_DROPPED)
        fields = delivery.model_dump(exclude={"type_name", "content_type", "data", "codec", "message_id", "rpc",
                                              "intervened"})
        again = _codec.encode(value, delivery.message_id, delivery.rpc, intervened=True, **fields)
        return again.model_dump()


def dropped_or_failed(error: NotAuthorized) -> BaseException | None:
    """What an intervention's refusal means to the caller; None when it was not an intervention's."""
    text = str(error)
    if text == _DROPPED:
        return MessageDroppedException()
    if text.startswith(_FAILED):
        blob = text[len(_FAILED):]
        try:
            return cloudpickle.loads(base64.b64decode(blob))
        except Exception:
            return RuntimeError(f"an intervention handler failed: {blob}")
    return None


async def respond(handlers: list[Any], value: Any, responder: AgAgentId, caller: AgAgentId | None) -> Any:
    """``on_response`` of every handler, in order, on the answer ``value``; DropMessage raises."""
    for handler in handlers:
        value = await handler.on_response(value, sender=responder, recipient=caller)
        if value is DropMessage or isinstance(value, DropMessage):
            raise MessageDroppedException()
    return value


def dropped_answer() -> AutogenOutcome:
    return AutogenOutcome(dropped=True)
