"""Locality: where an agent should live, judged by whom it talks to.

Hosts count the calls their agents handle, by (sender, recipient); the bus adds up what they counted
(``Traffic``, decayed so that it follows what the agents do now) and plans moves (``plan``): an agent whose
calls go mostly to agents of another host moves there, if that host has room. Orleans' activation
repartitioning is the model; unlike it, one planner sees the whole graph, so the agents of a department go to
one host together instead of in pairs, and a round's moves see each other (an agent does not leave for a
peer that is itself leaving)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from .constants import MOVE_DECAY, MOVE_FORGET

__all__ = ["MovePlan", "Traffic", "plan"]

Pair = tuple[str, str]


class Traffic:
    """Calls between agents (either way), decayed by ``MOVE_DECAY`` at each look."""

    __slots__ = ("weights",)

    def __init__(self) -> None:
        self.weights: dict[Pair, float] = {}

    def add(self, counted: Mapping[Pair, int]) -> None:
        weights = {pair: weight * MOVE_DECAY for pair, weight in self.weights.items()
                   if weight * MOVE_DECAY >= MOVE_FORGET}
        for (sender, recipient), calls in counted.items():
            pair = (sender, recipient) if sender < recipient else (recipient, sender)
            weights[pair] = weights.get(pair, 0.0) + calls
        self.weights = weights


class MovePlan(NamedTuple):
    """How moves are judged: ``spread`` hosts share the load (each may take ``slack`` more than its share);
    an agent moves when the calls it has with the agents of the other host exceed those with the agents of its
    own by ``gain`` of all its calls and by ``least`` calls; at most ``limit`` moves at a time."""

    spread: int
    gain: float
    least: float
    limit: int


def plan(weights: Mapping[Pair, float], where: Callable[[str], str | None], movable: Callable[[str], bool],
         destinations: Collection[str], rules: MovePlan, resting: Collection[str] = (),
         slack: float = 0.25) -> list[tuple[str, str]]:
    """Moves (agent, destination endpoint) that bring agents next to their peers. ``where``: an agent's endpoint
    now (None: not an agent the table knows); ``destinations``: the endpoints agents may move to; ``resting``:
    agents that moved lately and stay put for now."""
    peers: dict[str, Counter[str]] = defaultdict(Counter)
    placed: dict[str, str] = {}
    for (one, other), weight in weights.items():
        here, there = placed.get(one) or where(one), placed.get(other) or where(other)
        if here is None or there is None:
            continue
        placed[one], placed[other] = here, there
        peers[one][other] += weight
        peers[other][one] += weight
    load: Counter[str] = Counter()
    totals = {agent: sum(by.values()) for agent, by in peers.items()}
    for agent, total in totals.items():
        load[placed[agent]] += total
    cap = sum(load.values()) / max(1, rules.spread) * (1 + slack)
    moves: list[tuple[str, str]] = []
    for agent in sorted(peers, key=lambda a: (-totals[a], a)):
        if len(moves) >= rules.limit:
            break
        if agent in resting or not movable(agent):
            continue
        by_endpoint: Counter[str] = Counter()
        for peer, weight in peers[agent].items():
            by_endpoint[placed[peer]] += weight
        here = placed[agent]
        candidates = [(weight, endpoint) for endpoint, weight in by_endpoint.items()
                      if endpoint != here and endpoint in destinations and load[endpoint] + totals[agent] <= cap]
        if not candidates:
            continue
        weight, best = max(candidates)
        better = weight - by_endpoint[here]
        if better >= rules.least and better >= rules.gain * totals[agent]:
            moves.append((agent, best))
            placed[agent] = best
            load[here] -= totals[agent]
            load[best] += totals[agent]
    return moves
