"""The verdict of pto_chaos on hand-made figures: a clean run passes, and each rule fails a run that breaks it,
with a reason that names what broke."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from scenarios._chaos_report import accounted_dead_letters, print_verdict, verdict


def clean() -> dict[str, Any]:
    return {
        "requests": 200, "answered": 200, "outcomes": {"approved": 120, "rejected: overlap": 80},
        "not_checked": None, "retries": 0, "given_up": 0, "given_up_examples": {}, "not_finished": 0,
        "cancels": {"sent": 14, "racing": 6, "ok": 9, "refused": 5, "given_up": 0},
        "dead_letters": {}, "dead_letter_examples": {},
        "runtime_losses": {"given_up": 0, "dead_letters_lost": 0, "kept_never_sent": 0},
        "duplicates_dropped": 40, "redeliveries": 60, "answers_replayed": 12,
        "kills_planned": 3, "kills": {"hosts": 1, "busiest": 1, "bus_shards": 1, "nodes": 0},
        "kills_survived": {"hosts": 1, "busiest": 1, "bus_shards": 1, "nodes": 0},
        "lost": 0, "lost_examples": [], "doubled": 0, "doubled_examples": [],
        "settled": True, "unsettled": "", "store_checked": True,
        "invariants": [{"name": "every request has exactly one terminal outcome", "ok": True, "violations": 0,
                        "example": ""}],
    }


def test_a_clean_run_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert verdict(clean()) == []
    assert print_verdict(clean()) == []
    assert capsys.readouterr().out.rstrip().endswith("PASSED")


def _set(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def apply(figures: dict[str, Any]) -> None:
        for key, value in changes.items():
            figures[key] = value
    return apply


def _cancel_given_up(figures: dict[str, Any]) -> None:
    figures["cancels"]["given_up"] = 1


def _unexplained_dead_letter(figures: dict[str, Any]) -> None:
    figures["dead_letters"] = {"UnknownAgentType": 2, "late_answer": 3}


def _a_request_among_the_late(figures: dict[str, Any]) -> None:
    figures["dead_letters"] = {"host_unreachable": 2}
    figures["dead_letter_examples"] = {"host_unreachable": [
        {"type": "HoldPlaced", "target": "employee/e1", "detail": "host gone"},
        {"type": "PlaceHold", "target": "hr/d0", "detail": "host gone"}]}


def _late_answer_without_a_host_kill(figures: dict[str, Any]) -> None:
    figures["kills"] = {"hosts": 0, "busiest": 0, "bus_shards": 3, "nodes": 0}
    figures["kills_survived"] = dict(figures["kills"])
    figures["dead_letters"] = {"late_answer": 1}


def _runtime_loss(figures: dict[str, Any]) -> None:
    figures["runtime_losses"]["kept_never_sent"] = 4


def _kill_not_back(figures: dict[str, Any]) -> None:
    figures["kills_survived"]["bus_shards"] = 0


def _kill_missing(figures: dict[str, Any]) -> None:
    figures["kills"]["busiest"] = figures["kills_survived"]["busiest"] = 0


def _invariant(figures: dict[str, Any]) -> None:
    figures["invariants"][0] |= {"ok": False, "violations": 2, "example": "r7 (e3): no outcome",
                                 "examples": ["r7 (e3): no outcome", "r9 (e4): no outcome"]}


@pytest.mark.parametrize(("breakage", "named"), [
    pytest.param(_set(not_checked="raybus.bus did not come back"), "not checked: raybus.bus", id="not-checked"),
    pytest.param(_set(retries=1), "the driver retried 1 times", id="retry"),
    pytest.param(_set(given_up=1, given_up_examples={"r5": "DeliveryTimeout: no answer"}),
                 "1 requests failed or timed out in their one attempt (e.g. r5: DeliveryTimeout", id="given-up"),
    pytest.param(_set(not_finished=3), "3 requests never finished", id="not-finished"),
    pytest.param(_cancel_given_up, "1 cancellations failed or timed out", id="cancel-given-up"),
    pytest.param(_unexplained_dead_letter, "dead letters the run cannot account for: UnknownAgentType 2",
                 id="dead-letter"),
    pytest.param(_a_request_among_the_late,
                 "cannot account for: host_unreachable 2 (e.g. PlaceHold to hr/d0: host gone)", id="not-only-answers"),
    pytest.param(_late_answer_without_a_host_kill, "cannot account for: late_answer 1", id="late-answer-no-kill"),
    pytest.param(_runtime_loss, "the runtime lost messages: kept_never_sent 4", id="runtime-loss"),
    pytest.param(_set(lost=2, lost_examples=["r1", "r9"]), "2 requests lost (no terminal outcome)", id="lost"),
    pytest.param(_set(doubled=1, doubled_examples=["r4"]), "1 requests with more than one outcome", id="doubled"),
    pytest.param(_kill_missing, "only 2 of 3 planned kills happened", id="kill-missing"),
    pytest.param(_kill_not_back, "1 killed actors did not come back", id="kill-not-back"),
    pytest.param(_set(settled=False, unsettled="bus unacked 3"), "did not settle: bus unacked 3", id="unsettled"),
    pytest.param(_set(store_checked=False), "not read back from the store", id="store-unchecked"),
    pytest.param(_invariant, "invariant violated x2: every request has exactly one terminal outcome: r7 (e3): no "
                 "outcome; r9 (e4): no outcome", id="invariant"),
])
def test_each_rule_fails_a_run_that_breaks_it(breakage: Callable[[dict[str, Any]], None], named: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    figures = copy.deepcopy(clean())
    breakage(figures)

    reasons = verdict(figures)

    assert len(reasons) == 1 and named in reasons[0], reasons
    print_verdict(figures)
    assert f"FAILED:\n  - {reasons[0]}" in capsys.readouterr().out


def test_answers_to_callers_that_died_with_a_killed_host_are_accounted_for() -> None:
    figures = clean() | {"dead_letters": {"late_answer": 3, "host_unreachable": 1}, "dead_letter_examples": {
        "late_answer": [{"type": "Reserved", "target": "manager/m1", "detail": "the caller stopped waiting"}],
        "host_unreachable": [{"type": "", "target": "employee/e2", "detail": "host gone"}]}}

    assert accounted_dead_letters(figures) == ({"late_answer": 3, "host_unreachable": 1}, {})
    assert verdict(figures) == []


def test_every_broken_rule_is_named_not_only_the_first() -> None:
    figures = clean() | {"retries": 2, "lost": 1, "lost_examples": ["r1"]}

    assert len(verdict(figures)) == 2


def test_a_lost_node_whose_disk_held_run_data_fails_the_run_naming_what_it_took() -> None:
    figures = clean() | {"disks_lost": {"2d186b5e6d78": ["runs/n1/hr/hr-d1.db: an HR ledger: 110 requests, 110 audited "
                                                        "decisions"]}}
    assert verdict(figures) == ["a lost node took run data with its disk: node 2d186b5e: runs/n1/hr/hr-d1.db: an HR "
                                "ledger: 110 requests, 110 audited decisions"]
    assert verdict(clean() | {"disks_lost": {"2d186b5e6d78": []}}) == []  # a node with nothing of the run on it
