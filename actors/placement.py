"""Each department's agents on one host of the PTO pool, read from the org rather than listed agent by agent."""

from __future__ import annotations

from dataclasses import dataclass, field

from cluster import Sharded

from ._config import org_from
from .org import Org

__all__ = ["ByDepartment"]

DEPARTMENT_TYPES = ("hr", "dates", "notifier")  # keyed by their department
_RECORDS = {"employee": "employees", "manager": "managers", "team": "teams"}  # the org's records of each other type

_dealt: dict[tuple[int, int], tuple[Org, dict[str, int]]] = {}  # (id of an org, hosts) → (the org, kept alive,
# each department's host)


@dataclass(frozen=True, slots=True)
class ByDepartment(Sharded):
    """``Sharded(n, pool)`` with every department as a group: departments are dealt to the hosts largest first, each
    to the host with the fewest agents so far, and an agent goes where its department went. (Dealt in turn, by
    name, the seed-7 org of 200 employees had 152 active agents on one host of two and 119 on the other:
    ``pto_obvious``, 2026-12-05.) What a process holds for it is the org it parses once anyway
    (``actors._config``), not an entry per agent: 135,713 of them at 100,000 employees, 16 MB in every process
    holding the routing table (measured). An id the org does not name is hashed."""

    org: bytes = field(default=b"", repr=False)  # ``actors._config.org_blob``

    def endpoint(self, agent_type: str, key: str) -> str:
        org = org_from(self.org)
        host_of = _host_of(org, self.n)
        department = _department_of(org, host_of, agent_type, key)
        if department is None:
            return Sharded.endpoint(self, agent_type, key)
        return f"pool:{self.pool or agent_type}.{host_of[department]}"


def _department_of(org: Org, departments: dict[str, int], agent_type: str, key: str) -> str | None:
    if agent_type in DEPARTMENT_TYPES:
        return key if key in departments else None
    records = _RECORDS.get(agent_type)
    record = None if records is None else getattr(org, records).get(key)
    return None if record is None else record.department


def _host_of(org: Org, hosts: int) -> dict[str, int]:
    """Each department's host: largest first (by its employees, managers and teams; then by name), each to the
    host with the fewest agents so far (the lowest index of those)."""
    found = _dealt.get((id(org), hosts))
    if found is None or found[0] is not org:
        if found is not None or len(_dealt) > 8:
            _dealt.clear()  # one org per process in practice; a new one replaces the old
        size = dict.fromkeys(org.departments, 0)
        for records in _RECORDS.values():
            for record in getattr(org, records).values():
                size[record.department] += 1
        load = [0] * hosts
        host_of = {}
        for department in sorted(size, key=lambda d: (-size[d], d)):
            host = min(range(hosts), key=lambda h: (load[h], h))
            host_of[department] = host
            load[host] += size[department]
        found = _dealt[(id(org), hosts)] = (org, host_of)
    return found[1]
