"""Placement: which host actor runs an agent. Ray actors cost ~50 MB each, so populous types share."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._ids import check_part

__all__ = ["Dedicated", "Placement", "Sharded"]


@dataclass(frozen=True, slots=True)
class Dedicated:
    """One Ray actor per agent: isolation for a handful of important agents. Asked for (``Dedicated()``), an
    agent stays there; as the runtime's default for a type registered with no placement (``movable=True``), the
    runtime moves it next to the agents it talks to (``_moves.py``)."""

    movable: bool = False

    def endpoint(self, agent_type: str, key: str) -> str:
        return f"agent:{agent_type}/{key}"


@dataclass(frozen=True, slots=True)
class Sharded:
    """Agents live in ``n`` host actors by a stable hash of their id, each with its own state and serial
    mailbox. Types that name the same ``pool`` share its hosts, so their messages stay in-process.

    ``groups`` maps agent ids (``"type/key"``) to a group name: a group's agents share one host, whatever
    their type, so agents that talk mostly among themselves (a department's employees, manager, teams and
    hr) never leave it. Groups are dealt to the hosts in turn, in sorted order; ids not listed are hashed.

    With neither ``pool`` nor ``groups`` the hash is where an agent starts: the runtime moves it next to the
    agents it talks to (``movable``). A pool or groups is the user's own placement, and stays."""

    n: int = 1
    pool: str | None = None
    groups: Mapping[str, str] = field(default_factory=dict, repr=False)
    _shard_of: dict[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"Sharded(n={self.n!r}): n must be a positive integer")
        if self.pool is not None:
            check_part("placement", "pool", self.pool)
        turn = {group: index % self.n for index, group in enumerate(sorted(set(self.groups.values())))}
        object.__setattr__(self, "_shard_of", {agent: turn[group] for agent, group in self.groups.items()})

    @property
    def movable(self) -> bool:
        return self.pool is None and not self.groups

    def endpoint(self, agent_type: str, key: str) -> str:
        agent_id = f"{agent_type}/{key}"
        shard = self._shard_of.get(agent_id)
        if shard is None:
            # crc32, not hash(): it must agree across processes, whose str hashes are salted.
            shard = zlib.crc32(agent_id.encode()) % self.n if self.n > 1 else 0
        return f"pool:{self.pool or agent_type}.{shard}"


Placement = Dedicated | Sharded
