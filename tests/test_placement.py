"""actors.placement: each department's agents on one host, read from the org."""

from __future__ import annotations

import pickle
from collections import Counter

from actors._config import org_blob
from actors.org import Org
from actors.placement import ByDepartment
from cluster import Sharded

ORG = Org.generate(seed=7, employees=300)
PLACEMENT = ByDepartment(3, pool="pto", org=org_blob(ORG))


def test_every_agent_of_a_department_shares_its_department_agents_host() -> None:
    for employee in ORG.employees.values():
        host = PLACEMENT.endpoint("hr", employee.department)
        assert PLACEMENT.endpoint("employee", employee.id) == host
        assert PLACEMENT.endpoint("manager", employee.manager) == PLACEMENT.endpoint(
            "hr", ORG.managers[employee.manager].department)
    for team in ORG.teams.values():
        assert PLACEMENT.endpoint("team", team.id) == PLACEMENT.endpoint("notifier", team.department)


def test_departments_are_dealt_largest_first_each_to_the_host_with_the_fewest_agents_so_far() -> None:
    size = Counter(record.department for records in (ORG.employees, ORG.managers, ORG.teams)
                   for record in records.values())
    load = Counter({f"pool:pto.{host}": 0 for host in range(3)})
    for department in sorted(ORG.departments, key=lambda d: (-size[d], d)):
        host = PLACEMENT.endpoint("dates", department)
        assert load[host] == min(load.values())
        load[host] += size[department]
    assert max(load.values()) - min(load.values()) <= max(size.values())


def test_an_id_the_org_does_not_name_is_hashed() -> None:
    assert PLACEMENT.endpoint("employee", "nobody") == Sharded(3, pool="pto").endpoint("employee", "nobody")


def test_a_pickled_copy_places_every_agent_where_the_original_does() -> None:
    copy = pickle.loads(pickle.dumps(PLACEMENT))
    assert copy == PLACEMENT
    assert all(copy.endpoint("employee", e) == PLACEMENT.endpoint("employee", e) for e in ORG.employees)


def test_the_placement_carries_the_org_once_not_an_entry_per_agent() -> None:
    assert len(pickle.dumps(PLACEMENT)) < len(PLACEMENT.org) + 1_000
