"""AutoGen's send and publish semantics over a raybus port (the driver's ``Runtime``, or a handler's
context on a host): the handler's value or its own exception, ``UndeliverableException`` for an unknown
recipient, ``MessageDroppedException`` when an intervention drops it, and cancellation that stops the
wait and cancels the handler's token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any, Protocol

from autogen_core import AgentId as AgAgentId
from autogen_core import CancellationToken
from autogen_core import TopicId as AgTopicId
from autogen_core.exceptions import MessageDroppedException, UndeliverableException
from pydantic import BaseModel

from cluster import AgentId, NotAuthorized, TopicId, UnknownAgentType

from ._carriers import AutogenCancel, AutogenControl, AutogenControlReply, AutogenOutcome
from ._codec import Codec, decode, exception_of
from ._directory import DIRECTORY, DirAnswer, DirDone, DirSubscribe, DirUnsubscribe, DirWillPublish
from ._interventions import dropped_or_failed
from ._names import to_raybus_agent, to_raybus_topic
from ._subscriptions import entry_of

__all__ = ["Messenger", "Port"]


class Port(Protocol):
    async def call(self, sender: AgAgentId | None, to: AgentId, carrier: BaseModel, timeout: float) -> Any: ...

    async def publish(self, sender: AgAgentId | None, topic: TopicId, carrier: BaseModel) -> None: ...


def _refusal(error: BaseException) -> BaseException:
    if isinstance(error, UnknownAgentType):
        return UndeliverableException(str(error))
    if isinstance(error, NotAuthorized):
        return dropped_or_failed(error) or error
    return error


def unpack(outcome: AutogenOutcome) -> Any:
    if outcome.dropped:
        raise MessageDroppedException()
    if not outcome.ok:
        raise exception_of(outcome)
    return None if outcome.value is None else decode(outcome.value)


class Messenger:
    def __init__(self, port: Port, codec: Codec, namespace: str, timeout: float) -> None:
        self.port = port
        self.codec = codec
        self.namespace = namespace
        self.timeout = timeout
        self._notices: set[asyncio.Task] = set()

    async def send_message(self, message: Any, recipient: AgAgentId, *, sender: AgAgentId | None = None,
                           cancellation_token: CancellationToken | None = None,
                           message_id: str | None = None) -> Any:
        token = cancellation_token or CancellationToken()
        message_id = message_id or str(uuid.uuid4())
        delivery = self.codec.encode(message, message_id, True, claimed_sender=str(sender) if sender else "")
        to = to_raybus_agent(recipient)
        loop = asyncio.get_running_loop()
        call = asyncio.ensure_future(self.port.call(sender, to, delivery, self.timeout))

        def cancelled() -> None:
            if not call.done():
                loop.call_soon_threadsafe(call.cancel)
                loop.call_soon_threadsafe(self._tell_cancel, sender, to, message_id)

        token.add_callback(cancelled)
        try:
            outcome = await call
        except (UnknownAgentType, NotAuthorized) as exc:
            raise _refusal(exc) from None
        return unpack(outcome)

    def _tell_cancel(self, sender: AgAgentId | None, to: AgentId, message_id: str) -> None:
        task = asyncio.ensure_future(self._quietly(self.port.call(sender, to, AutogenCancel(message_id=message_id),
                                                                  self.timeout)))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    @staticmethod
    async def _quietly(call: Any) -> None:
        with contextlib.suppress(Exception):  # the handler finished or is gone: nothing left to cancel
            await call

    async def publish_message(self, message: Any, topic_id: AgTopicId, *, sender: AgAgentId | None = None,
                              cancellation_token: CancellationToken | None = None,
                              message_id: str | None = None) -> None:
        delivery = self.codec.encode(message, message_id or str(uuid.uuid4()), False, topic_type=topic_id.type,
                                     topic_source=topic_id.source, claimed_sender=str(sender) if sender else "",
                                     counted=True)
        counted = await self.directory(DirWillPublish(topic_type=topic_id.type, source=topic_id.source,
                                                      sender=str(sender) if sender else ""))
        try:
            await self.port.publish(sender, to_raybus_topic(topic_id), delivery)
        except NotAuthorized as exc:
            await self.directory(DirDone(n=counted.count))
            if dropped_or_failed(exc) is None:
                raise
        except BaseException:
            await self.directory(DirDone(n=counted.count))
            raise

    async def directory(self, message: BaseModel) -> DirAnswer:
        """Ask the directory; a ValueError it reports is raised here, as AutoGen raises it."""
        answer = await self.port.call(None, DIRECTORY, message, self.timeout)
        if answer is not None and answer.error:
            raise ValueError(answer.error)
        return answer

    async def add_subscription(self, subscription: Any) -> None:
        entry = entry_of(subscription)
        await self.directory(DirSubscribe(id=entry.id, prefix=entry.prefix, topic_type=entry.topic_type,
                                          agent_type=entry.agent_type))

    async def remove_subscription(self, subscription_id: str) -> None:
        await self.directory(DirUnsubscribe(id=subscription_id))

    async def control(self, agent: AgAgentId, op: str, state: Any = None) -> Any:
        """A runtime operation on one agent (``save``, ``load``, ``metadata``, ``touch``, ``close``)."""
        carrier = AutogenControl(op=op, state=json.dumps(dict(state)) if state is not None else "")
        try:
            reply: AutogenControlReply = await self.port.call(None, to_raybus_agent(agent), carrier, self.timeout)
        except (UnknownAgentType, NotAuthorized) as exc:
            raise _refusal(exc) from None
        return json.loads(reply.data) if reply.data else None
