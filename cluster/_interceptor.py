"""Interceptors: code that sees every send and publish where it is routed, and may allow, rewrite or refuse it.

Like dramatiq's middleware or AutoGen's intervention handlers, but enforced by the router — the bus, or
the host that delivers in-process by the same routing table — after the true sender is stamped, so a
sender cannot step around them. Interceptors travel inside the routing table: they must pickle, and they
must be deterministic (the bus and every host run their own copy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._principal import is_principal

__all__ = ["Intercepted", "Interceptor", "screen"]


@dataclass(frozen=True, slots=True)
class Intercepted:
    """One message as its router sees it: ``target`` is an agent id for a send, a topic for a publish."""

    sender: str | None  # stamped by the runtime: an agent's id, or a driver's principal (None: the runtime)
    target: str
    type_name: str
    payload: Any  # the message as plain data (``model_dump``), before validation at the recipient

    @property
    def from_agent(self) -> bool:
        """An agent sent it (``sender`` is its id); else a driver, whose principal ``sender`` names."""
        return self.sender is not None and not is_principal(self.sender)


class Interceptor:
    """Subclass and override what you need. Return the payload to let the message through (a changed
    payload rewrites it); raise a ``RaybusError`` (``NotAuthorized``) to refuse it — the sender hears it,
    the dead-letter topic records it, and nothing is delivered."""

    def on_send(self, message: Intercepted) -> Any:
        return message.payload

    def on_publish(self, message: Intercepted) -> Any:
        return message.payload


def screen(interceptors: tuple[Interceptor, ...], is_publish: bool, sender: str | None, target: str,
           type_name: str, payload: Any) -> Any:
    """Run ``payload`` through every interceptor in order; each sees what the one before let through."""
    for interceptor in interceptors:
        message = Intercepted(sender, target, type_name, payload)
        payload = interceptor.on_publish(message) if is_publish else interceptor.on_send(message)
    return payload
