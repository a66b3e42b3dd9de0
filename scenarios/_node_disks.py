"""Each worker node of a simulated cluster has a disk of its own: a home directory (``HOME`` of its processes),
so a directory store under ``~`` is each node's own, as on a real cluster. A lost node takes its disk with it:
what the run had there is said first, plainly, then the directory is deleted."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

__all__ = ["lose_disk", "what_is_on"]


def what_is_on(home: Path) -> list[str]:
    """The run data on a node's disk, one line per database: where, and what it holds."""
    return [f"{path.relative_to(home)}: {_holds(path)}" for path in sorted(home.rglob("*.db"))]


def _holds(path: Path) -> str:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "agent_state" in tables:
                (agents,) = db.execute("SELECT COUNT(DISTINCT agent_id) FROM agent_state").fetchone()
                return f"the stored state of {agents} agents (and the bus's routing table if it ran there)"
            if "requests" in tables:
                (requests,) = db.execute("SELECT COUNT(*) FROM requests").fetchone()
                (decisions,) = db.execute("SELECT COUNT(*) FROM decisions").fetchone()
                return f"an HR ledger: {requests} requests, {decisions} audited decisions"
    except sqlite3.Error as exc:
        return f"a database that could not be read ({exc})"
    return "a database of other tables"


def lose_disk(home: Path) -> list[str]:
    """What the disk held (``what_is_on``), then the disk is gone."""
    lost = what_is_on(home) if home.exists() else []
    shutil.rmtree(home, ignore_errors=True)
    return lost
