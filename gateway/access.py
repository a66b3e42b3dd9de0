"""Who may see and do what, from the org: a person's own requests, their manager's decisions on them, hr of
the department; team calendars for the team's members, its manager and hr. Request ids name their employee
(``<employee>.<idempotency key>``), so the gateway knows whose a request is before it asks anyone."""

from __future__ import annotations

import re

from actors.org import Org

from .problems import Problem, invalid
from .tokens import Person

__all__ = ["KEY_PATTERN", "may_decide", "may_read_calendar", "may_read_request", "owner_of", "request_id_for"]

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_REQUEST_ID = 100  # as actors.messages allows


def request_id_for(employee: str, key: str | None) -> str:
    """The request id on the bus for ``employee``'s ``Idempotency-Key``: one key, one request, per person."""
    if key is None:
        raise invalid("Idempotency-Key", "the header is required: a retried POST with the same key is one request")
    if not KEY_PATTERN.match(key):
        raise invalid("Idempotency-Key", "use 1 to 64 letters, digits, '-' or '_'")
    request_id = f"{employee}.{key}"
    if len(request_id) > MAX_REQUEST_ID:
        raise invalid("Idempotency-Key", f"too long for {employee}: at most {MAX_REQUEST_ID - len(employee) - 1}")
    return request_id


def owner_of(request_id: str, org: Org) -> str:
    """The employee whose request this is; 404 when the id cannot be one of this org's requests."""
    employee, dot, key = request_id.partition(".")
    if not dot or employee not in org.employees or not KEY_PATTERN.match(key):
        raise Problem(404, "Not found", f"no request {request_id!r}")
    return employee


def may_read_request(person: Person, employee: str, org: Org) -> bool:
    profile = org.employees[employee]
    return (person.kind, person.id) in {("employee", employee), ("manager", profile.manager),
                                        ("hr", profile.department)}


def may_decide(person: Person, employee: str, org: Org) -> bool:
    return (person.kind, person.id) == ("manager", org.employees[employee].manager)


def may_read_calendar(person: Person, team: str, org: Org) -> bool:
    found = org.teams[team]
    return ((person.kind == "employee" and person.id in found.members)
            or (person.kind, person.id) in {("manager", found.manager), ("hr", found.department)})
