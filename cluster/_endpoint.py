"""Endpoint: something that sends messages and waits for their replies — a host or a driver.

Both keep the futures of their outstanding RPCs by message id, stamp their envelopes, and turn an
answer that comes back (a REPLY or an ERROR) into a result or an exception."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel

from ._agent_id import AgentId
from ._envelope import REPLAYED, Envelope, Kind, new_message_id
from ._errors import DeliveryTimeout, UnknownMessageType, error_from_wire
from ._routing import RoutingTable
from ._topic import TopicId
from ._window import SendWindow
from .constants import DEFAULT_TIMEOUT, DEFAULT_WINDOW

__all__ = ["Endpoint"]


def _expire(future: asyncio.Future, recipient: str, type_name: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(DeliveryTimeout(f"no reply from {recipient} to {type_name} within {timeout:g}s"))


class Endpoint:
    """Subclasses say where an envelope goes (``_route``) and how a late answer is reported."""

    def __init__(self, name: str, table: RoutingTable, window: int = DEFAULT_WINDOW) -> None:
        self.name = name
        self.table = table
        self.window = SendWindow(window)
        self.pending: dict[str, asyncio.Future] = {}
        self.via_bus: dict[str, tuple] = {}  # pending calls the bus routes: sent again if it restarts
        self.late_answers = 0
        self.duplicate_answers = 0

    def _route(self, envelope: Envelope) -> None:
        raise NotImplementedError

    def _late_answer(self, wire: tuple) -> None:
        self.late_answers += 1

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
        envelope = Envelope(
            Kind.SEND, new_message_id(), trace_id, sender, str(recipient), type_name, payload,
            time.time() + timeout, None, self.name,
        )
        destination = self._remote_endpoint(envelope.target)
        if destination is not None:
            await self.window.enter(destination, timeout, f"{type_name} to {recipient}")
            timeout = max(0.0, envelope.deadline - time.time())
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending[envelope.message_id] = future
        timer = loop.call_later(timeout, _expire, future, envelope.target, type_name, timeout)
        try:
            self._route(envelope)
            return await future
        finally:
            timer.cancel()
            self.pending.pop(envelope.message_id, None)
            self.via_bus.pop(envelope.message_id, None)
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
        self._route(Envelope(Kind.PUBLISH, new_message_id(), trace_id, sender, str(topic), type_name, payload))

    def accept_answer(self, wire: tuple) -> None:
        """Resolve the RPC that ``wire`` (a REPLY or ERROR tuple) answers."""
        future = self.pending.pop(wire[8], None)
        if future is None or future.done():
            if wire[9] == REPLAYED:  # the answer to a copy of a call that was answered already
                self.duplicate_answers += 1
            else:
                self._late_answer(wire)
            return
        if wire[0] == Kind.ERROR:
            future.set_exception(error_from_wire(*wire[6]))
            return
        try:
            future.set_result(None if wire[6] is None else self.decode_reply(wire[5], wire[6]))
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
