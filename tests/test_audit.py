"""The audit trail of manager decisions: HrStore's decisions table on a real file and on a real PostgreSQL
server, then the PTO app on a real (private, local) Ray with test_pto's hand-built org, then
``scenarios.audit`` reading the run's HR databases.

In that org x (teams alpha and beta, manager m1) is the interesting employee: alpha lets two of its four
members off a day, beta one of its three; b1 and b2 report to m2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from uuid import uuid4

import pytest
from test_pto import FRI, THU, App, start_small_org

from actors.audit import DecisionAudit, TeamCover
from actors.coverage import DayCover
from actors.hr_store import HrStore, UnknownEmployee
from cluster import PostgresDatabase, Runtime
from scenarios import audit as audit_cli

REPO = Path(__file__).resolve().parent.parent
MON, TUE = date(2026, 11, 30), date(2026, 12, 1)


def decision(employee: str = "alice", approved: bool = True, days: tuple[date, ...] = (MON,)) -> DecisionAudit:
    cover = [DayCover(day, 1, 2) for day in days]
    return DecisionAudit(employee=employee, days=list(days), approved=approved,
                         reason=None if approved else "coverage",
                         teams=[TeamCover(team="t0", reserved=approved, days=cover)])


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HrStore]:
    """A ledger in a SQLite file, or in a schema of the session's PostgreSQL server (its moves and their
    records made by the schema's functions)."""
    db = (tmp_path / "hr.db" if request.param == "sqlite"
          else PostgresDatabase(request.getfixturevalue("postgres_url"), f"audit-{uuid4().hex[:10]}"))
    with HrStore(db) as hr:
        hr.add_employees({"alice": 10, "bob": 10})
        yield hr


# --- the store ------------------------------------------------------------------------------------


def test_a_decision_recorded_twice_is_stored_once_as_first_recorded(store: HrStore) -> None:
    before = datetime.now(timezone.utc)

    assert store.record_decision("r1", decision(), "manager/m1")
    assert not store.record_decision("r1", decision(approved=False), "manager/m9")

    [record] = store.decisions()
    assert (record.request_id, record.employee, record.approved, record.decided_by) == ("r1", "alice", True,
                                                                                        "manager/m1")
    assert record.teams == decision().teams
    assert before <= record.decided_at <= datetime.now(timezone.utc)  # UTC, stamped by the store


def test_commit_and_release_record_their_decision_and_a_refused_move_records_nothing(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", [MON]).ok and store.place_hold("r2", "bob", [MON]).ok

    assert store.commit("r1", decision(), "manager/m1").ok
    assert store.commit("r1", decision(), "manager/m1").ok  # a redelivered commit
    assert store.release("r2", decision("bob", approved=False), decided_by=None).ok
    assert not store.commit("r9", decision(), "manager/m1").ok

    assert [(r.request_id, r.approved, r.decided_by) for r in store.decisions()] == [
        ("r1", True, "manager/m1"), ("r2", False, "driver")]


def test_decisions_are_queried_by_employee_and_request(store: HrStore) -> None:
    store.record_decision("r1", decision("alice"), "manager/m1")
    store.record_decision("r2", decision("bob"), "manager/m2")
    store.record_decision("r3", decision("alice", days=(TUE,)), "manager/m1")

    assert [r.request_id for r in store.decisions(employee="alice")] == ["r1", "r3"]
    assert [r.employee for r in store.decisions(request_id="r2")] == ["bob"]
    assert store.decisions(employee="bob", request_id="r1") == []
    with pytest.raises(UnknownEmployee, match="nobody"):
        store.decisions(employee="nobody")


def test_cancelling_an_approved_request_is_recorded_once(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", [MON, TUE]).ok
    assert store.commit("r1", decision(days=(MON, TUE)), "manager/m1").ok

    assert store.cancel("r1", cancelled_by="manager/m1").ok
    assert store.cancel("r1", cancelled_by="manager/m2").ok

    [record] = store.decisions(request_id="r1")
    assert record.approved and record.cancelled_by == "manager/m1"
    assert record.decided_at <= record.cancelled_at  # type: ignore[operator]
    assert store.balance("alice") == 10


# --- on Ray, through the app ----------------------------------------------------------------------


def records(app: App, employee: str) -> list[tuple[str, bool, str | None, str]]:
    with app.store() as store:
        return [(r.request_id, r.approved, r.reason, r.decided_by) for r in store.decisions(employee=employee)]


def test_an_approved_request_leaves_one_record_naming_the_manager_and_each_teams_cover(
        runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    assert app.ask("a1", "Dec 3", "r1").status == "approved"

    assert app.ask("x", "Dec 3 to Dec 4", "r2").status == "approved"
    assert app.cancel("x", "r2").ok

    assert records(app, "x") == [("r2", True, None, "manager/m1")]
    with app.store() as store:
        [record] = store.decisions(request_id="r2")
    assert record.days == [THU, FRI]
    assert {team.team: (team.reserved, team.days) for team in record.teams} == {
        "alpha": (True, [DayCover(THU, 1, 2), DayCover(FRI, 0, 2)]),  # a1 was already off on Dec 3
        "beta": (True, [DayCover(THU, 0, 1), DayCover(FRI, 0, 1)]),
    }
    assert record.cancelled_by == "manager/m1"  # x's manager revoked it, at x's own request


def test_a_request_rejected_for_cover_names_the_team_and_the_day(runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    assert app.ask("b1", "Dec 3", "r1").status == "approved"  # beta may have one off: now it has

    assert app.ask("x", "Dec 3 to Dec 4", "r2").reason == "coverage"

    with app.store() as store:
        [record] = store.decisions(employee="x")
    assert (record.approved, record.reason, record.decided_by) == (False, "coverage", "manager/m1")
    teams = {team.team: team for team in record.teams}
    assert (teams["alpha"].reserved, teams["alpha"].short_days) == (True, [])
    assert (teams["beta"].reserved, teams["beta"].reason, teams["beta"].short_days) == (False, "coverage", [THU])
    assert teams["beta"].days[0] == DayCover(THU, 1, 1)
    assert records(app, "b1") == [("r1", True, None, "manager/m2")]


# --- the CLI --------------------------------------------------------------------------------------


def test_cli_prints_an_employees_decisions_and_names_an_unknown_employee(
        runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    assert app.ask("b1", "Dec 3", "r1").status == "approved"
    assert app.ask("x", "Dec 3", "r2").reason == "coverage"

    shown = subprocess.run([sys.executable, "-m", "scenarios.audit", "--employee", "x", "--run-dir",
                            str(app.run_dir)], cwd=REPO, capture_output=True, text=True, timeout=60)

    assert shown.returncode == 0, shown.stderr
    [row] = [line for line in shown.stdout.splitlines() if " r2 " in line]
    for expected in ("2026-12-03", "rejected", "coverage", "manager/m1", "alpha reserved 2026-12-03 0/2",
                     "beta refused (coverage) 2026-12-03 1/1"):
        assert expected in row, (expected, row)

    capsys.readouterr()  # what starting the app printed (where its data go)
    audit_cli.main(["--employee", "x", "--request", "r2", "--run-dir", str(app.run_dir), "--json"])
    [record] = json.loads(capsys.readouterr().out)
    assert (record["request_id"], record["decided_by"]) == ("r2", "manager/m1")

    for argv, named in ((["--employee", "nobody"], "'nobody'"), (["--employee", "x", "--request", "r9"], "'r9'")):
        with pytest.raises(SystemExit) as exit_:
            audit_cli.main([*argv, "--run-dir", str(app.run_dir)])
        said = capsys.readouterr().err
        assert exit_.value.code == 2 and said.startswith("audit: ") and named in said, (exit_.value.code, said)
    with pytest.raises(SystemExit):
        audit_cli.main(["--employee", "x", "--run-dir", str(tmp_path / "missing")])
    assert "does not exist" in capsys.readouterr().err
