"""Router: the one routing step. It resolves where a call goes and who gets a publish, runs the
interceptors (``RoutingTable.screen``) and records sampled traces — the same step wherever a message is
routed: at the bus for everything that crosses processes, at a host for a call between two of its agents.
Stamping the sender is not its job: a host stamps its agents' messages, the bus checks the stamp."""

from __future__ import annotations

from collections.abc import Callable

from ._errors import RaybusError
from ._routing import RoutingTable
from ._trace import Kind, TraceLog, is_sampled
from ._wire import Call, Publish

__all__ = ["Router"]


class Router:
    __slots__ = ("_table", "trace")

    def __init__(self, table: Callable[[], RoutingTable], trace: TraceLog) -> None:
        self._table = table  # the current table: a host's copy is replaced when the bus pushes a new one
        self.trace = trace

    def call(self, call: Call) -> tuple[str, Call]:
        """The endpoint of the call's recipient and the call as the interceptors let it through; raises the
        ``RaybusError`` that refuses it (an unknown agent type, an interceptor's ``NotAuthorized``)."""
        table = self._table()
        endpoint = table.endpoint_of(call.target)
        payload = table.screen(False, call.sender, call.target, call.type_name, call.payload)
        if payload is not call.payload:
            call = call._replace(payload=payload)
        if is_sampled(call.trace):
            self.trace.record(call.trace, Kind.SEND, call.sender, call.target, call.type_name, call.id)
        return endpoint, call

    def publish(self, publish: Publish) -> tuple[Publish, dict[str, list[str]], list[RaybusError]]:
        """The publish as the interceptors let it through, its recipients by host endpoint, and why any
        recipient has no host (an agent type no longer known); raises the ``RaybusError`` that refuses it."""
        table = self._table()
        payload = table.screen(True, publish.sender, publish.topic, publish.type_name, publish.payload)
        if payload is not publish.payload:
            publish = publish._replace(payload=payload)
        by_endpoint: dict[str, list[str]] = {}
        unknown: list[RaybusError] = []
        for recipient in table.recipients(publish.topic, publish.sender):
            try:
                by_endpoint.setdefault(table.endpoint_of(recipient), []).append(recipient)
            except RaybusError as exc:
                unknown.append(exc)
        if is_sampled(publish.trace):
            for recipients in by_endpoint.values():
                for recipient in recipients:
                    self.trace.record(publish.trace, Kind.PUBLISH, publish.sender, recipient, publish.type_name,
                                      publish.id)
        return publish, by_endpoint, unknown
