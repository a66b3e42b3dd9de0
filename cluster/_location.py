"""Where a namespace's durable state lives: a directory (SQLite, the default on one machine) or the URL of a
PostgreSQL database that every node reaches. The location travels as a string to the bus and the hosts, and
each process opens the store where it runs.

A directory that starts with ``~`` is expanded by each process on its own node: the home of the user the node
runs as. That is what a directory on a cluster is anyway — each node's own disk unless it is shared; saying
``~`` keeps it honest. Other directories are made absolute where the driver connects."""

from __future__ import annotations

import os
from pathlib import Path

from ._sql import is_postgres, redacted
from ._state import PostgresStateStore, SqliteStateStore, SqlStateStore

__all__ = ["describe_location", "node_path", "open_state_store", "state_location"]


def state_location(state: str | os.PathLike | None = None, state_dir: str | os.PathLike | None = None) -> str | None:
    """``Runtime.connect``'s ``state`` (a directory or a ``postgresql://`` URL) or, the older name of a
    directory, ``state_dir``: a directory made absolute but for a leading ``~``; ``None``: state in memory."""
    if state is not None and state_dir is not None:
        raise ValueError("give state= or state_dir=, not both: state= takes a directory or a postgresql:// URL")
    location = state if state is not None else state_dir
    if location is None or is_postgres(location):
        return location
    text = str(location)
    if not text:
        raise ValueError("state: an empty location; give a directory or a postgresql:// URL")
    return text if text.startswith("~") else str(Path(text).resolve())


def node_path(directory: str | os.PathLike) -> Path:
    """A directory as this process's node has it (``~`` is this node's home)."""
    return Path(directory).expanduser()


def open_state_store(location: str, namespace: str, writer: str | None = None) -> SqlStateStore:
    """The namespace's store at ``location``: ``<directory>/<namespace>.db``, or the namespace's schema."""
    if is_postgres(location):
        return PostgresStateStore(location, namespace, writer)
    return SqliteStateStore(node_path(location) / f"{namespace}.db", writer)


def describe_location(location: str) -> str:
    """For what a run prints at its start: which store, and where (a URL without its password)."""
    if is_postgres(location):
        return f"PostgreSQL {redacted(location)}"
    where = node_path(location)
    return f"SQLite under {where}" + (f" (on each node: {location})" if location.startswith("~") else "")
