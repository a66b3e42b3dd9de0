"""Durable agent state: what ``Agent.save_state`` returns outlives the host actor that holds the agent.

``StateStore`` is the seam; ``SqliteStateStore`` the default, one file per namespace in WAL mode, shared by
the namespace's hosts (so on a multi-node cluster its directory must be on storage every node reaches)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["SqliteStateStore", "StateStore", "encode_state"]


@runtime_checkable
class StateStore(Protocol):
    def load(self, agent_id: str) -> dict[str, Any] | None:
        """The last state saved for ``agent_id``, or ``None``."""
        ...

    def save_many(self, states: Mapping[str, str]) -> None:
        """Store encoded states (``encode_state``) by agent id, all in one transaction."""
        ...


def encode_state(state: dict[str, Any]) -> str:
    """JSON, with dates and other simple values as strings; equal states encode equal (to skip rewrites)."""
    return json.dumps(state, default=str, separators=(",", ":"))


class SqliteStateStore:
    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit; timeout: the namespace's hosts share the file
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS agent_state (agent_id TEXT PRIMARY KEY, state TEXT NOT NULL)")

    def load(self, agent_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT state FROM agent_state WHERE agent_id = ?", (agent_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def save_many(self, states: Mapping[str, str]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT INTO agent_state VALUES (?, ?) ON CONFLICT (agent_id) DO UPDATE "
                                 "SET state = excluded.state", list(states.items()))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()
