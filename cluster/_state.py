"""Durable agent state: what ``Agent.save_state`` returns outlives the host actor that holds the agent.

``StateStore`` is the seam; ``SqlStateStore`` keeps it in a ``Database``: by default one SQLite file per
namespace in WAL mode, shared by the namespace's hosts on one machine (``SqliteStateStore``), or the schema of
the namespace in a PostgreSQL database that every node reaches (``PostgresStateStore``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from ._errors import Fenced
from ._sql import Database, PostgresDatabase, SqliteDatabase

__all__ = ["IN_STORE", "EncodedStateMap", "PostgresStateStore", "SqlStateStore", "SqliteStateStore", "StateMap",
           "StateStore", "encode_parts", "encode_state"]


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

    def text(self, key: str) -> str | None:
        """The stored part's text of an entry; None: deleted."""
        return encode_state(self[key]) if key in self else None

    def encoded(self, keys: Iterable[str]) -> None:
        """``keys`` went into a write: nothing has changed since."""
        self.changed.clear()


IN_STORE = ""  # an EncodedStateMap's entry whose text is in the store alone (no JSON text is empty)


class EncodedStateMap(StateMap):
    """A StateMap holding each entry as the JSON text it is stored as: for records kept by the thousand and read
    back rarely (the answers an agent remembers for copies of its messages). A remembered answer of hr's is 508
    bytes as objects and 260 as text (measured, 100,000 of them under ``tracemalloc``), and a department agent
    remembers one for each request it serves; the text is also what the next save writes, not encoded again.
    Once an entry is in the store (``stored``, ``kept``) its text leaves memory and only its key stays, with
    ``IN_STORE``: 246 bytes an entry held, about 100 left. ``decoded`` gives an entry back as JSON reads it
    (lists for tuples, strings for dates), or ``IN_STORE``."""

    __slots__ = ("written",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.written: set[str] = set()  # keys encoded for a write whose end is not known yet
        self.update(*args, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, encode_state(value))

    def text(self, key: str) -> str | None:
        return self.get(key)

    def encoded(self, keys: Iterable[str]) -> None:
        self.written.update(keys)
        super().encoded(keys)

    def decoded(self, key: str) -> Any:
        text = self.get(key)
        return text if not text else orjson.loads(text)

    def kept(self, keys: Iterable[str]) -> None:
        """Entries read from the store, in the order given: their keys alone stay."""
        for key in keys:
            dict.__setitem__(self, key, IN_STORE)

    def stored(self) -> None:
        """The write that took the entries ``encode_parts`` encoded last is done: their texts leave memory
        (those changed since stay, for the next write)."""
        for key in self.written:
            if key not in self.changed and key in self:
                dict.__setitem__(self, key, IN_STORE)
        self.written.clear()


@runtime_checkable
class StateStore(Protocol):
    remote: bool  # its calls go to a server over the network: a host makes them off its event loop

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
            keys = (set(value) | value.changed) if full else value.changed
            for key in keys:
                text = value.text(key)
                if text != IN_STORE:  # (after a failed write, ``full``, the stored ones need not go again)
                    parts[f"{name}{_PART}{key}"] = text
            value.encoded(keys)
        else:
            encoded = encode_state(value)
            if saved.get(name) != encoded:
                parts[name] = saved[name] = encoded
    return parts


# what orjson would write otherwise than the standard library (datetimes with a "T", dataclasses as objects)
# goes through ``default=str`` as before; non-string keys become strings, as json.dumps makes them
_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _as_json(value: Any) -> Any:
    """What orjson does not write itself, as the standard library writes it: a named tuple (a kept ``Publish``)
    as a list — orjson would hand it to ``default`` whole, and ``str`` would store its repr — else a string."""
    return list(value) if isinstance(value, tuple) else str(value)


def encode_state(state: Any) -> str:
    """JSON, with dates and other simple values as strings. Written by orjson, about ten times faster than
    ``json.dumps`` on an agent's entries (every handled message of a durable agent is one), to the same
    values; what orjson refuses (an integer past 64 bits) by the standard library."""
    try:
        return orjson.dumps(state, default=_as_json, option=_ORJSON).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(state, default=str, separators=(",", ":"))


class SqlStateStore:
    """A namespace's agent state in a ``Database``: rows keyed by (agent id, part).

    ``writer`` (a host's endpoint) fences the store: opening it claims the writer's name for a new epoch,
    and a write by an older epoch of the same writer — a ghost of a host whose node was lost, still running
    while its successor works — raises ``Fenced`` and stores nothing. A claim and a write of one writer never
    interleave (``Database.transaction`` locks the writer's name), so a ghost's write is either over before
    its successor has claimed (and so loads what it wrote) or refused."""

    SCHEMA = ("CREATE TABLE IF NOT EXISTS agent_state (agent_id TEXT NOT NULL, part TEXT NOT NULL, "
              "state TEXT NOT NULL, PRIMARY KEY (agent_id, part));"
              "CREATE TABLE IF NOT EXISTS writers (writer TEXT PRIMARY KEY, epoch INTEGER NOT NULL);")

    def __init__(self, db: Database, writer: str | None = None) -> None:
        self.db = db
        db.script(self.SCHEMA)
        self._fence = None if writer is None else (writer, self._claim(writer))

    @property
    def remote(self) -> bool:
        """Its calls go to a server over the network (a host makes them off its event loop)."""
        return self.db.remote

    def _claim(self, writer: str) -> int:
        """The next epoch of ``writer`` (counted in the store, not by any clock), now its only one."""
        with self.db.transaction(writer) as sql:
            (epoch,) = sql.execute("SELECT coalesce(max(epoch), 0) + 1 FROM writers WHERE writer = ?",
                                   (writer,)).fetchone()
            sql.execute("INSERT INTO writers VALUES (?, ?) ON CONFLICT (writer) DO UPDATE SET epoch = "
                        "excluded.epoch", (writer, epoch))
        return epoch

    def load(self, agent_id: str) -> dict[str, Any] | None:
        with self.db.reading() as sql:
            rows = sql.execute("SELECT part, state FROM agent_state WHERE agent_id = ?", (agent_id,)).fetchall()
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
        rows = _rows(parts)
        with self.db.transaction(self._fence[0] if self._fence else "") as sql:
            if self._fence is not None:
                (epoch,) = sql.execute("SELECT epoch FROM writers WHERE writer = ?", self._fence[:1]).fetchone()
                if epoch != self._fence[1]:
                    raise self._fenced()
            upserts = [row for row in rows if row[2] is not None]
            deletes = [row[:2] for row in rows if row[2] is None]
            if upserts:
                sql.executemany("INSERT INTO agent_state VALUES (?, ?, ?) ON CONFLICT (agent_id, part) DO UPDATE "
                                "SET state = excluded.state", upserts)
            if deletes:
                sql.executemany("DELETE FROM agent_state WHERE agent_id = ? AND part = ?", deletes)

    def _fenced(self) -> Fenced:
        return Fenced(f"{self._fence[0] if self._fence else None}: a newer incarnation writes its agents' state")

    def agents_with(self, name: str) -> list[str]:
        prefix = f"{name}{_PART}"
        with self.db.reading() as sql:
            rows = sql.execute("SELECT DISTINCT agent_id FROM agent_state WHERE substr(part, 1, ?) = ?",
                               (len(prefix), prefix)).fetchall()
        return [agent_id for (agent_id,) in rows]

    def close(self) -> None:
        self.db.close()


class SqliteStateStore(SqlStateStore):
    """A namespace's state in one SQLite file (WAL mode), shared by the namespace's hosts on one machine."""

    def __init__(self, path: str | Path, writer: str | None = None) -> None:
        super().__init__(SqliteDatabase(path), writer)


class PostgresStateStore(SqlStateStore):
    """A namespace's state in the schema named after it in the PostgreSQL database at ``url``.

    A write is one statement, a call of a function made with the schema (``save_parts``): the writer's lock,
    the epoch check, the upserts and the deletes run on the server, and the rows travel as one JSON text — one
    round trip whatever the number of rows, and a fraction of the client's CPU of a transaction of a statement
    per row (measured alone, 50 rows: 0.1 against 0.7 ms; psycopg adapts parameters in Python, the JSON is
    written in C)."""

    SCHEMA = SqlStateStore.SCHEMA + """
CREATE OR REPLACE FUNCTION save_parts(p_lock TEXT, p_writer TEXT, p_epoch BIGINT, p_rows TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_lock, 0));  -- as Database.transaction(writer) would
    IF p_writer IS NOT NULL AND (SELECT epoch FROM writers WHERE writer = p_writer) IS DISTINCT FROM p_epoch THEN
        RETURN FALSE;
    END IF;
    INSERT INTO agent_state SELECT r->>0, r->>1, r->>2 FROM json_array_elements(p_rows::JSON) r
        WHERE r->>2 IS NOT NULL ON CONFLICT (agent_id, part) DO UPDATE SET state = excluded.state;
    DELETE FROM agent_state s USING json_array_elements(p_rows::JSON) r
        WHERE r->>2 IS NULL AND s.agent_id = r->>0 AND s.part = r->>1;
    RETURN TRUE;
END $$;"""

    db: PostgresDatabase

    def __init__(self, url: str, namespace: str, writer: str | None = None) -> None:
        super().__init__(PostgresDatabase(url, namespace), writer)

    def save_many(self, parts: Mapping[str, Mapping[str, str | None]]) -> None:
        writer, epoch = self._fence or (None, None)
        if not self.db.call("SELECT save_parts(?, ?, ?, ?)", (self.db.lock_key(writer or ""), writer, epoch,
                                                            orjson.dumps(_rows(parts)).decode()))[0]:
            raise self._fenced()


def _rows(parts: Mapping[str, Mapping[str, str | None]]) -> list[tuple[str, str, str | None]]:
    """(agent id, part, encoded or None to delete) for each part of each agent."""
    return [(agent_id, part, encoded) for agent_id, found in parts.items() for part, encoded in found.items()]
