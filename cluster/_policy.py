"""A declarative policy: who may send which message to whom, who may publish where, and what a broadcast
may never carry. An application states its rules as data; ``Policy`` is the interceptor that applies them.

A rule names senders as the runtime stamps them: agents by id (``manager/m1``), drivers by principal
(``user/e17``, ``service/pto``, ``admin``, ``anonymous``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import NotAuthorized
from ._interceptor import Intercepted, Interceptor

__all__ = ["Policy", "PublishRule", "Redact", "SendRule"]


@dataclass(frozen=True)
class SendRule:
    """``message_types`` sent to agents of ``target_type`` may come only from the senders (agent ids or driver
    principals) listed for that agent; an agent of that type that is not listed takes them from no one.
    With ``sender_field``, the payload's field must also name the sender's own key or name (an employee may ask
    a hold for itself only)."""

    message_types: frozenset[str]
    target_type: str
    senders: Mapping[str, frozenset[str]]
    why: str
    sender_field: str | None = None

    def check(self, message: Intercepted) -> None:
        if message.target.partition("/")[0] != self.target_type:
            return
        sender, allowed = message.sender, self.senders.get(message.target, frozenset())
        if sender not in allowed:
            raise NotAuthorized(f"{sender} may not send {message.type_name} to {message.target}: {self.why} "
                                f"({_named(allowed)})")
        if self.sender_field is not None:
            claimed = message.payload.get(self.sender_field) if isinstance(message.payload, dict) else None
            if claimed != sender.partition("/")[2]:
                raise NotAuthorized(f"{sender} may not send {message.type_name} with {self.sender_field}="
                                    f"{claimed!r}: only for itself")


@dataclass(frozen=True)
class PublishRule:
    """A topic of ``topic_type`` takes publishes only from the publishers listed for it (none if unlisted)."""

    topic_type: str
    publishers: Mapping[str, frozenset[str]]
    why: str

    def check(self, message: Intercepted) -> None:
        publisher, allowed = message.sender, self.publishers.get(message.target, frozenset())
        if publisher not in allowed:
            raise NotAuthorized(f"{publisher} may not publish to {message.target}: {self.why} ({_named(allowed)})")


@dataclass(frozen=True)
class Redact:
    """Publishes on these topic types never carry these fields, whoever sends them."""

    topic_types: frozenset[str]
    fields: frozenset[str]

    def apply(self, payload: Any) -> Any:
        if not isinstance(payload, dict) or self.fields.isdisjoint(payload):
            return payload
        return {k: v for k, v in payload.items() if k not in self.fields}


@dataclass(frozen=True)
class Policy(Interceptor):
    rules: tuple[SendRule | PublishRule | Redact, ...]
    _sends: dict[str, tuple[SendRule, ...]] = field(init=False, repr=False, compare=False)
    _publishes: dict[str, tuple[PublishRule, ...]] = field(init=False, repr=False, compare=False)
    _redactions: dict[str, tuple[Redact, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # indexed by message type and topic type: the policy runs on every message
        object.__setattr__(self, "_sends", _index(
            (t, r) for r in self.rules if isinstance(r, SendRule) for t in r.message_types))
        object.__setattr__(self, "_publishes", _index(
            (r.topic_type, r) for r in self.rules if isinstance(r, PublishRule)))
        object.__setattr__(self, "_redactions", _index(
            (t, r) for r in self.rules if isinstance(r, Redact) for t in r.topic_types))

    def on_send(self, message: Intercepted) -> Any:
        for rule in self._sends.get(message.type_name, ()):
            rule.check(message)
        return message.payload

    def on_publish(self, message: Intercepted) -> Any:
        topic_type = message.target.partition("/")[0]
        for rule in self._publishes.get(topic_type, ()):
            rule.check(message)
        payload = message.payload
        for redaction in self._redactions.get(topic_type, ()):
            payload = redaction.apply(payload)
        return payload


def _index(pairs: Iterable[tuple[str, Any]]) -> dict[str, tuple[Any, ...]]:
    index: dict[str, tuple[Any, ...]] = {}
    for key, rule in pairs:
        index[key] = (*index.get(key, ()), rule)
    return index


def _named(allowed: frozenset[str], most: int = 3) -> str:
    if not allowed:
        return "no one may"
    names = sorted(allowed)
    return "allowed: " + ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")
