"""BusCalls: a driver's calls of its namespace's bus shards besides its messages — the control plane (the
admin's: registering, subscribing, credentials, moves, inspecting agents, traces, dead letters) and questions
(stats, what is held, the agents, where one lives).

A question changes nothing, so one that meets a restarting shard is asked again until it is back
(``through_restarts``). A change is not asked twice: a call in flight when its shard went may or may not have
run, and the caller hears so (``BusUnavailable``). A shard that restarted and forgot this driver's connection
(``Unbound``) binds it again by its credential, and is asked once more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray

from ._client import Client
from ._errors import SAID, BusUnavailable, Unbound, cause_of
from ._shards import UNAVAILABLE, through_restarts

__all__ = ["BusCalls"]

# control operations that change nothing, so may be asked again when a shard restarts under them
_QUESTIONS = frozenset({"inspect", "trace", "dead_letters"})


class BusCalls:
    __slots__ = ("buses", "client", "namespace")

    def __init__(self, namespace: str, buses: list[Any], client: Client) -> None:
        self.namespace = namespace
        self.buses = buses  # shard 0 first: it keeps the registry and the credentials
        self.client = client

    def control(self, operation: str, *args: Any, everywhere: bool = False) -> Any:
        """A control-plane operation, at shard 0 or ``everywhere`` (a list, by shard): the admin's alone."""
        buses = self.buses if everywhere else self.buses[:1]
        name, session, credential = self.client.name, self.client.session, self.client.credential
        again = operation in _QUESTIONS

        def ask() -> list[Any]:
            return [bus.control.remote(name, operation, *args) for bus in buses]

        try:
            try:
                found = self._call(ask, operation, again)
            except Unbound:  # a shard restarted and forgot this connection: bind it again, then once more
                self._call(lambda: [bus.bind.remote(session, credential) for bus in buses], "bind", True)
                found = self._call(ask, operation, again)
        except SAID as exc:
            raise cause_of(exc) from None
        return found if everywhere else found[0]

    def each(self, method: str, *args: Any) -> list[Any]:
        """A question of every shard (a method of ``Bus``), by shard."""
        return self._call(lambda: [getattr(bus, method).remote(*args) for bus in self.buses], method, True)

    def first(self, method: str, *args: Any) -> Any:
        """A question of shard 0."""
        return self._call(lambda: [getattr(self.buses[0], method).remote(*args)], method, True)[0]

    def _call(self, ask: Callable[[], list[Any]], what: str, again: bool) -> list[Any]:
        if again:
            return through_restarts(ask, f"{self.namespace}: {what}")
        try:
            return ray.get(ask())
        except UNAVAILABLE:
            raise BusUnavailable(f"{self.namespace}: a bus shard is restarting; {what} may or may not have been "
                                 "done: ask again once it is back") from None
