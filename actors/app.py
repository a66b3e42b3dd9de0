"""Registers the PTO application on a runtime: every agent type, its placement and subscriptions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cluster import (
    AgentId,
    MemberSubscription,
    Placement,
    Runtime,
    Sharded,
    Subscription,
    TopicId,
    TypeSubscription,
    state_location,
)

from ._config import org_blob
from .messages import TimeOffCancelled, TimeOffNotice, Waiting
from .org import Org
from .placement import ByDepartment
from .policy import pto_policy

__all__ = ["AGENT_TYPES", "PER_PERSON", "pto_config", "pto_subscriptions", "register_pto"]

PER_PERSON = ("employee", "manager", "team")  # the types an org has thousands of

AGENT_TYPES = {
    "employee": "actors.employee:Employee",
    "manager": "actors.manager:Manager",
    "team": "actors.team:Team",
    "hr": "actors.hr:Hr",
    "dates": "actors.date_resolver:DateResolver",
    "notifier": "actors.notifier:Notifier",
}


def register_pto(rt: Runtime, org: Org, hr: str | Path, hosts: int = 2, by_department: bool = True,
                 policy: bool = True, agent_types: dict[str, str] | None = None,
                 placements: Mapping[str, Placement | None] | None = None, idle_after: float | None = None) -> None:
    """All PTO types share one pool of ``hosts`` actors (thousands of employees would not fit one Ray
    actor each). ``by_department`` keeps each department's agents on one host: a request's messages then
    stay in-process but for the driver's call, its answer and the notices; otherwise agents are hashed.
    ``agent_types`` replaces the classes of some types (tests put a hostile employee in its place);
    ``placements`` the placement of some types (None: the runtime's default); ``idle_after`` the seconds after
    which an employee, manager or team agent without a message is deactivated (None: the runtime's default,
    ``IDLE_AFTER``, with durable state; never in memory). The department's agents (hr, dates, notifier) keep the
    runtime's default: there are few of them, and hr opens its ledger each time it starts.
    ``hr``: where the HR ledgers go (``actors.ledgers.Ledgers``: a directory, or a ``postgresql://`` URL, where
    the runtime's namespace names the run)."""
    config = pto_config(org, hr, rt.namespace)
    pool = ByDepartment(hosts, pool="pto", org=config["org"]) if by_department else Sharded(hosts, pool="pto")
    placements = placements or {}
    for agent_type, path in (AGENT_TYPES | (agent_types or {})).items():
        rt.register(agent_type, path, placement=placements.get(agent_type, pool), config=config,
                    idle_after=idle_after if agent_type in PER_PERSON else None)
    rt.register_message(TimeOffNotice, TimeOffCancelled, Waiting)  # Waiting: the manager's second kind of answer
    if policy:
        rt.intercept(pto_policy(org))
    rt.subscribe(*pto_subscriptions(org))


def pto_config(org: Org, hr: str | Path, run: str) -> dict[str, Any]:
    """What every PTO agent is configured with: the org, where the HR ledgers go, and the run they belong to."""
    return {"org": org_blob(org), "hr": state_location(hr), "run": run}


def pto_subscriptions(org: Org) -> list[Subscription]:
    """Each department's notifier hears its department's topic; each employee the topics of its tasks."""
    return [
        TypeSubscription("department", "notifier"),
        *(
            MemberSubscription(TopicId("task", task), AgentId("employee", employee))
            for task, members in sorted(org.tasks.items())
            for employee in members
        ),
    ]
