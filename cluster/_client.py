"""Client: the driver's endpoint. Sends go to the bus in batches; answers come back by long poll,
since a driver process cannot be the target of a Ray actor call."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import ray

from ._endpoint import Endpoint
from ._envelope import Envelope, Kind
from ._errors import BusUnavailable
from ._host import BUS_RETRY_DELAY
from ._outbox import Outbox
from ._routing import RoutingTable
from ._window import SendWindow

__all__ = ["Client"]


def _new_name() -> str:
    return f"client.{uuid.uuid4().hex}"


class Client(Endpoint):
    def __init__(self, bus: Any, table: RoutingTable, window: int) -> None:
        super().__init__(_new_name(), table, window)
        self.bus = bus
        self.unsent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: Outbox[tuple] | None = None
        self._pump: asyncio.Task | None = None

    async def send(self, *args: Any) -> Any:
        self._bind_loop()  # first: a new loop renames this endpoint, and the envelope carries the name
        return await super().send(*args)

    async def publish(self, *args: Any) -> None:
        """Returns once the bus has the message: a driver may end its loop right after."""
        outbox = self._bind_loop()
        await super().publish(*args)
        try:
            await outbox.accepted()
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
            raise BusUnavailable(f"the bus did not take the publish: {exc}") from exc

    def _route(self, envelope: Envelope) -> None:
        wire = envelope.to_wire()
        if wire[0] == Kind.SEND:
            self.via_bus[wire[1]] = wire
        self._bind_loop().put(wire)

    def _bind_loop(self) -> Outbox[tuple]:
        """Start the outbox and the answer pump in the running loop (a new ``asyncio.run`` gets new ones)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._outbox is None:
            if self._loop is not None:
                # The old loop's long poll may still be parked at the bus: answers sent to that name
                # would be lost with it, so a new loop is a new endpoint.
                self.bus.disconnect.remote(self.name)
                self.name = _new_name()
            self._loop = loop
            self.window = SendWindow(self.window.size)  # its semaphores belong to the old loop
            self._outbox = Outbox(lambda batch: self.bus.route.remote(self.name, batch), self._bus_refused)
            self._pump = loop.create_task(self._pump_answers())
        return self._outbox

    def _bus_refused(self, batch: list[tuple], error: BaseException) -> None:
        """The bus is restarting: a call goes again shortly, until its caller's timeout; a publish's caller
        hears ``BusUnavailable`` from ``publish``."""
        self.unsent += len(batch)
        asyncio.get_running_loop().call_later(BUS_RETRY_DELAY, self._send_again, [w[1] for w in batch])

    def _send_again(self, message_ids: list[str]) -> None:
        for message_id in message_ids:
            wire = self.via_bus.get(message_id)
            if wire is not None and self._outbox is not None:
                self._outbox.put(wire)

    async def _pump_answers(self) -> None:
        bus_lost = False
        while True:
            try:
                answers = await self.bus.pull.remote(self.name)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
                bus_lost = True  # it is restarting: poll again; callers' own timeouts still run
                await asyncio.sleep(BUS_RETRY_DELAY)
                continue
            if bus_lost:  # what the old bus held is gone: our unanswered calls go again (copies are dropped)
                bus_lost = False
                self._send_again(list(self.via_bus))
            for wire in answers:
                self.accept_answer(wire)

    def refresh_table(self) -> None:
        self.table = ray.get(self.bus.get_table.remote())

    async def drain(self) -> None:
        if self._outbox is not None:
            await self._outbox.drain()

    def close(self) -> None:
        if self._pump is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._pump.cancel)
        self._pump = None
        self._outbox = None
