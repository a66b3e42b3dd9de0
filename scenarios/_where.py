"""Where a load run's time went: the runtime's backlog (``rt.stats()["backlog"]``) over one run, from the
reports taken when its clock started and once it settled.

By agent type: its agents, how many messages were queued at the end and the deepest any of its mailboxes
got, and the share of the run its agents were blocked — a serial handler suspended, holding the mailbox,
while messages waited behind it (blocked agent-seconds over agents times wall). Then the agents blocked
longest, each with its share of the run: "manager/m0 blocked 92% of the run"."""

from __future__ import annotations

from typing import Any

from ._common import print_table

__all__ = ["print_backlog", "run_backlog"]


def run_backlog(before: dict[str, Any], after: dict[str, Any], wall: float,
                every_agent_known: bool = True) -> dict[str, Any]:
    """The run's part of the backlog: ``after`` less ``before`` (agents activated by the run count from 0).
    An agent named at the end but not at the start is taken to have been blocked 0 s before: the start's list
    holds the agents most blocked by then (a warm-up asks each agent once, so all are near 0). Not so after
    learning requests (``every_agent_known`` False): then only agents named at both ends are named."""
    start = before["backlog"]
    types = {}
    for agent_type, figures in sorted(after["backlog"]["types"].items()):
        blocked = figures["blocked_s"] - start["types"].get(agent_type, {}).get("blocked_s", 0.0)
        types[agent_type] = {"agents": figures["agents"], "queued": figures["queued"], "peak": figures["peak"],
                             "blocked_s": blocked, "blocked_share": blocked / (figures["agents"] * wall)}
    earlier = {agent["agent"]: agent["blocked_s"] for agent in start["blocking"]}
    blocking = [{"agent": agent["agent"], "peak": agent["peak"],
                 "blocked_share": (agent["blocked_s"] - earlier.get(agent["agent"], 0.0)) / wall}
                for agent in after["backlog"]["blocking"] if every_agent_known or agent["agent"] in earlier]
    return {"types": types, "blocking": sorted(blocking, key=lambda agent: -agent["blocked_share"])}


def print_backlog(backlog: dict[str, Any], title: str) -> None:
    print_table(f"{title}: where messages waited (blocked: a serial handler suspended, messages queued behind it)",
                ("agent type", "agents", "queued at end", "deepest mailbox", "blocked, share of the run"),
                [(t, f["agents"], f["queued"], f["peak"], f"{f['blocked_share']:.1%}")
                 for t, f in backlog["types"].items()])
    named = ", ".join(f"{a['agent']} {a['blocked_share']:.0%} of the run (deepest mailbox {a['peak']})"
                      for a in backlog["blocking"])
    print(f"agents that blocked most: {named}" if named else "no agent blocked", flush=True)
