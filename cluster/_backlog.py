"""Backlog: where messages wait for their agent, and why.

For each agent type: how many messages wait in its agents' mailboxes now, the deepest any mailbox got,
and how long serial handlers held their mailbox while messages waited behind them (``blocked_s``, out of
``alive_s``, the agent-seconds the type's mailboxes have existed). And the agents that held theirs longest,
each with the share of its own life it spent so ("manager/m0 blocked 92% of its time"). A host reports
its agents (``Host.stats``); the runtime merges the hosts (``Runtime.stats``).

The figures are totals since each agent was first activated on its host: a deactivated agent's seconds stay in
its type's (``retire``), so for one stretch of time, take the difference of two reports."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from time import monotonic
from typing import Any

from ._mailbox import Mailbox

__all__ = ["TOP", "backlog", "merged", "retire"]

TOP = 5  # agents named, per host and in the runtime's merge


def backlog(mailboxes: Iterable[tuple[str, Mailbox]], top: int = TOP,
            retired: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{"types": {type: figures}, "blocking": [the ``top`` agents by blocked seconds]}`` for these
    (agent id, mailbox) pairs, with the figures ``retired`` holds of deactivated agents by type."""
    now = monotonic()
    types = {agent_type: dict(figures) for agent_type, figures in (retired or {}).items()}
    agents = []
    for agent_id, mailbox in mailboxes:
        blocked, alive = mailbox.blocked_s(now), now - mailbox.since
        figures = types.setdefault(agent_id.partition("/")[0], _figures())
        figures["agents"] += 1
        figures["queued"] += len(mailbox)
        figures["peak"] = max(figures["peak"], mailbox.peak)
        figures["blocked_s"] += blocked
        figures["alive_s"] += alive
        if blocked:
            agents.append({"agent": agent_id, "blocked_s": blocked, "share": blocked / alive if alive else 0.0,
                           "queued": len(mailbox), "peak": mailbox.peak})
    return {"types": types, "blocking": _most_blocked(agents, top)}


def retire(retired: dict[str, dict[str, Any]], agent_id: str, mailbox: Mailbox) -> None:
    """A deactivated agent's seconds and deepest queue stay in its type's figures (it queues nothing now)."""
    now = monotonic()
    figures = retired.setdefault(agent_id.partition("/")[0], _figures())
    figures["peak"] = max(figures["peak"], mailbox.peak)
    figures["blocked_s"] += mailbox.blocked_s(now)
    figures["alive_s"] += now - mailbox.since


def _figures() -> dict[str, Any]:
    return {"agents": 0, "queued": 0, "peak": 0, "blocked_s": 0.0, "alive_s": 0.0}


def merged(backlogs: Iterable[dict[str, Any]], top: int = TOP) -> dict[str, Any]:
    """Several hosts' backlogs as one: counts and seconds summed by type, peaks the deepest, and the ``top``
    agents of all."""
    types: dict[str, dict[str, Any]] = {}
    agents = []
    for one in backlogs:
        for agent_type, figures in one["types"].items():
            into = types.setdefault(agent_type, dict.fromkeys(figures, 0))
            for name, value in figures.items():
                into[name] = max(into[name], value) if name == "peak" else into[name] + value
        agents += one["blocking"]
    return {"types": types, "blocking": _most_blocked(agents, top)}


def _most_blocked(agents: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    return heapq.nlargest(top, agents, key=lambda agent: agent["blocked_s"])
