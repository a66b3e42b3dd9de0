"""Durable agent state: what ``Agent.save_state`` returns outlives the host actor that holds the agent.

``StateStore`` is the seam; ``SqliteStateStore`` the default, one file per namespace in WAL mode, shared by
the namespace's hosts (so on a multi-node cluster its directory must be on storage every node reaches)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._errors import Fenced

__all__ = ["SqliteStateStore", "StateMap", "StateStore", "StateWriter", "encode_parts", "encode_state"]


_PART = "\x1f"  # between a StateMap's name and an entry's key in a stored part's name


class StateMap(dict):
    """Keyed records kept in an agent's state (requests by id, reservations by id): the runtime stores only
    the entries set or deleted since the last save, so a save costs what changed, not what the agent holds.
    A value changed in place is not seen: assign it again."""

    __slots__ = ("changed",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.changed: set[str] = set(self)

    @classmethod
    def loaded(cls, entries: Mapping[str, Any]) -> StateMap:
        """The map as ``load_state`` gets it back: already stored, so nothing to save yet."""
        found = cls(entries)
        found.changed.clear()
        return found

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.changed.add(key)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.changed.add(key)

    def pop(self, key: str, *default: Any) -> Any:
        self.changed.add(key)
        return super().pop(key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


@runtime_checkable
class StateStore(Protocol):
    def load(self, agent_id: str) -> dict[str, Any] | None:
        """The last state saved for ``agent_id``, or ``None``; a StateMap's entries come back as a dict."""
        ...

    def save_many(self, parts: Mapping[str, Mapping[str, str | None]]) -> None:
        """By agent id, encoded parts to store (``None`` deletes one), all in one transaction."""
        ...

    def agents_with(self, name: str) -> list[str]:
        """The agents that have stored entries of the StateMap ``name``."""
        ...


def encode_parts(state: dict[str, Any], saved: dict[str, str], full: bool = False) -> dict[str, str | None]:
    """The parts of ``state`` that differ from ``saved`` (updated in place): a plain value is one part, a
    StateMap one part per changed entry (every entry when ``full``). Equal values encode equal, so an
    unchanged plain part is not rewritten."""
    parts: dict[str, str | None] = {}
    for name, value in state.items():
        if isinstance(value, StateMap):
            for key in (set(value) | value.changed) if full else value.changed:
                part = f"{name}{_PART}{key}"
                parts[part] = encode_state(value[key]) if key in value else None
            value.changed.clear()
        else:
            encoded = encode_state(value)
            if saved.get(name) != encoded:
                parts[name] = saved[name] = encoded
    return parts


def encode_state(state: Any) -> str:
    """JSON, with dates and other simple values as strings."""
    return json.dumps(state, default=str, separators=(",", ":"))


class SqliteStateStore:
    """``writer`` (a host's endpoint) fences the store: opening it claims the writer's name for a new epoch,
    and a write by an older epoch of the same writer — a ghost of a host whose node was lost, still running
    while its successor works — raises ``Fenced`` and stores nothing."""

    def __init__(self, path: str | Path, writer: str | None = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit; timeout: the namespace's hosts share the file
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS agent_state (agent_id TEXT NOT NULL, part TEXT NOT NULL, "
                         "state TEXT NOT NULL, PRIMARY KEY (agent_id, part))")
        self._db.execute("CREATE TABLE IF NOT EXISTS writers (writer TEXT PRIMARY KEY, epoch INTEGER NOT NULL)")
        self._fence = None if writer is None else (writer, self._claim(writer))

    def _claim(self, writer: str) -> int:
        """The next epoch of ``writer`` (counted in the store, not by any clock), now its only one."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            (epoch,) = self._db.execute("SELECT coalesce(max(epoch), 0) + 1 FROM writers WHERE writer = ?",
                                        (writer,)).fetchone()
            self._db.execute("INSERT INTO writers VALUES (?, ?) ON CONFLICT (writer) DO UPDATE SET epoch = "
                             "excluded.epoch", (writer, epoch))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return epoch

    def load(self, agent_id: str) -> dict[str, Any] | None:
        rows = self._db.execute("SELECT part, state FROM agent_state WHERE agent_id = ?", (agent_id,)).fetchall()
        if not rows:
            return None
        state: dict[str, Any] = {}
        for part, encoded in rows:
            name, sep, key = part.partition(_PART)
            if sep:
                state.setdefault(name, {})[key] = json.loads(encoded)
            else:
                state[name] = json.loads(encoded)
        return state

    def save_many(self, parts: Mapping[str, Mapping[str, str | None]]) -> None:
        rows = [(agent_id, part, encoded) for agent_id, found in parts.items() for part, encoded in found.items()]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._fence is not None:
                (epoch,) = self._db.execute("SELECT epoch FROM writers WHERE writer = ?", self._fence[:1]).fetchone()
                if epoch != self._fence[1]:
                    raise Fenced(f"{self._fence[0]}: a newer incarnation writes its agents' state")
            self._db.executemany("INSERT INTO agent_state VALUES (?, ?, ?) ON CONFLICT (agent_id, part) DO UPDATE "
                                 "SET state = excluded.state", [r for r in rows if r[2] is not None])
            self._db.executemany("DELETE FROM agent_state WHERE agent_id = ? AND part = ?",
                                 [r[:2] for r in rows if r[2] is None])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def agents_with(self, name: str) -> list[str]:
        low = f"{name}{_PART}"
        rows = self._db.execute("SELECT DISTINCT agent_id FROM agent_state WHERE part >= ? AND part < ?",
                                (low, f"{name}\x20"))
        return [agent_id for (agent_id,) in rows]

    def close(self) -> None:
        self._db.close()


class StateWriter:
    """A host's group commit: ``mark`` an agent once it has handled a message; in the next turn of the loop
    every marked agent's state is encoded into its changed parts and stored in one transaction. ``mark``
    returns the future of that write: the answers of the marked messages wait on it, the agents do not."""

    def __init__(self, store: StateStore, counts: Counter[str]) -> None:
        self.store = store
        self.counts = counts
        self._dirty: dict[str, Callable[[], dict[str, Any] | None]] = {}
        self._saved: dict[str, dict[str, str]] = {}  # plain parts as last stored: unchanged ones are not written
        self._unsure: set[str] = set()  # a write failed for these: the next one writes everything
        self._writing: asyncio.Future | None = None

    def load(self, agent_id: str) -> dict[str, Any] | None:
        return self.store.load(agent_id)

    def mark(self, agent_id: str, save_state: Callable[[], dict[str, Any] | None]) -> asyncio.Future:
        self._dirty[agent_id] = save_state
        if self._writing is None:
            loop = asyncio.get_running_loop()
            self._writing = loop.create_future()
            loop.call_soon(self._write)
        return self._writing

    def _write(self) -> None:
        dirty, self._dirty = self._dirty, {}
        writing, self._writing = self._writing, None
        changed: dict[str, dict[str, str | None]] = {}
        try:
            for agent_id, save_state in dirty.items():
                state = save_state()
                saved = self._saved.setdefault(agent_id, {})
                parts = {} if state is None else encode_parts(state, saved, agent_id in self._unsure)
                self._unsure.discard(agent_id)
                if parts:
                    changed[agent_id] = parts
            if changed:
                self.store.save_many(changed)
                self.counts["state_writes"] += 1
                self.counts["states_saved"] += len(changed)
                self.counts["state_parts_saved"] += sum(len(parts) for parts in changed.values())
            writing.set_result(None)
        except Exception as exc:
            for agent_id in changed:
                self._saved[agent_id] = {}
                self._unsure.add(agent_id)
            writing.set_exception(exc)
