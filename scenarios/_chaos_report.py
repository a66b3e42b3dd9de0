"""The verdict of a ``pto_chaos`` run: every count it makes, and PASSED only if nothing was retried, given up,
lost, doubled, left unexplained or found broken. Pure: it reads the run's figures (a dict, as ``--json``
writes it) and decides; it never tunes a rule to the runtime of the day.

Dead letters: the only ones a run can account for are answers whose caller had died with its killed host
(only in a run that killed a host or lost a node): the host's new life let them go (``late_answer``), or the
bus did, finding the host unreachable (``host_unreachable``); the re-run handler asked again and had its
answer. And only if every such letter the bus still remembers (it keeps the last thousand) is an answer:
a request, a notice or a decision among them is a message that reached nobody. A publish the bus gave up
is a ``host_unreachable`` letter too, but also counts in the runtime's ``given_up``, which fails the run.
Every other dead letter fails it. So does a lost node whose disk held run data (a SQLite store under ``~``):
the verdict names each database it took and what it held.
"""

from __future__ import annotations

from typing import Any

from ._common import print_table

__all__ = ["ACCOUNTABLE", "RUNTIME_LOSSES", "accounted_dead_letters", "print_verdict", "verdict"]

ACCOUNTABLE = {"late_answer": "answers to a caller that died with its killed host",
               "host_unreachable": "answers to a caller that died with its killed host"}
# the PTO flow's answers ("" is an error answer): what a caller that died would have been told
ANSWERS = {"", "RequestOutcome", "ResolvedDates", "HoldPlaced", "Decision", "Reserved", "Done", "Cancelled"}
# runtime counters (read with .get: a runtime may not have them) that each mean a message went nowhere
# a kept publish found stored but never sent is a hole the watch healed: it fails the run too
RUNTIME_LOSSES = ("given_up", "dead_letters_lost", "kept_never_sent")


def accounted_dead_letters(figures: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """The dead letters by reason, split into (accounted for, not accounted for)."""
    kills = figures["kills"]
    hosts_died = kills.get("hosts", 0) + kills.get("busiest", 0) + kills.get("nodes", 0)
    accounted, unexplained = {}, {}
    for reason, count in sorted(figures["dead_letters"].items()):
        letters = figures["dead_letter_examples"].get(reason, [])
        answers_only = all(letter["type"] in ANSWERS for letter in letters)
        if count:
            (accounted if reason in ACCOUNTABLE and hosts_died and answers_only else unexplained)[reason] = count
    return accounted, unexplained


def _worst(letters: list[dict[str, str]]) -> list[dict[str, str]]:
    """The letter to show: one that is not an answer if there is one."""
    return sorted(letters, key=lambda letter: letter["type"] in ANSWERS)[:1]


def verdict(figures: dict[str, Any]) -> list[str]:
    """Why the run failed, one reason per broken rule; empty means PASSED."""
    reasons = []
    if figures["not_checked"]:
        reasons.append(f"not checked: {figures['not_checked']}")
    if figures["retries"]:
        reasons.append(f"the driver retried {figures['retries']} times (one attempt per request is the rule)")
    if figures["given_up"]:
        example = next(iter(figures["given_up_examples"].items()), ("", ""))
        reasons.append(f"{figures['given_up']} requests failed or timed out in their one attempt "
                       f"(e.g. {example[0]}: {example[1]})")
    if figures["not_finished"]:
        reasons.append(f"{figures['not_finished']} requests never finished")
    if figures["cancels"]["given_up"]:
        example = next((item for item in figures["given_up_examples"].items() if item[0].startswith("cancel ")),
                       ("", ""))
        reasons.append(f"{figures['cancels']['given_up']} cancellations failed or timed out in their one attempt "
                       f"(e.g. {example[0]}: {example[1]})")
    _, unexplained = accounted_dead_letters(figures)
    if unexplained:
        reasons.append("dead letters the run cannot account for: " + ", ".join(
            f"{reason} {count}" + "".join(f" (e.g. {e['type'] or 'error answer'} to {e['target']}: {e['detail']})"
                                          for e in _worst(figures["dead_letter_examples"].get(reason, [])))
            for reason, count in unexplained.items()))
    losses = {name: figures["runtime_losses"].get(name, 0) for name in RUNTIME_LOSSES}
    if any(losses.values()):
        reasons.append("the runtime lost messages: " + ", ".join(f"{k} {v}" for k, v in losses.items() if v))
    if figures["lost"]:
        reasons.append(f"{figures['lost']} requests lost (no terminal outcome), e.g. {figures['lost_examples'][:3]}")
    if figures["doubled"]:
        reasons.append(f"{figures['doubled']} requests with more than one outcome, e.g. "
                       f"{figures['doubled_examples'][:3]}")
    took = {node: held for node, held in figures.get("disks_lost", {}).items() if held}
    if took:
        reasons.append("a lost node took run data with its disk: " + "; ".join(
            f"node {node[:8]}: {', '.join(held)}" for node, held in took.items()))
    planned, done = figures["kills_planned"], sum(figures["kills"].values())
    if done < planned:
        reasons.append(f"only {done} of {planned} planned kills happened")
    survived = sum(figures["kills_survived"].values())
    if survived < done:
        reasons.append(f"{done - survived} killed actors did not come back")
    if not figures["settled"]:
        reasons.append(f"the runtime did not settle: {figures['unsettled']}")
    if not figures["store_checked"]:
        reasons.append("the state was not read back from the store after every host restarted")
    reasons += [f"invariant violated x{r['violations']}: {r['name']}: " + "; ".join(r.get("examples") or [r["example"]])
                for r in figures["invariants"] if not r["ok"]]
    return reasons


def print_verdict(figures: dict[str, Any]) -> list[str]:
    """Every count, then PASSED or FAILED with each reason; returns the reasons."""
    accounted, unexplained = accounted_dead_letters(figures)
    cancels = figures["cancels"]
    rows = [("requests", figures["requests"]), ("answered", figures["answered"]),
            *[(f"  outcome {k}", v) for k, v in figures["outcomes"].items()],
            ("retries", figures["retries"]), ("failed / timed out", figures["given_up"]),
            ("never finished", figures["not_finished"]),
            ("cancels sent (racing the decision)", f"{cancels['sent']} ({cancels['racing']})"),
            ("cancels ok / refused / failed", f"{cancels['ok']} / {cancels['refused']} / {cancels['given_up']}"),
            ("dead letters", sum(figures["dead_letters"].values())),
            *[(f"  {reason} (accounted: {ACCOUNTABLE[reason]})", n) for reason, n in accounted.items()],
            *[(f"  {reason} (NOT accounted for)", n) for reason, n in unexplained.items()],
            *[(f"runtime {name}", figures["runtime_losses"].get(name, 0)) for name in RUNTIME_LOSSES],
            ("duplicates dropped", figures["duplicates_dropped"]), ("redeliveries", figures["redeliveries"]),
            ("answers replayed", figures["answers_replayed"]),
            *[(f"kills of {kind} (survived)", f"{n} ({figures['kills_survived'].get(kind, 0)})")
              for kind, n in figures["kills"].items()],
            ("lost", figures["lost"]), ("doubled", figures["doubled"]),
            *[(f"lost with node {node[:8]}'s disk", "; ".join(held) or "no run data (store: "
               f"{figures.get('store', '?')})") for node, held in figures.get("disks_lost", {}).items()],
            ("settled", "yes" if figures["settled"] else "no"),
            ("state checked from the store after restarting every host", "yes" if figures["store_checked"] else "no")]
    print_table("verdict figures", ("figure", "value"), rows)
    print_table("invariants", ("invariant", "result"),
                [(r["name"], "ok" if r["ok"] else f"VIOLATED x{r['violations']}: {r['example']}")
                 for r in figures["invariants"]])
    reasons = verdict(figures)
    print("\nPASSED" if not reasons else "\nFAILED:\n" + "\n".join(f"  - {reason}" for reason in reasons), flush=True)
    return reasons
