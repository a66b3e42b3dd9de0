"""TableKeeper: bus shard 0 keeps the namespace's routing table (registry, subscriptions, interceptors) in the
namespace's state store, so a restarted shard 0 reads it back — from the database every node reaches, or from
the directory of the node it restarts on (which, for a node of its own, is not the one it was written on)."""

from __future__ import annotations

import asyncio
import base64
import pickle
from concurrent.futures import ThreadPoolExecutor

from ._location import open_state_store
from ._routing import RoutingTable
from ._state import encode_state

__all__ = ["TABLE_ROW", "TableKeeper"]

TABLE_ROW = "\x1ebus"  # the row's agent id: no agent's id starts with a control character


class TableKeeper:
    def __init__(self, location: str, namespace: str) -> None:
        self.store = open_state_store(location, namespace)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raybus-table")  # in order of change

    def load(self) -> RoutingTable | None:
        stored = self.store.load(TABLE_ROW)
        return None if stored is None else pickle.loads(base64.b64decode(stored["table"]))

    async def save(self, table: RoutingTable) -> None:
        """Taken now (the table goes on changing), written off the bus's loop after the changes before it."""
        encoded = encode_state(base64.b64encode(pickle.dumps(table)).decode())
        await asyncio.get_running_loop().run_in_executor(
            self._thread, self.store.save_many, {TABLE_ROW: {"table": encoded}})
