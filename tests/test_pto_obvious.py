"""The PTO flow four ways (``scenarios.pto_obvious``): each way answers every request of the same plan and
holds every invariant, and the figures are shares of the direct-call ceiling per core used."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.app import pto_config
from actors.hr import Hr
from actors.org import Org
from cluster import AgentId
from scenarios._mix import request_mix
from scenarios._obvious_agents import SerialHr
from scenarios.pto_obvious import Run, in_process, on_raybus, report

ORG = Org.generate(seed=7, employees=20)
PLAN = request_mix(ORG, 60, seed=3)
SHORT_PLAN = PLAN[:20]  # the obvious program's managers review one request at a time: fewer keep the test short
LEARNING = [replace(p, request_id=f"learn-{p.request_id}") for p in request_mix(ORG, 10, seed=4)]


def _answered_and_held(run: Run, plan: list = PLAN) -> None:
    figures = run.figures()
    assert sum(run.recorder.outcomes.values()) == len(plan) and not run.recorder.errors
    assert figures["invariants_held"], figures["violated"]


def test_the_direct_call_ceiling_answers_every_request_and_holds_every_invariant(tmp_path: Path) -> None:
    _answered_and_held(in_process("ceiling", ORG, PLAN, [], 20, tmp_path / "hr"))


def test_the_same_agents_on_autogens_runtime_answer_every_request_and_hold_every_invariant(tmp_path: Path) -> None:
    pytest.importorskip("autogen_core")
    _answered_and_held(in_process("autogen", ORG, PLAN, [], 20, tmp_path / "hr"))


def test_the_obvious_program_on_raybus_answers_every_request_holds_every_invariant_and_says_where_it_waited(
        ray_session: Any, tmp_path: Path) -> None:
    """After learning requests (moves under way): those are answered and checked too."""
    args = argparse.Namespace(shards=1, durable=False, no_policy=False, concurrency=20, hosts=2,
                              placement="department")
    run = on_raybus("obvious", ORG, SHORT_PLAN, LEARNING, args, tmp_path)
    _answered_and_held(run, SHORT_PLAN)
    assert {p.request_id for p in LEARNING} <= set(run.owners)  # the check looked for them
    assert set(run.backlog["types"]) == {"employee", "manager", "team", "hr", "dates", "notifier"}


def test_each_run_is_a_share_of_the_ceilings_requests_per_core_and_a_ratio_to_autogen() -> None:
    def run(name: str, requests: int, cpu_s: float) -> Run:
        made = Run(name, PLAN[:requests], [])
        made.recorder.outcomes["approved"] = requests
        made.wall, made.cpu_s = 1.0, cpu_s
        return made

    found = report(argparse.Namespace(requests=60, learn=0, concurrency=20, seed=3, durable=False), ORG,
                   [run("ceiling", 60, 1.0), run("autogen", 6, 1.0), run("tuned", 30, 2.0)])
    tuned = found["runs"]["tuned"]
    assert tuned["cores_used"] == 2.0 and tuned["requests_per_s_per_core"] == 15.0
    assert tuned["share_of_ceiling_per_core"] == 0.25  # 15 per core against the ceiling's 60
    assert tuned["vs_autogen"] == 5.0


@pytest.mark.parametrize(("agent_class", "at_once"), [(SerialHr, True), (Hr, False)])
def test_a_serial_hr_changes_its_ledger_file_at_once_and_an_interleaving_one_in_batches(
        agent_class: type[Hr], at_once: bool, tmp_path: Path) -> None:
    org = Org.generate(1, employees=6, team_size=3)
    hr = agent_class()
    hr.id, hr.config = AgentId("hr", next(iter(org.departments))), pto_config(org, tmp_path / "hr", "run")
    asyncio.run(hr.on_start())  # a batch would hold a serial hr's mailbox a turn of the loop per change

    assert hr.ledger.at_once is at_once
    hr.store.close()
