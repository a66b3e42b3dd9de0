"""Org: seeded generation, its shape, its queries, and the JSON file round trip with clear errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from actors.org import (
    DuplicateMember,
    ManagerIdMismatch,
    Org,
    OrgError,
    OrgFileError,
    OrgRefused,
    UnknownCountry,
    UnknownEmployee,
)

SEED = 42


@pytest.fixture(scope="module")
def org() -> Org:
    return Org.generate(SEED, employees=200)


def dumped(org: Org, path: Path) -> str:
    org.dump(path)
    return path.read_text()


def org_json(org: Org) -> dict[str, Any]:
    return org.model_dump(mode="json")


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


# --- generation -----------------------------------------------------------------------------------
def test_same_seed_gives_the_same_org(org: Org, tmp_path: Path) -> None:
    again = Org.generate(SEED, employees=200)

    assert dumped(again, tmp_path / "b.json") == dumped(org, tmp_path / "a.json")


def test_another_seed_gives_another_org(org: Org, tmp_path: Path) -> None:
    other = Org.generate(SEED + 1, employees=200)

    assert dumped(other, tmp_path / "b.json") != dumped(org, tmp_path / "a.json")


def test_generated_org_has_the_requested_headcount(org: Org) -> None:
    assert len(org.employees) == 200
    assert org.seed == SEED


def test_every_team_keeps_at_least_one_on_duty_and_no_more_than_its_members(org: Org) -> None:
    assert all(1 <= team.min_on_duty <= len(team.members) for team in org.teams.values())


def test_every_team_has_exactly_one_manager_who_manages_only_it(org: Org) -> None:
    managers = [team.manager for team in org.teams.values()]

    assert len(set(managers)) == len(org.teams)
    assert all(org.managers[team.manager].teams == [team.id] for team in org.teams.values())


def test_about_one_employee_in_five_is_in_two_teams(org: Org) -> None:
    in_two = [e for e in org.employees.values() if len(e.teams) == 2]

    assert 0.10 <= len(in_two) / len(org.employees) <= 0.30
    assert all(len(e.teams) <= 2 for e in org.employees.values())


def test_a_second_team_is_in_the_employees_department(org: Org) -> None:
    assert all(org.teams[t].department == e.department for e in org.employees.values() for t in e.teams)


def test_every_task_is_shared_by_several_employees(org: Org) -> None:
    assert all(len(set(members)) >= 2 for members in org.tasks.values())


def test_every_employee_works_on_at_least_one_task(org: Org) -> None:
    assert all(e.tasks for e in org.employees.values())


def test_starting_balances_are_in_the_documented_range(org: Org) -> None:
    assert all(5 <= e.starting_balance <= 25 for e in org.employees.values())


def test_an_org_needs_two_employees() -> None:
    with pytest.raises(ValueError, match="at least 2 employees"):
        Org.generate(SEED, employees=1)


# --- queries --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_team_employee(org: Org) -> str:
    return next(e.id for e in org.employees.values() if len(e.teams) == 2)


def test_teams_of_lists_home_team_first_then_the_second(org: Org, two_team_employee: str) -> None:
    profile = org.employee(two_team_employee)

    teams = org.teams_of(two_team_employee)

    assert [t.id for t in teams] == [profile.home_team, profile.teams[1]]
    assert all(two_team_employee in t.members for t in teams)


def test_manager_of_is_the_manager_of_the_home_team(org: Org, two_team_employee: str) -> None:
    home = org.employee(two_team_employee).home_team

    assert org.manager_of(two_team_employee) == org.teams[home].manager


def test_department_of_is_the_home_teams_department(org: Org, two_team_employee: str) -> None:
    home = org.employee(two_team_employee).home_team

    assert org.department_of(two_team_employee) == org.teams[home].department


def test_reports_of_a_manager_are_the_home_members_of_its_team(org: Org) -> None:
    team = org.teams["t0"]

    reports = org.reports_of(team.manager)

    assert set(reports) == {m for m in team.members if org.employees[m].home_team == "t0"}
    assert reports


def test_task_mates_are_everyone_sharing_a_task_but_oneself(org: Org) -> None:
    employee = org.employees["e0"]

    mates = org.task_mates("e0")

    assert mates == {m for task in employee.tasks for m in org.tasks[task]} - {"e0"}
    assert mates
    assert "e0" not in mates


@pytest.mark.parametrize(
    "query",
    [Org.employee, Org.teams_of, Org.manager_of, Org.department_of, Org.task_mates],
    ids=lambda q: q.__name__,
)
def test_an_unknown_employee_raises_unknown_employee_naming_it(org: Org, query: Callable[[Org, str], Any]) -> None:
    with pytest.raises(UnknownEmployee, match="nobody-7") as raised:
        query(org, "nobody-7")

    assert str(raised.value) == "unknown employee 'nobody-7'"
    assert isinstance(raised.value, KeyError)


# --- files ----------------------------------------------------------------------------------------
def test_dump_then_load_gives_the_same_org(org: Org, tmp_path: Path) -> None:
    path = tmp_path / "org.json"
    org.dump(path)

    assert Org.load(path) == org


def test_loading_a_missing_file_raises_org_file_error(tmp_path: Path) -> None:
    with pytest.raises(OrgFileError, match=r"cannot read org file .*missing\.json"):
        Org.load(tmp_path / "missing.json")


def test_loading_invalid_json_raises_org_file_error(tmp_path: Path) -> None:
    path = tmp_path / "org.json"
    path.write_text('{"today": ')

    with pytest.raises(OrgFileError, match="Invalid JSON"):
        Org.load(path)


def _drop_today(data: dict[str, Any]) -> None:
    del data["today"]


def _ghost_member(data: dict[str, Any]) -> None:
    data["teams"]["t0"]["members"].append("ghost")


def _zero_on_duty(data: dict[str, Any]) -> None:
    data["teams"]["t1"]["min_on_duty"] = 0


def _unknown_task(data: dict[str, Any]) -> None:
    data["employees"]["e3"]["tasks"].append("k-nowhere")


def _negative_balance(data: dict[str, Any]) -> None:
    data["employees"]["e4"]["starting_balance"] = -1


def _member_twice(data: dict[str, Any]) -> None:
    data["teams"]["t2"]["members"].append(data["teams"]["t2"]["members"][0])


def _manager_key_differs(data: dict[str, Any]) -> None:
    data["managers"]["m3"]["id"] = "m-other"


def _unknown_country(data: dict[str, Any]) -> None:
    data["country"] = "XX"


REFUSALS = [  # each refused by its own exception class
    pytest.param(_member_twice, DuplicateMember, "team t2: lists member 'e2' more than once", id="member-twice"),
    pytest.param(_manager_key_differs, ManagerIdMismatch, "managers['m3'] has id 'm-other'", id="manager-key"),
    pytest.param(_unknown_country, UnknownCountry, "unknown country 'XX'", id="unknown-country"),
]


@pytest.mark.parametrize(
    ("breakage", "error", "named"),
    [
        pytest.param(_drop_today, OrgFileError, "today", id="missing-field"),
        pytest.param(_ghost_member, OrgFileError, "team t0: member 'ghost' is not an employee", id="dangling-member"),
        pytest.param(_zero_on_duty, OrgFileError, "min_on_duty", id="zero-on-duty"),
        pytest.param(_unknown_task, OrgFileError, "employee e3: unknown task 'k-nowhere'", id="unknown-task"),
        pytest.param(_negative_balance, OrgFileError, "starting_balance", id="negative-balance"),
        *REFUSALS,
    ],
)
def test_a_malformed_org_file_raises_its_error_naming_the_problem(
    org: Org, tmp_path: Path, breakage: Callable[[dict[str, Any]], None], error: type[OrgError], named: str
) -> None:
    data = org_json(org)
    breakage(data)
    path = write_json(tmp_path / "org.json", data)

    with pytest.raises(error) as raised:
        Org.load(path)

    assert named in str(raised.value)
    assert str(path) in str(raised.value)
    assert isinstance(raised.value, OrgError)


def test_a_file_that_is_not_utf8_raises_org_file_error(tmp_path: Path) -> None:
    path = tmp_path / "org.json"
    path.write_bytes(b"\xff\xfe{}")

    with pytest.raises(OrgFileError):
        Org.load(path)


# --- refusals, each by its own exception ----------------------------------------------------------
@pytest.mark.parametrize(("breakage", "refusal", "named"), REFUSALS)
def test_an_org_built_in_code_is_refused_the_same_way(
    org: Org, breakage: Callable[[dict[str, Any]], None], refusal: type[OrgRefused], named: str
) -> None:
    data = org_json(org)
    breakage(data)

    with pytest.raises(refusal, match=re.escape(named)):
        Org.model_validate(data)


def test_org_file_errors_are_org_errors(tmp_path: Path) -> None:
    with pytest.raises(OrgError):
        Org.load(tmp_path / "missing.json")


def test_staff_of_a_department_lists_its_employees_in_org_order() -> None:
    org = Org.generate(seed=7, employees=300)
    for department in org.departments:
        assert [e.id for e in org.staff_of(department)] == [
            e.id for e in org.employees.values() if e.department == department]
    fewer = org.model_copy(update={"employees": dict(list(org.employees.items())[:10])})
    assert len(fewer.staff_of("d0")) < len(org.staff_of("d0"))  # a copy with other employees is not misled
