"""Gate: a bus shard's door. Which driver connection speaks as which principal — bound once per connection,
when the driver presents its credential, and looked up once per batch (a dict lookup, never a hash) — and
the control plane's check that the caller is the namespace's admin."""

from __future__ import annotations

from collections import Counter

from ._errors import NotAuthorized, Unbound
from ._principal import ADMIN
from .constants import CLIENT_PREFIX, session_of

__all__ = ["Gate"]

_ADMIN = str(ADMIN)


class Gate:
    def __init__(self, namespace: str, counts: Counter[str]) -> None:
        self.namespace = namespace
        self.counts = counts
        self.sessions: dict[str, str] = {}  # a driver connection → its principal, for this shard's life

    def principal(self, origin: str) -> str | None:
        """The principal a driver endpoint speaks as; None if its connection is not bound at this shard."""
        return self.sessions.get(session_of(origin)) if origin.startswith(CLIENT_PREFIX) else None

    def bind(self, session: str, principal: str | None) -> str:
        """Bind a connection to the principal its credential named (None: the credential is unknown)."""
        if principal is None:
            self.counts["credentials_refused"] += 1
            raise NotAuthorized(f"namespace {self.namespace!r} does not know this credential (never granted here, "
                                "or revoked)")
        self.sessions[session] = principal
        return principal

    def forget(self, principal: str) -> None:
        """Unbind every connection of a revoked principal: their next message finds them unknown."""
        for session in [session for session, bound in self.sessions.items() if bound == principal]:
            del self.sessions[session]

    def require_admin(self, origin: str, what: str) -> None:
        """Raise unless ``origin`` is a connection of the admin; a refusal is counted (``control_refused``)."""
        principal = self.principal(origin)
        if principal is None:
            raise Unbound(f"namespace {self.namespace!r}: connection {origin} is not bound at this bus shard")
        if principal != _ADMIN:
            self.counts["control_refused"] += 1
            raise NotAuthorized(f"{principal} may not {what} in namespace {self.namespace!r}: only its admin may")
