"""The move planner, away from Ray: groups of agents that talk among themselves go to one host."""

from __future__ import annotations

from cluster._locality import MovePlan, Traffic, plan
from cluster.constants import MOVE_DECAY

RULES = MovePlan(spread=2, least=8.0, limit=100)


def _where(placement: dict[str, str]):
    return placement.get


def test_a_group_split_over_two_hosts_goes_to_the_host_that_has_most_of_its_calls() -> None:
    placement = {"m/1": "pool:a.0", "t/1": "pool:b.0", "t/2": "pool:b.0", "e/1": "pool:a.0"}
    weights = {("m/1", "t/1"): 40.0, ("m/1", "t/2"): 40.0, ("e/1", "m/1"): 10.0}
    moves = plan(weights, _where(placement), lambda agent: True, {"pool:a.0", "pool:b.0"}, RULES)
    assert sorted(moves) == [("t/1", "pool:a.0"), ("t/2", "pool:a.0")]  # m/1 and e/1 carry 100 of 180 there


def test_two_groups_that_do_not_talk_are_not_put_together_past_a_hosts_share() -> None:
    placement = {"x/1": "pool:a.0", "x/2": "pool:b.0", "y/1": "pool:a.0", "y/2": "pool:b.0"}
    weights = {("x/1", "x/2"): 100.0, ("y/1", "y/2"): 100.0}
    moves = dict(plan(weights, _where(placement), lambda agent: True, {"pool:a.0", "pool:b.0"}, RULES))
    after = placement | moves
    assert after["x/1"] == after["x/2"] and after["y/1"] == after["y/2"]
    assert after["x/1"] != after["y/1"]  # each host takes one group: half the load each


def test_a_group_with_an_agent_placed_by_the_user_goes_where_that_agent_is() -> None:
    placement = {"pinned/1": "agent:pinned/1", "a/1": "pool:a.0", "a/2": "pool:a.0"}
    weights = {("pinned/1", "a/1"): 50.0, ("pinned/1", "a/2"): 50.0, ("a/1", "a/2"): 50.0}
    moves = plan(weights, _where(placement), lambda agent: not agent.startswith("pinned"),
                 {"pool:a.0", "agent:pinned/1"}, RULES)
    assert sorted(moves) == [("a/1", "agent:pinned/1"), ("a/2", "agent:pinned/1")]


def test_agents_never_move_where_they_may_not_go_nor_when_resting_nor_for_a_few_calls() -> None:
    placement = {"a/1": "pool:a.0", "b/1": "agent:b/1"}
    weights = {("a/1", "b/1"): 100.0}
    assert plan(weights, _where(placement), lambda agent: True, {"pool:a.0"}, RULES) == [("b/1", "pool:a.0")]
    assert plan(weights, _where(placement), lambda agent: True, {"pool:a.0"}, RULES, resting={"b/1"}) == []
    assert plan({("a/1", "b/1"): 5.0}, _where(placement), lambda agent: True, {"pool:a.0"}, RULES) == []


def test_agents_the_table_does_not_know_are_left_out() -> None:
    placement = {"a/1": "pool:a.0", "b/1": "pool:b.0"}
    weights = {("a/1", "user:alice"): 500.0, ("a/1", "b/1"): 20.0}
    moves = plan(weights, _where(placement), lambda agent: True, {"pool:a.0", "pool:b.0"}, RULES)
    assert len(moves) == 1 and moves[0][0] in {"a/1", "b/1"}


def test_traffic_counts_either_way_as_one_pair_and_forgets_what_stopped() -> None:
    traffic = Traffic()
    traffic.add({("a/1", "b/1"): 10, ("b/1", "a/1"): 6})
    assert traffic.weights == {("a/1", "b/1"): 16.0}
    traffic.add({})
    assert traffic.weights == {("a/1", "b/1"): 16.0 * MOVE_DECAY}
    for _ in range(40):
        traffic.add({})
    assert traffic.weights == {}


def test_groups_are_put_on_as_few_hosts_as_share_the_load() -> None:
    hosts = [f"pool:p.{n}" for n in range(4)]
    placement = {f"{group}/{n}": host for group, host in zip("abcd", hosts, strict=True) for n in (1, 2)}
    weights = {(f"{group}/1", f"{group}/2"): 50.0 for group in "abcd"}
    moves = dict(plan(weights, _where(placement), lambda agent: True, set(hosts), RULES))
    after = placement | moves
    assert len(set(after.values())) == 2  # spread 2: four groups of a quarter each, two on each of two hosts
    assert all(after[f"{group}/1"] == after[f"{group}/2"] for group in "abcd")


def _departments(names: str, managers: int = 2, employees: int = 4, teams: int = 2) -> dict:
    """Calls as the PTO flow makes them: each employee with its department's dates and hr and its manager (both
    ways), each manager with its teams (twice a request) and hr; a department's managers share only hr and dates."""
    weights: dict = {}
    for number, department in enumerate(names):
        for m in range(managers):
            manager = f"manager/{department}{m}"
            for e in range(employees):
                calls = 10.0 + (7 * number + 3 * m + e) % 20
                employee = f"employee/{department}{m}{e}"
                for pair in ((employee, f"dates/{department}"), (employee, f"hr/{department}"),
                             (employee, manager), (manager, f"hr/{department}")):
                    weights[pair] = weights.get(pair, 0.0) + calls
                for t in range(teams):
                    weights[(manager, f"team/{department}{m}{t}")] = weights.get((manager, f"team/{department}{m}{t}"),
                                                                                 0.0) + 2 * calls
    return weights


def test_a_departments_halves_around_its_managers_go_to_one_host() -> None:
    weights = _departments("abcdefg")
    agents = sorted({agent for pair in weights for agent in pair})
    hosts = [f"pool:p.{n}" for n in range(4)]
    placement = {agent: hosts[index % 4] for index, agent in enumerate(agents)}
    after = placement | dict(plan(weights, _where(placement), lambda agent: True, set(hosts), RULES))
    for department in "abcdefg":
        assert len({host for agent, host in after.items() if agent.split("/")[1][0] == department}) == 1, department


def test_a_group_at_home_keeps_its_host_when_a_heavier_one_that_is_not_would_take_it() -> None:
    placement = {"a/1": "pool:a.0", "a/2": "pool:a.0", "b/1": "pool:a.0", "b/2": "pool:b.0", "b/3": "pool:a.0"}
    weights = {("a/1", "a/2"): 100.0, ("b/1", "b/3"): 70.0, ("b/1", "b/2"): 50.0}
    moves = plan(weights, _where(placement), lambda agent: True, {"pool:a.0", "pool:b.0"}, RULES)
    assert sorted(moves) == [("b/1", "pool:b.0"), ("b/3", "pool:b.0")]  # not a/1 and a/2, at home on a.0
