"""Client: the driver's endpoint. Sends go to the bus shards in batches; answers come back by long poll
(one per shard), since a driver process cannot be the target of a Ray actor call.

A client is one connection (``session``) bound to the principal its credential names, at every shard; it
stamps that principal on what it sends, and the shards check the stamp against the binding. A shard that has
forgotten the connection (it restarted) is bound again; if the credential was revoked meanwhile, the client
is cut off: its calls fail with ``NotAuthorized`` and so does everything it sends after."""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from ._deadlines import Deadlines
from ._endpoint import Endpoint
from ._errors import BusUnavailable, NotAuthorized, RaybusError, cause_of
from ._routing import RoutingTable
from ._shards import UNAVAILABLE, BusOutboxes
from ._window import SendWindow
from ._wire import Call, Publish, unpack
from .constants import BUS_RETRY_DELAY, client_name, shard_of

__all__ = ["Client"]


class Client(Endpoint):
    def __init__(self, buses: list[Any], table: RoutingTable, window: int, session: str, principal: str,
                 credential: str | None) -> None:
        super().__init__(client_name(session, 0), table, window)
        self.session, self.principal, self.credential = session, principal, credential
        self.loops = 0  # event loops this connection has used: each is an endpoint of its own
        self.cut_off = ""  # why this connection no longer works, once it does not
        self.buses = buses
        self.bus_restarts = 0  # shard restarts this driver noticed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outboxes: BusOutboxes | None = None
        self._pumps: list[asyncio.Task] = []

    async def send(self, *args: Any) -> Any:
        self._bind_loop()  # first: a new loop renames this endpoint, and the envelope carries the name
        if self.cut_off:
            raise NotAuthorized(self.cut_off)
        return await super().send(*args)

    async def publish(self, sender: str | None, topic: Any, *args: Any) -> None:
        """Returns once the bus has the message: a driver may end its loop right after."""
        outboxes = self._bind_loop()
        if self.cut_off:
            raise NotAuthorized(self.cut_off)
        await super().publish(sender, topic, *args)
        try:
            await outboxes.for_key(str(topic)).accepted()
        except UNAVAILABLE as exc:
            raise BusUnavailable(f"the bus did not take the publish on {topic}: {exc}") from exc

    def route(self, message: Call | Publish) -> None:
        if type(message) is Call:
            self.via_bus[message.id] = message
        self._bind_loop().put(message)

    def _bind_loop(self) -> BusOutboxes:
        """Start the outboxes and the answer pumps in the running loop (a new ``asyncio.run`` gets new ones)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._outboxes is None:
            if self._loop is not None:
                # The old loop's long polls may still be parked at the bus: answers sent to that name
                # would be lost with them, so a new loop is a new endpoint.
                for bus in self.buses:
                    bus.disconnect.remote(self.name)
                self.loops += 1
                self.name = client_name(self.session, self.loops)
            self._loop = loop
            self.window = SendWindow(self.window.size)  # its waiters and timer belong to the old loop
            self.deadlines = Deadlines(self._waiting, self._expire)
            # a publish a shard did not take is not sent again: its caller hears BusUnavailable from publish
            self._outboxes = BusOutboxes(self.buses, lambda: self.name,
                                         lambda message: type(message) is Call and message.id in self.via_bus,
                                         self._bus_restarted, self._bind_again, self.accept_answer)
            self._pumps = [loop.create_task(self._pump_answers(shard, self._outboxes))
                           for shard in range(len(self.buses))]
        return self._outboxes

    async def _bind_again(self, shard: int) -> None:
        """A shard does not know this connection: present the credential again. If it no longer opens the
        namespace (revoked), this connection is cut off."""
        try:
            await self.buses[shard].bind.remote(self.session, self.credential)
        except RaybusError as exc:
            self.cut_off = f"{self.principal}: {cause_of(exc)}"
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(NotAuthorized(self.cut_off))
            raise NotAuthorized(self.cut_off) from None

    def _bus_restarted(self, shard: int) -> None:
        """A shard with a new incarnation lost what the old one held (the calls it had not answered, the
        answers it had not handed over): our unanswered calls through it go again, with the same ids, so
        their agents answer again what they had answered."""
        self.bus_restarts += 1
        shards = len(self.buses)
        for call in list(self.via_bus.values()):
            if shard_of(call.target, shards) == shard and self._outboxes is not None:
                self._outboxes.put(call)

    async def _pump_answers(self, shard: int, outboxes: BusOutboxes) -> None:
        bus = self.buses[shard]
        while True:
            try:
                incarnation, answers = await bus.pull.remote(self.name)
            except UNAVAILABLE:  # it is restarting: poll again; callers' own timeouts still run
                await asyncio.sleep(BUS_RETRY_DELAY)
                continue
            outboxes.heard(shard, incarnation)
            for answer in unpack(answers):
                self.accept_answer(answer)

    def held(self) -> dict[str, int]:
        return self._outboxes.held() if self._outboxes is not None else {}

    def figures(self) -> dict[str, int]:
        return self._outboxes.figures() if self._outboxes is not None else {}

    def refresh_table(self) -> None:
        self.table = ray.get(self.buses[0].get_table.remote())

    async def drain(self) -> None:
        if self._outboxes is not None:
            await self._outboxes.drain()

    def close(self) -> None:
        if self._pumps and self._loop is not None and not self._loop.is_closed():
            for pump in self._pumps:
                self._loop.call_soon_threadsafe(pump.cancel)
        self._pumps = []
        self._outboxes = None
