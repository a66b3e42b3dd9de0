"""A simulated node's own disk (scenarios/_node_disks.py): lost with its node, after saying what the run had there."""

from __future__ import annotations

from pathlib import Path

from actors.hr_store import HrStore
from cluster import SqliteStateStore
from scenarios._node_disks import lose_disk


def test_a_lost_disk_says_what_it_held_then_is_gone(tmp_path: Path) -> None:
    home = tmp_path / "node-1"
    run = home / ".local/share/raybus/runs/n1"
    state = SqliteStateStore(run / "state/n1.db")
    state.save_many({"employee/e1": {"count": "1"}, "team/t1": {"count": "2"}})
    state.close()
    with HrStore(run / "hr/hr-d1.db") as ledger:
        ledger.add_employees({"e1": 10})

    assert lose_disk(home) == [
        ".local/share/raybus/runs/n1/hr/hr-d1.db: an HR ledger: 0 requests, 0 audited decisions",
        ".local/share/raybus/runs/n1/state/n1.db: the stored state of 2 agents (and the bus's routing table if it "
        "ran there)",
    ]
    assert not home.exists()
