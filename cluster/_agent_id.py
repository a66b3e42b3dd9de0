"""AgentId: the identity of one agent, ``type/key``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ._ids import check_part, split_pair

__all__ = ["AgentId"]


@dataclass(frozen=True, slots=True)
class AgentId:
    """An agent's identity: its registered type and a key chosen by data (``employee/e17``)."""

    type: str
    key: str

    def __post_init__(self) -> None:
        check_part("agent id", "type", self.type)
        check_part("agent id", "key", self.key)

    @classmethod
    def from_str(cls, text: str) -> AgentId:
        return _parse(text) if cls is AgentId else cls(*split_pair("agent id", text))

    def __str__(self) -> str:
        return f"{self.type}/{self.key}"


@lru_cache(maxsize=1 << 16)
def _parse(text: str) -> AgentId:
    """Every delivery names its sender as text; the same few thousand ids recur, and ids are immutable."""
    return AgentId(*split_pair("agent id", text))
