"""Endpoint: something that sends messages and waits for their replies — a host or a driver.

Both keep the futures of their outstanding calls by message id, stamp what they send, and turn an
``Answer`` that comes back into a result or an exception."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel

from ._agent_id import AgentId
from ._deadlines import Deadlines
from ._errors import DeliveryTimeout, UnknownMessageType, error_from_wire
from ._routing import RoutingTable
from ._topic import TopicId
from ._window import SendWindow
from ._wire import Answer, Call, Publish, new_message_id
from .constants import DEFAULT_TIMEOUT, DEFAULT_WINDOW

__all__ = ["Endpoint"]


class Endpoint:
    """Subclasses say where a message goes (``route``) and how a late answer is reported."""

    def __init__(self, name: str, table: RoutingTable, window: int = DEFAULT_WINDOW) -> None:
        self.name = name
        self.table = table
        self.window = SendWindow(window)
        self.pending: dict[str, asyncio.Future] = {}
        self.deadlines = Deadlines(self._waiting, self._expire)
        self.via_bus: dict[str, Call] = {}  # pending calls the bus routes: sent again if it restarts
        self.late_answers = 0
        self.duplicate_answers = 0

    def route(self, message: Call | Publish) -> None:
        raise NotImplementedError

    def _waiting(self, call_id: str) -> bool:
        future = self.pending.get(call_id)
        return future is not None and not future.done()

    def _expire(self, call_id: str, recipient: str, type_name: str, timeout: float) -> None:
        self.pending[call_id].set_exception(
            DeliveryTimeout(f"no reply from {recipient} to {type_name} within {timeout:g}s"))

    def _late_answer(self, answer: Answer) -> None:
        self.late_answers += 1

    def _call_over(self, call_id: str) -> None:
        """The call ended, answered or not (timed out, cancelled): a host lets go what waited behind it."""

    async def send(
        self,
        sender: str | None,
        recipient: AgentId,
        message: BaseModel,
        trace_id: str,
        timeout: float | None,
    ) -> Any:
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        type_name, payload = self.table.messages.encode(message)
        call = Call(new_message_id(), trace_id, sender, str(recipient), type_name, payload, time.time() + timeout,
                    self.name)
        destination = self._remote_endpoint(call.target)
        if destination is not None:
            await self.window.enter(destination, timeout, f"{type_name} to {recipient}")
            timeout = max(0.0, call.deadline - time.time())
        future = asyncio.get_running_loop().create_future()
        self.pending[call.id] = future
        self.deadlines.add(call.id, call.target, type_name, timeout)
        try:
            self.route(call)
            return await future
        finally:
            self.pending.pop(call.id, None)
            self.deadlines.answered()
            self.via_bus.pop(call.id, None)
            self._call_over(call.id)
            if destination is not None:
                self.window.leave(destination)

    def _remote_endpoint(self, agent_id: str) -> str | None:
        """The host a call to ``agent_id`` goes to through the bus; None for this endpoint's own agents or
        an agent type not known here (the bus answers that one)."""
        endpoint = self.table.known_endpoint_of(agent_id)
        return None if endpoint == self.name else endpoint

    async def publish(self, sender: str | None, topic: TopicId, message: BaseModel, trace_id: str) -> None:
        type_name, payload = self.table.messages.encode(message)
        # the bus screens every publish again; this copy only lets a refused publisher hear NotAuthorized
        payload = self.table.screen(True, sender, str(topic), type_name, payload)
        self.route(Publish(new_message_id(), trace_id, sender, str(topic), type_name, payload))

    def accept_answer(self, answer: Answer) -> None:
        """Resolve the call that ``answer`` answers."""
        future = self.pending.pop(answer.call_id, None)
        if future is None or future.done():
            if answer.replayed:  # the answer to a copy of a call that was answered already
                self.duplicate_answers += 1
            else:
                self._late_answer(answer)
            return
        if answer.failed:
            future.set_exception(error_from_wire(*answer.payload))
            return
        try:
            future.set_result(None if answer.payload is None else self.decode_reply(answer.type_name, answer.payload))
        except Exception as exc:
            future.set_exception(exc)

    def decode_reply(self, type_name: str, payload: Any) -> BaseModel:
        try:
            return self.table.messages.decode(type_name, payload)
        except UnknownMessageType:
            self.refresh_table()
            return self.table.messages.decode(type_name, payload)

    def refresh_table(self) -> None:
        """Fetch a newer routing table; a driver does, a host is pushed its updates."""
