"""A load run's part of the backlog (``scenarios._where``): the difference of the reports at its start and
its end, as shares of the run."""

from __future__ import annotations

from typing import Any

from scenarios._where import run_backlog


def _report(blocked: float, agents: list[tuple[str, float]]) -> dict[str, Any]:
    return {"backlog": {"types": {"manager": {"agents": 2, "queued": 0, "peak": 9, "blocked_s": blocked,
                                              "alive_s": 0.0}},
                        "blocking": [{"agent": a, "blocked_s": s, "share": 0.0, "queued": 0, "peak": 9}
                                     for a, s in agents]}}


def test_the_runs_part_is_the_blocked_time_since_its_start_over_agents_times_wall() -> None:
    found = run_backlog(_report(1.0, [("manager/m0", 1.0)]), _report(9.0, [("manager/m1", 5.0), ("manager/m0", 3.0)]),
                        wall=10.0)
    assert found["types"]["manager"]["blocked_share"] == 0.4  # (9 - 1) s over 2 agents x 10 s
    assert [(a["agent"], a["blocked_share"]) for a in found["blocking"]] == [("manager/m1", 0.5), ("manager/m0", 0.2)]
