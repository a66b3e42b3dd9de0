"""The organisation: departments, teams with a cover rule, managers, employees (some in two teams),
shared tasks, starting balances, the country for public holidays, a reference "today" and the review rule
(``actors.review``: which requests wait for the manager).

Generated from a seed (the same seed gives the same org) or loaded from a JSON file."""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Annotated

import holidays
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from .review import ReviewRule

__all__ = ["DuplicateMember", "Employee", "Manager", "ManagerIdMismatch", "Org", "OrgError", "OrgFileError",
           "OrgRefused", "Team", "UnknownCountry", "UnknownEmployee"]

# interned: a department's, team's, manager's or task's id recurs in every record that names it, and an org of
# 100,000 employees names them 700,000 times (one string each, parsed from JSON, unless interned)
Id = Annotated[str, StringConstraints(pattern=r"^[\w\-\.]+$", min_length=1, max_length=64), AfterValidator(sys.intern)]


class UnknownEmployee(KeyError):
    def __str__(self) -> str:
        return f"unknown employee {self.args[0]!r}"


class OrgError(Exception):
    """An org that cannot be used; the message names what is wrong."""


class OrgFileError(OrgError, ValueError):
    """An org file that cannot be read, named with what was wrong."""


class OrgRefused(OrgError):
    """An org refused for one named reason. Not a ValueError, so pydantic lets it through as itself."""


class DuplicateMember(OrgRefused):
    """A team lists one member more than once."""


class ManagerIdMismatch(OrgRefused):
    """``managers[key]`` holds a manager whose id is not ``key``."""


class UnknownCountry(OrgRefused):
    """A country the public-holiday calendar does not know."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# The records are slotted dataclasses, not models: a model keeps its fields in a dict of its own, and every process
# that parses a 100,000-employee org holds 125,000 records (measured: 107 MB parsed as models, 68 MB so, with the
# mapping keys interned like the ids they repeat). Validated by pydantic all the same.
_RECORD = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True, kw_only=True, config=_RECORD)
class Team:
    id: Id
    name: str
    department: Id
    manager: Id
    members: Annotated[list[Id], Field(min_length=1)]
    min_on_duty: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _cover_is_possible(self) -> Team:
        if self.min_on_duty > len(self.members):
            raise ValueError(f"team {self.id}: min_on_duty {self.min_on_duty} exceeds its {len(self.members)} members")
        return self


@dataclass(frozen=True, slots=True, kw_only=True, config=_RECORD)
class Manager:
    id: Id
    name: str
    department: Id
    teams: list[Id]


@dataclass(frozen=True, slots=True, kw_only=True, config=_RECORD)
class Employee:
    id: Id
    name: str
    department: Id
    home_team: Id
    teams: Annotated[list[Id], Field(min_length=1)]
    tasks: list[Id] = Field(default_factory=list)
    manager: Id
    starting_balance: Annotated[int, Field(ge=0, le=366)]


class Org(_Frozen):
    seed: int | None = None
    country: str = "US"
    today: date
    departments: list[Id]
    teams: dict[Id, Team]
    managers: dict[Id, Manager]
    employees: dict[Id, Employee]
    tasks: dict[Id, list[Id]]
    review: ReviewRule = ReviewRule()  # which requests wait for the manager; an org file may leave it out

    @model_validator(mode="after")
    def _references_hold(self) -> Org:
        self._refuse()
        problems = [*self._team_problems(), *self._employee_problems()]
        if problems:
            more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
            raise ValueError("; ".join(problems[:10]) + more)
        return self

    def _refuse(self) -> None:
        """The mistakes refused each by its own exception, before the list of broken references."""
        for key, team in self.teams.items():
            twice = sorted(m for m, n in Counter(team.members).items() if n > 1)
            if twice:
                raise DuplicateMember(f"team {key}: lists member {twice[0]!r} more than once")
        for key, manager in self.managers.items():
            if key != manager.id:
                raise ManagerIdMismatch(f"managers[{key!r}] has id {manager.id!r}: the key and the id must agree")
        if self.country not in holidays.list_supported_countries():
            raise UnknownCountry(f"unknown country {self.country!r}: not a country code the holiday calendar "
                                 "knows (e.g. 'US', 'DE')")

    def _team_problems(self) -> list[str]:
        problems = []
        departments = set(self.departments)
        for key, team in self.teams.items():
            if key != team.id:
                problems.append(f"teams[{key!r}] has id {team.id!r}")
            if team.department not in departments:
                problems.append(f"team {team.id}: unknown department {team.department!r}")
            if team.manager not in self.managers:
                problems.append(f"team {team.id}: unknown manager {team.manager!r}")
            problems += [f"team {team.id}: member {m!r} is not an employee" for m in team.members
                         if m not in self.employees]
            problems += [f"team {team.id}: member {m!r} does not list it in teams" for m in team.members
                         if m in self.employees and team.id not in self.employees[m].teams]
        for key, manager in self.managers.items():
            problems += [f"manager {key}: unknown team {t!r}" for t in manager.teams if t not in self.teams]
        for task, members in self.tasks.items():
            problems += [f"task {task}: member {m!r} is not an employee" for m in members if m not in self.employees]
            problems += [f"task {task}: member {m!r} does not list it in tasks" for m in members
                         if m in self.employees and task not in self.employees[m].tasks]
        return problems

    def _employee_problems(self) -> list[str]:
        problems = []
        for key, employee in self.employees.items():
            if key != employee.id:
                problems.append(f"employees[{key!r}] has id {employee.id!r}")
            problems += [f"employee {key}: unknown team {t!r}" for t in employee.teams if t not in self.teams]
            problems += [f"employee {key}: not a member of team {t!r}" for t in employee.teams
                         if t in self.teams and key not in self.teams[t].members]
            problems += [f"employee {key}: unknown task {k!r}" for k in employee.tasks if k not in self.tasks]
            home = self.teams.get(employee.home_team)
            if home is None or employee.home_team != employee.teams[0]:
                problems.append(f"employee {key}: home_team {employee.home_team!r} must be its first team")
            elif home.manager != employee.manager or home.department != employee.department:
                problems.append(f"employee {key}: manager and department must be those of its home team")
        return problems

    # --- queries ------------------------------------------------------------------------------
    def employee(self, employee_id: str) -> Employee:
        try:
            return self.employees[employee_id]
        except KeyError:
            raise UnknownEmployee(employee_id) from None

    def teams_of(self, employee_id: str) -> list[Team]:
        return [self.teams[t] for t in self.employee(employee_id).teams]

    def manager_of(self, employee_id: str) -> str:
        return self.employee(employee_id).manager

    def department_of(self, employee_id: str) -> str:
        return self.employee(employee_id).department

    def staff_of(self, department: str) -> list[Employee]:
        """The department's employees, in the org's order: indexed on first use, not found by a scan of the whole
        org on each ask (each hr agent asks when it starts: thousands of departments of a large org would make
        that quadratic). The index names the employees it was made from: a copy with other employees makes its
        own."""
        made = self.__dict__.get("_staff")  # beside the fields, as a cached_property keeps its value
        if made is None or made[0] is not self.employees:
            staff: dict[str, list[Employee]] = {}
            for employee in self.employees.values():
                staff.setdefault(employee.department, []).append(employee)
            made = self.__dict__["_staff"] = (self.employees, staff)
        return made[1].get(department, [])

    def reports_of(self, manager_id: str) -> list[str]:
        return [e.id for e in self.employees.values() if e.manager == manager_id]

    def task_mates(self, employee_id: str) -> set[str]:
        return {m for task in self.employee(employee_id).tasks for m in self.tasks[task]} - {employee_id}

    # --- files --------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Org:
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_text())
        except OSError as exc:
            raise OrgFileError(f"cannot read org file {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise OrgFileError(f"org file {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        except ValidationError as exc:
            raise OrgFileError(f"org file {path} is not a valid org: {exc}") from None
        except OrgRefused as exc:
            raise type(exc)(f"org file {path}: {exc}") from None

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.model_dump(mode="json"), indent=1))

    # --- generation ---------------------------------------------------------------------------
    @classmethod
    def generate(cls, seed: int, employees: int = 200, team_size: int = 8, country: str = "US",
                 today: date = date(2026, 11, 24), review: ReviewRule | None = None) -> Org:
        """A deterministic org: teams of about ``team_size`` (cover rule 1 to half the team), a manager per
        team, about one team per 3.5 in a department, one employee in five also in a second team of their
        department, tasks shared by 2 to 5 colleagues, starting balances of 5 to 25 days; ``review`` (default
        ``ReviewRule()``) says which requests wait for the manager."""
        if employees < 2:
            raise ValueError("an org needs at least 2 employees")
        rng = random.Random(seed)
        n_teams = max(1, round(employees / team_size))
        n_departments = max(1, round(n_teams / 3.5))
        departments = [f"d{i}" for i in range(n_departments)]
        team_of_dept = {f"t{i}": departments[i % n_departments] for i in range(n_teams)}
        people = [f"e{i}" for i in range(employees)]
        homes = {e: f"t{i % n_teams}" for i, e in enumerate(people)}
        # indexes by department, each in the order a scan of the whole org would meet them (the same seed must
        # give the same org), so that the org is made in time linear in its size
        dept_of = {e: team_of_dept[homes[e]] for e in people}
        teams_in: dict[str, list[str]] = {d: [] for d in departments}
        for t, d in team_of_dept.items():
            teams_in[d].append(t)
        teams_of = {e: [homes[e]] for e in people}
        for e in people:
            same_dept = [t for t in teams_in[dept_of[e]] if t != homes[e]]
            if same_dept and rng.random() < 0.2:
                teams_of[e].append(rng.choice(same_dept))
        members: dict[str, list[str]] = {t: [] for t in team_of_dept}
        staff_of: dict[str, list[str]] = {d: [] for d in departments}
        for e in people:
            for t in teams_of[e]:
                members[t].append(e)
            staff_of[dept_of[e]].append(e)
        tasks: dict[str, list[str]] = {}
        tasks_in: dict[str, list[str]] = {d: [] for d in departments}
        for department in departments:
            staff = staff_of[department]
            rng.shuffle(staff)
            while staff:
                size = min(len(staff), rng.randint(2, 5))
                if len(staff) - size == 1:
                    size += 1  # nobody is left alone on a task
                tasks[f"k{len(tasks)}"], staff = staff[:size], staff[size:]
                tasks_in[department].append(f"k{len(tasks) - 1}")
        tasks_of: dict[str, list[str]] = {e: [] for e in people}
        for k, ms in tasks.items():
            for e in ms:
                tasks_of[e].append(k)
        for e in people:  # a second task for some, in the same department (a task's department is its first's)
            others = [k for k in tasks_in[dept_of[e]] if e not in tasks[k]]
            if others and rng.random() < 0.3:
                extra = rng.choice(others)
                tasks[extra].append(e)
                tasks_of[e].append(extra)
        return cls(
            seed=seed, country=country, today=today, departments=departments,
            teams={t: Team(id=t, name=f"Team {t}", department=d, manager=f"m{t[1:]}", members=members[t],
                           min_on_duty=max(1, min(len(members[t]), rng.randint(1, max(1, len(members[t]) // 2)))))
                   for t, d in team_of_dept.items()},
            managers={f"m{t[1:]}": Manager(id=f"m{t[1:]}", name=f"Manager of {t}", department=d, teams=[t])
                      for t, d in team_of_dept.items()},
            employees={e: Employee(id=e, name=f"Agent {e[1:]}", department=team_of_dept[homes[e]], home_team=homes[e],
                                   teams=teams_of[e], tasks=tasks_of[e], manager=f"m{homes[e][1:]}",
                                   starting_balance=rng.randint(5, 25))
                       for e in people},
            tasks=tasks,
            review=review or ReviewRule(),
        )
