"""Locality: where an agent should live, judged by whom it talks to.

Hosts count the calls their agents handle, by (sender, recipient); the bus adds up what they counted
(``Traffic``, decayed so that it follows what the agents do now) and plans moves (``plan``): it finds the
groups of agents that talk mostly among themselves (label propagation) and puts each group on one host — the
one that has most of it already and room for it. Orleans' activation repartitioning is the model; it moves
agents in pairs between two hosts at a time, each pair judged alone. Here one planner sees the whole graph, so
a department's agents go to one host together, and a round's moves see each other."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from .constants import MOVE_DECAY, MOVE_FORGET

__all__ = ["MovePlan", "Traffic", "plan"]

Pair = tuple[str, str]
SETTLED = 0.9  # a group with this share of its calls on one host is home


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
    """How moves are judged: ``spread`` hosts share the load (each may take ``slack`` more than its share); a
    group moves to its host when at least ``least`` of its calls are made elsewhere; at most ``limit`` moves at
    a time."""

    spread: int
    least: float
    limit: int
    slack: float = 0.25


def plan(weights: Mapping[Pair, float], where: Callable[[str], str | None], movable: Callable[[str], bool],
         destinations: Collection[str], rules: MovePlan, resting: Collection[str] = ()) -> list[tuple[str, str]]:
    """Moves (agent, destination endpoint) that put each group of agents that talk among themselves on one host.
    ``where``: an agent's endpoint now (None: not an agent the table knows); ``destinations``: the endpoints
    agents may move to; ``resting``: agents that moved lately and stay put for now. A group with an agent that may
    not move goes where that agent is."""
    peers: dict[str, Counter[str]] = defaultdict(Counter)
    placed: dict[str, str] = {}
    for (one, other), weight in weights.items():
        here, there = placed.get(one) or where(one), placed.get(other) or where(other)
        if here is None or there is None:
            continue
        placed[one], placed[other] = here, there
        peers[one][other] += weight
        peers[other][one] += weight
    totals = {agent: sum(by.values()) for agent, by in peers.items()}
    cap = sum(totals.values()) / max(1, rules.spread) * (1 + rules.slack)
    load: Counter[str] = Counter()  # of the groups given a host so far
    moves: list[tuple[str, str]] = []
    groups = []
    for group in _joined(_groups(peers, totals), peers, totals, cap):
        by_host: Counter[str] = Counter()
        for agent in group:
            by_host[placed[agent]] += totals[agent]
        groups.append((group, by_host, sum(by_host.values())))
    # groups that are home already (nearly all their calls on one host) claim their hosts first, heaviest first,
    # then the others: a settled group is not displaced because the order of the weights shifted between two looks
    # (PTO departments were seen split after learning, 2026-12-05, and moving while the timed requests ran)
    def order(g: tuple[list[str], Counter[str], float]) -> tuple[bool, float, str]:
        return max(g[1].values()) < SETTLED * g[2], -g[2], min(g[0])

    for group, by_host, weight in sorted(groups, key=order):
        pinned = {placed[agent] for agent in group if not movable(agent)}
        hosts = pinned if len(pinned) == 1 else set() if pinned else set(destinations) | set(by_host)
        in_use = {host for host, carried in load.items() if carried}
        if len(in_use) >= rules.spread:  # the groups go to as few hosts as share the load: fewer, fuller batches
            hosts = (hosts & in_use) or hosts
        # a host with room for the group, or one that has nothing yet (a group may be more than a share)
        fitting = [(by_host[host], -load[host], host) for host in hosts if load[host] + weight <= cap or not load[host]]
        if not fitting:
            continue
        there, _, best = max(fitting)
        load[best] += weight
        if weight - there < rules.least or best not in destinations | pinned:
            continue  # there, or as good as
        for agent in sorted(group, key=lambda a: -totals[a]):
            if placed[agent] != best and agent not in resting and movable(agent) and len(moves) < rules.limit:
                moves.append((agent, best))
    return moves


def _groups(peers: Mapping[str, Counter[str]], totals: Mapping[str, float], rounds: int = 10) -> list[list[str]]:
    """Agents that talk mostly among themselves, by label propagation: each takes the label its calls weigh
    most, heaviest agents first, until no label changes (Raghavan, Albert and Kumara, 2007)."""
    label = {agent: agent for agent in peers}
    order = sorted(peers, key=lambda a: (-totals[a], a))
    for _ in range(rounds):
        changed = False
        for agent in order:
            votes: Counter[str] = Counter()
            for peer, weight in peers[agent].items():
                votes[label[peer]] += weight
            best = max(votes, key=lambda candidate: (votes[candidate], candidate == label[agent], candidate))
            if votes[best] > votes.get(label[agent], 0.0) and best != label[agent]:
                label[agent] = best
                changed = True
        if not changed:
            break
    groups: dict[str, list[str]] = defaultdict(list)
    for agent, name in label.items():
        groups[name].append(agent)
    return list(groups.values())


def _joined(groups: list[list[str]], peers: Mapping[str, Counter[str]], totals: Mapping[str, float], cap: float,
            share: float = 0.2) -> list[list[str]]:
    """Groups joined to those they call most, strongest ties first, while the calls between two are at least
    ``share`` of the smaller one's and both fit one host's share: label propagation cuts a department around its
    managers, and the halves share its hr and dates."""
    of = {agent: index for index, group in enumerate(groups) for agent in group}
    weight = [sum(totals[agent] for agent in group) for group in groups]
    root = list(range(len(groups)))

    def find(index: int) -> int:
        while root[index] != index:
            root[index] = root[root[index]]
            index = root[index]
        return index

    ties: Counter[tuple[int, int]] = Counter()
    for agent, by in peers.items():
        for peer, calls in by.items():
            if of[agent] < of[peer]:
                ties[(of[agent], of[peer])] += calls
    for (one, other), calls in sorted(ties.items(), key=lambda item: (-item[1], item[0])):
        one, other = find(one), find(other)
        if one != other and calls >= share * min(weight[one], weight[other]) and weight[one] + weight[other] <= cap:
            root[other] = one
            weight[one] += weight[other]
    joined: dict[int, list[str]] = defaultdict(list)
    for index, group in enumerate(groups):
        joined[find(index)].extend(group)
    return list(joined.values())
