"""ControlPlane: what a bus shard keeps besides the messages in flight — the routing table and, at shard 0,
the namespace's credentials — and the changes to them.

Shard 0 owns the authoritative table and hands every change to the other shards, and each shard to its
hosts, before it answers: a driver's next message finds the change wherever it goes, and an interceptor
added applies to in-process calls as soon as ``intercept`` returns. With a state location shard 0 writes the
table on every change to the namespace's store (``TableKeeper``) and reads it back when Ray restarts it; with a
directory it keeps the credentials' digests in a file beside it, with a database as a row of its store.
Who may make a change is the bus's question (``Bus.control``: the admin only); this module makes it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import ray

from ._credentials import Credentials
from ._gate import Gate
from ._interceptor import Interceptor
from ._location import is_postgres, node_path
from ._principal import Principal
from ._routing import AgentTypeSpec, RoutingTable
from ._shards import table_of
from ._subscription import Subscription
from ._table_keeper import TableKeeper
from .constants import BUS_NAME, bus_name

__all__ = ["ControlPlane"]


class ControlPlane:
    def __init__(self, namespace: str, shard: int, shards: int, state: str | None, counts: Counter[str],
                 hosts: Callable[[], Iterable[Any]], restarted: bool) -> None:
        self.namespace, self.shard, self.shards = namespace, shard, shards
        self._hosts = hosts  # this shard's hosts, which take every new table from it
        self.gate = Gate(namespace, counts)
        self.tables = TableKeeper(state, namespace) if state is not None and shard == 0 else None
        self.table = RoutingTable()
        self.credentials: Credentials | None = None  # shard 0's; the others ask it to check one
        if shard == 0:
            in_file = state is not None and not is_postgres(state)
            self.credentials = Credentials(node_path(state) / f"{namespace}.credentials" if in_file else None,
                                           restarted, self.tables.store if self.tables and not in_file else None)
            if restarted and self.tables is not None:
                self.table = self.tables.load() or self.table
        else:
            self.table = table_of(ray.get_actor(BUS_NAME, namespace=namespace), namespace)

    # --- connections and credentials ----------------------------------------------------------
    def join(self, session: str, credential: str | None) -> tuple[str, str | None]:
        """Shard 0: bind a new connection. The first driver of the namespace that comes without a credential
        is handed the admin credential (once, ever); later ones without are anonymous."""
        issued = self.credentials.issue_admin() if credential is None else None
        return self.gate.bind(session, self.credentials.principal_of(issued or credential)), issued

    async def bind(self, session: str, credential: str | None) -> str:
        """Bind a connection at this shard (again, after a restart or a revocation) by its credential, which
        shard 0 checks."""
        if self.credentials is not None:
            return self.gate.bind(session, self.credentials.principal_of(credential))
        found = await ray.get_actor(BUS_NAME, namespace=self.namespace).verify.remote(credential)
        return self.gate.bind(session, found)

    async def grant(self, principal: str) -> str:
        return self.credentials.grant(Principal.parse(principal))

    async def revoke(self, principal: str) -> int:
        """Forget the principal's credentials (how many there were), then have every shard drop its
        connections before answering: they stop working now, everywhere."""
        named = Principal.parse(principal)
        revoked = self.credentials.revoke(named)
        await asyncio.gather(*(peer.forget.remote(str(named)) for peer in self._peers()))
        self.gate.forget(str(named))
        return revoked

    # --- the routing table --------------------------------------------------------------------
    async def register(self, spec: AgentTypeSpec, message_types: list[type]) -> int:
        if self.table.add_type(spec, message_types):
            await self.broadcast()
        return self.table.version

    async def register_messages(self, message_types: list[type]) -> int:
        for cls in message_types:
            self.table.messages.add(cls)
        self.table.version += 1
        await self.broadcast()
        return self.table.version

    async def intercept(self, interceptors: list[Interceptor]) -> int:
        if self.table.add_interceptors(interceptors):
            await self.broadcast()
        return self.table.version

    async def subscribe(self, subscriptions: list[Subscription]) -> int:
        for subscription in subscriptions:
            self.table.spec_of(getattr(subscription, "agent_type", None) or subscription.agent_id.type)
        if any([self.table.subscribe(subscription) for subscription in subscriptions]):
            await self.broadcast()
        return self.table.version

    async def unsubscribe(self, subscriptions: list[Subscription]) -> int:
        if any([self.table.unsubscribe(subscription) for subscription in subscriptions]):
            await self.broadcast()
        return self.table.version

    async def update_table(self, table: RoutingTable) -> None:
        """At a shard other than 0: shard 0's change, handed on to this shard's hosts."""
        if table.version >= self.table.version:
            self.table = table
            await self.broadcast()

    async def broadcast(self) -> None:
        if self.shard == 0 and self.tables is not None:
            await self.tables.save(self.table)
        if self.shard == 0:
            await asyncio.gather(*(peer.update_table.remote(self.table) for peer in self._peers()))
        # answered once every host has the table: an interceptor added is applied to in-process calls too
        await asyncio.gather(*(host.update_table.remote(self.table) for host in self._hosts()),
                             return_exceptions=True)

    def _peers(self) -> list[Any]:
        return [ray.get_actor(bus_name(shard), namespace=self.namespace) for shard in range(1, self.shards)]

