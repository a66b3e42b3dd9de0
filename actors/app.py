"""Registers the PTO application on a runtime: every agent type, its placement and subscriptions."""

from __future__ import annotations

from pathlib import Path

from cluster import AgentId, MemberSubscription, Runtime, Sharded, TopicId, TypeSubscription

from .messages import TimeOffCancelled, TimeOffNotice
from .org import Org

__all__ = ["AGENT_TYPES", "register_pto"]

AGENT_TYPES = {
    "employee": "actors.employee:Employee",
    "manager": "actors.manager:Manager",
    "team": "actors.team:Team",
    "hr": "actors.hr:Hr",
    "dates": "actors.date_resolver:DateResolver",
    "notifier": "actors.notifier:Notifier",
}


def register_pto(rt: Runtime, org: Org, hr_dir: str | Path, hosts: int = 2) -> None:
    """All PTO types share one pool of ``hosts`` actors, so most of a request's ~20 messages are
    delivered in-process (thousands of employees would not fit one Ray actor each)."""
    config = {"org": org.model_dump_json(), "hr_dir": str(Path(hr_dir).resolve())}
    placement = Sharded(hosts, pool="pto")
    for agent_type, path in AGENT_TYPES.items():
        rt.register(agent_type, path, placement=placement, config=config)
    rt.register_message(TimeOffNotice, TimeOffCancelled)
    rt.subscribe(
        TypeSubscription("department", "notifier"),
        *(
            MemberSubscription(TopicId("task", task), AgentId("employee", employee))
            for task, members in sorted(org.tasks.items())
            for employee in members
        ),
    )
