"""One SQL database behind the stores, SQLite or PostgreSQL, so a store's queries are written once.

Queries use ``?`` placeholders and the SQL both understand. ``Database.transaction(lock)`` is one transaction
that writers of the same ``lock`` never interleave: SQLite takes the file's write lock (``BEGIN IMMEDIATE``),
PostgreSQL an advisory lock on (schema, lock) for the transaction. ``reading()`` is for queries alone.

A PostgreSQL database is a schema of a server's database: every table a store makes lives in its own schema
(a namespace's agent state, one department's HR ledger), so the same queries serve both. Each process keeps one
connection pool per (server, schema), opened on first use, shared by every store of that schema there and
closed when the last of them closes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ._errors import StoreUnavailable

__all__ = ["POSTGRES_SCHEMES", "Database", "PostgresDatabase", "Sql", "SqliteDatabase", "is_postgres",
           "postgres_schemas", "redacted"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SCHEMA_BYTES = 63  # PostgreSQL's longest identifier


def is_postgres(location: str | Path | None) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def redacted(url: str) -> str:
    """The URL with its password, if any, replaced: for what is printed and logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class Sql(Protocol):
    """What a store's queries run on: a connection inside a transaction, or for reading."""

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> Any: ...


class Database(Protocol):
    remote: bool  # calls go to a server over the network: keep them off an event loop
    where: str  # for messages: the file, or the server (no password) and schema

    def transaction(self, lock: str = "") -> Any: ...  # a context manager giving an Sql

    def reading(self) -> Any: ...

    def script(self, statements: str) -> None: ...

    def close(self) -> None: ...


class SqliteDatabase:
    """One file in WAL mode; one connection, shared by the threads of the process that opened it."""

    remote = False

    def __init__(self, path: str | Path, cache_kib: int | None = None, page_bytes: int | None = None) -> None:
        """``cache_kib``: SQLite's own page cache for this connection, at most this many KiB (None: SQLite's
        default, 2 MiB); a process that keeps hundreds of files open caps each. ``page_bytes``: the page size of
        a file made here (None: SQLite's, 4 KiB); a file made before keeps its own."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.where = str(path)
        # isolation_level=None: transactions are explicit; timeout: several processes may share the file
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
        if page_bytes is not None:  # before WAL mode, which writes the file's first page
            self._db.execute(f"PRAGMA page_size={int(page_bytes)}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if cache_kib is not None:
            self._db.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # negative: KiB, not pages

    @contextmanager
    def transaction(self, lock: str = "") -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")  # the file's one writer: every lock at once
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        yield self._db

    def script(self, statements: str) -> None:
        self._db.executescript(statements.replace("{serial}", "INTEGER PRIMARY KEY"))

    def close(self) -> None:
        self._db.close()


class _PostgresSql:
    """A psycopg connection that takes the stores' ``?`` placeholders."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(_placeholders(query), params)

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> Any:
        with self._conn.cursor() as cursor:
            cursor.executemany(_placeholders(query), rows)


@lru_cache(maxsize=512)
def _placeholders(query: str) -> str:
    return query.replace("%", "%%").replace("?", "%s")



class PostgresDatabase:
    """The schema ``schema`` of the server database at ``url``, made on first use."""

    remote = True

    def __init__(self, url: str, schema: str, max_connections: int = 4, wait: float = 30.0) -> None:
        """``wait``: how long a call waits for a connection before it is ``StoreUnavailable``."""
        if len(schema.encode()) > _SCHEMA_BYTES or not schema:
            raise ValueError(f"{schema!r}: a PostgreSQL schema name has 1 to {_SCHEMA_BYTES} bytes; use a shorter "
                             "namespace")
        self.url, self.schema = url, schema
        self.where = f"{redacted(url)} schema {schema}"
        self._pool = _pools.take(url, schema, max_connections, wait)
        self._closed = False

    def lock_key(self, lock: str = "") -> str:
        """What ``transaction(lock)`` locks: a function that takes ``pg_advisory_xact_lock(hashtextextended(key,
        0))`` first keeps out of every transaction of that lock, as one of them would."""
        return f"{self.schema}\x1f{lock}"

    def call(self, query: str, params: Sequence[Any] = ()) -> tuple:
        """One statement (a call of a function of the schema, say) in a transaction of its own, and its first
        row: one round trip, and about a third of the client's CPU of a transaction begun and committed by
        hand around it (measured: 0.03 against 0.08-0.11 ms)."""
        with self._connection() as conn:
            return conn.execute(_placeholders(query), params).fetchone()

    @contextmanager
    def transaction(self, lock: str = "") -> Iterator[_PostgresSql]:
        """In pipeline mode: statements go together until one's result is read, so a transaction that reads
        once and then writes costs two round trips to the server, whatever its number of statements."""
        with self._connection() as conn:
            try:
                with conn.pipeline():  # BEGIN and COMMIT by hand: psycopg's transaction() syncs at each end
                    conn.execute("BEGIN")
                    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self.lock_key(lock),))
                    yield _PostgresSql(conn)
                    conn.execute("COMMIT")
            except BaseException:
                if not conn.broken:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def reading(self) -> Iterator[_PostgresSql]:
        with self._connection() as conn:
            yield _PostgresSql(conn)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg

        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, _pool_timeout()) as exc:
            raise StoreUnavailable(f"{self.where}: {exc}") from exc

    def script(self, statements: str) -> None:
        """Made once, whoever asks at the same time: a lock around making the schema and its tables."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('raybus schemas', 0))")
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(statements.replace("{serial}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _pools.give_back(self.url, self.schema)


def _pool_timeout() -> type[Exception]:
    from psycopg_pool import PoolTimeout

    return PoolTimeout


class _Pools:
    """This process's connection pools, by (server, schema), with how many open stores use each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[tuple[str, str], list[Any]] = {}  # → [pool, users]

    def take(self, url: str, schema: str, max_connections: int, wait: float) -> Any:
        from psycopg.conninfo import conninfo_to_dict
        from psycopg_pool import ConnectionPool

        with self._lock:
            found = self._pools.get((url, schema))
            if found is None:
                # autocommit: transactions are begun by hand; the URL's own options (synchronous_commit=off,
                # say) are kept, and the schema is every query's
                options = " ".join(filter(None, [conninfo_to_dict(url).get("options"), f'-c search_path="{schema}"']))
                pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=True, timeout=wait,
                                      name=f"raybus {schema}", kwargs={"autocommit": True, "options": options})
                found = self._pools[(url, schema)] = [pool, 0]
            found[1] += 1
            return found[0]

    def give_back(self, url: str, schema: str) -> None:
        with self._lock:
            found = self._pools[(url, schema)]
            found[1] -= 1
            if found[1] == 0:
                del self._pools[(url, schema)]
                found[0].close()


_pools = _Pools()


def postgres_schemas(url: str, prefix: str) -> list[str]:
    """The schemas of the database at ``url`` whose names start with ``prefix``, sorted."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY nspname",
                                (prefix,)).fetchall()
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"{redacted(url)}: {exc}") from exc
    return [name for (name,) in rows]
