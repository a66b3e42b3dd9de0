"""Who is calling: bearer tokens the gateway signs and verifies itself (HMAC, ``itsdangerous``).

A token names one person of the org — an employee, a manager, or hr of a department — and nothing else:
what they may see and do follows from the org (``gateway.access``). The demo tokens of a generated org are
signed with the gateway's secret and handed out by ``pto_serve`` and, in demo mode, by the page itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadData, URLSafeSerializer

from actors.org import Org

__all__ = ["InvalidToken", "Person", "Tokens", "people_of"]

Kind = Literal["employee", "manager", "hr"]


class InvalidToken(ValueError):
    """A bearer token that is malformed, not signed with this gateway's secret, or names no one of the org."""


@dataclass(frozen=True, slots=True)
class Person:
    kind: Kind
    id: str  # employee id, manager id, or the department hr answers for
    name: str = ""

    @property
    def subject(self) -> str:
        return f"{self.kind}/{self.id}"


class Tokens:
    """Signs and verifies tokens for the people of ``org`` with ``secret``."""

    def __init__(self, secret: str, org: Org) -> None:
        if len(secret) < 16:
            raise ValueError("a gateway secret needs at least 16 characters")
        self._signer = URLSafeSerializer(secret, salt="raybus.gateway.token")
        self._people = {p.subject: p for p in people_of(org)}

    def issue(self, person: Person) -> str:
        return self._signer.dumps({"sub": person.subject})

    def verify(self, token: str) -> Person:
        try:
            claims = self._signer.loads(token)
        except BadData:
            raise InvalidToken("the bearer token is not one this gateway signed") from None
        person = self._people.get(claims.get("sub", "") if isinstance(claims, dict) else "")
        if person is None:
            raise InvalidToken("the bearer token names no one of this org")
        return person


def people_of(org: Org) -> list[Person]:
    """Everyone who may sign in: each employee, each manager, and hr of each department."""
    return ([Person("employee", e.id, e.name) for e in org.employees.values()]
            + [Person("manager", m.id, m.name) for m in org.managers.values()]
            + [Person("hr", d, f"HR of {d}") for d in org.departments])
