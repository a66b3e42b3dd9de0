"""Principal: who a driver is, as the runtime vouches for it — ``admin``, ``user/<id>``, ``service/<name>``, or
``anonymous`` (a driver that presented no credential).

A message carries its sender as text: an agent's id (``type/key``) or a driver's principal. The two never
collide, because no agent type may take a principal's kind as its name (``check_agent_type``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ._agent_id import AgentId
from ._ids import check_part

__all__ = ["ADMIN", "ANONYMOUS", "KINDS", "Principal", "check_agent_type", "is_principal", "stamped"]

_BARE = ("admin", "anonymous")  # no name: there is one of each per namespace
_NAMED = ("service", "user")
KINDS = frozenset(_BARE + _NAMED)


@dataclass(frozen=True, slots=True)
class Principal:
    """``Principal("user", "e17")`` ↔ ``"user/e17"``; ``Principal("admin")`` ↔ ``"admin"``."""

    kind: str
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind in _BARE:
            if self.name:
                raise ValueError(f"invalid principal {self.kind}/{self.name}: {self.kind!r} takes no name")
        elif self.kind in _NAMED:
            check_part("principal", "name", self.name)
        else:
            raise ValueError(f"invalid principal kind {self.kind!r}: expected admin, anonymous, user/<id> or "
                             "service/<name>")

    @classmethod
    def parse(cls, text: str | Principal) -> Principal:
        """``"user/e17"`` → ``Principal("user", "e17")``; raises ``ValueError`` naming what is wrong."""
        return text if isinstance(text, Principal) else _parse(text)

    @classmethod
    def user(cls, user_id: str) -> Principal:
        return cls("user", user_id)

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls("service", name)

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" if self.name else self.kind


ADMIN = Principal("admin")
ANONYMOUS = Principal("anonymous")


@lru_cache(maxsize=1024)
def _parse(text: str) -> Principal:
    if not isinstance(text, str):
        raise ValueError(f"invalid principal {text!r}: expected text such as 'user/e17'")
    kind, _, name = text.partition("/")
    return Principal(kind, name)


def is_principal(sender: str) -> bool:
    """Whether a stamped sender names a driver's principal rather than an agent."""
    return sender.partition("/")[0] in KINDS


def check_agent_type(agent_type: str) -> str:
    """An agent type may not be named as a principal's kind: ``user/e17`` must never be an agent's id."""
    if agent_type in KINDS:
        raise ValueError(f"agent type {agent_type!r} is reserved: {', '.join(sorted(KINDS))} name drivers' "
                         "principals")
    return agent_type


@lru_cache(maxsize=1 << 16)
def stamped(sender: str | None) -> tuple[AgentId | None, Principal | None]:
    """A message's stamped sender as a handler sees it: the agent that sent it, or the driver's principal
    (both None for the runtime's own messages). Cached: the same few thousand senders recur."""
    if sender is None:
        return None, None
    if is_principal(sender):
        return None, _parse(sender)
    return AgentId.from_str(sender), None
