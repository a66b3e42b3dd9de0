"""Carrier: what a host's agents at work (``Processing``, ``Ending``, ``Handover``) need of their host — where
answers and dead letters go, the way to the bus, and the port the agents' contexts send through."""

from __future__ import annotations

from typing import Any, Protocol

from ._port import Port
from ._routing import RoutingTable
from ._shards import BusOutboxes
from ._wire import Answer, Call, Copy, Publish

__all__ = ["Carrier"]


class Carrier(Port, Protocol):
    name: str
    table: RoutingTable
    to_bus: BusOutboxes
    buses: list[Any]  # the bus shards' actors

    def route(self, message: Answer, key: str | None = None) -> None: ...

    def dead_letter(self, message: Call | Copy, reason: str, detail: str) -> None: ...

    def send_kept(self, publish: Publish) -> None: ...

    def passed_on(self, message_id: str) -> None: ...

    def not_here(self, agent_id: str) -> None: ...
