"""Placement: which host actor runs an agent. Ray actors cost ~50 MB each, so populous types share."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ._ids import check_part

__all__ = ["Dedicated", "Placement", "Sharded"]


@dataclass(frozen=True, slots=True)
class Dedicated:
    """One Ray actor per agent: isolation for a handful of important agents."""

    def endpoint(self, agent_type: str, key: str) -> str:
        return f"agent:{agent_type}/{key}"


@dataclass(frozen=True, slots=True)
class Sharded:
    """Agents live in ``n`` host actors by a stable hash of their id, each with its own state and serial
    mailbox. Types that name the same ``pool`` share its hosts, so their messages stay in-process."""

    n: int = 1
    pool: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"Sharded(n={self.n!r}): n must be a positive integer")
        if self.pool is not None:
            check_part("placement", "pool", self.pool)

    def endpoint(self, agent_type: str, key: str) -> str:
        # crc32, not hash(): it must agree across processes, whose str hashes are salted.
        shard = zlib.crc32(f"{agent_type}/{key}".encode()) % self.n if self.n > 1 else 0
        return f"pool:{self.pool or agent_type}.{shard}"


Placement = Dedicated | Sharded
