"""Property-based tests: random and hostile input, first to the pure parts (dates, team calendar, hr ledger),
then to the real agents on a private Ray.

What the Ray properties say: a bad input gets a clear error (a ``RaybusError`` naming what was wrong) or a
rejected outcome naming it — never a hang, a bare crash or a dead agent — and afterwards every invariant of
``actors.invariants.check`` holds, with nothing half-applied (no hold left held, no reservation unconfirmed).

Each Ray test starts one app and runs all its hypothesis examples against it (an example costs tens of
milliseconds, an app a second or two); request ids are unique across examples, and the invariants are
checked once, at the end, on everything the examples asked. A test drives the app from one event loop (see
``Driver``), as a real driver would.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import holidays
import pytest
import ray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from test_pto import TODAY, App, start_small_org

from actors.audit import DecisionAudit
from actors.coverage import TeamCalendar
from actors.dates import MAX_PHRASE, DateParseError, RuleBasedDateModel, working_days
from actors.hr_store import HrStore
from actors.invariants import check, collect
from actors.messages import (
    Cancelled,
    CancelRequest,
    CancelReservation,
    Commit,
    Confirm,
    Decision,
    PlaceHold,
    PtoRequest,
    Release,
    RequestOutcome,
    RequestTimeOff,
    Reserve,
    RevokeApproval,
    TimeOffCancelled,
    TimeOffNotice,
)
from actors.org import Org
from cluster import AgentId, HandlerError, InvalidMessage, NotAuthorized, RaybusError, Runtime, TopicId
from cluster._wire import Answer, Call, pack, unpack
from cluster.constants import client_name

# The app differs from run to run, so a stored failing example would replay against another world: no database.
RAY = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
PURE = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TIMEOUT = 20.0  # a hang fails the example with DeliveryTimeout instead of stalling the suite
REASONS = {None, "invalid_dates", "overlap", "insufficient_balance", "coverage"}

REAL_PHRASES = [
    "today", "tomorrow", "next Monday", "next Thursday and Friday", "next week", "the week after next",
    "this week", "3 days starting next Tuesday", "three working days from Dec 23", "Dec 22 to Dec 24",
    "2026-12-28", "from Monday to Wednesday", "Mon - Wed", "Dec 30 to Jan 2", "Dec 21, Dec 22 and Dec 23",
    "Dec 3", "Dec 3 to Dec 4", "on Friday", "Jan 4", "Friday, Dec 4", "December 3, 2026",
]
HOSTILE_PHRASES = [
    "1 days starting 9999-12-31", "9999-12-31", "Dec 31 9999", "3 days starting Dec 31 9999", "0001-01-01",
    "261 days starting tomorrow", "0 days starting tomorrow", "Dec 24 to Dec 1", "2026-01-01 to 2027-12-31",
    "yesterday", "last Friday", "and", ",", " ", "Feb 30", "next Saturday", "Nov 26", "blorp next fortnight",
    "\u2603 next \U0001f600 Thursday", "\u0645\u0631\u062d\u0628\u0627", "Dec 3\u2013", "\x00", "%s%n{0}",
    "'; DROP TABLE requests; --", "Monday, Dec 4",
]


def _past_date(days_back: int) -> str:
    return (TODAY - timedelta(days=days_back)).isoformat()


phrases = st.one_of(
    st.sampled_from(REAL_PHRASES),
    st.sampled_from(HOSTILE_PHRASES),
    st.integers(1, 20_000).map(_past_date),
    st.text(min_size=1, max_size=60),
    st.text(min_size=MAX_PHRASE + 1, max_size=MAX_PHRASE + 40),  # oversize: the message itself is invalid
    st.tuples(st.sampled_from(REAL_PHRASES), st.sampled_from([" and ", " to ", ", ", " - "]),
              st.sampled_from(REAL_PHRASES + HOSTILE_PHRASES)).map("".join),
)


def us_holiday(day: date) -> bool:
    return day in holidays.country_holidays("US", years=day.year)


# --- pure: dates -----------------------------------------------------------------------------------


@PURE
@given(text=st.one_of(phrases, st.text(max_size=250)),
       today=st.one_of(st.dates(date(2020, 1, 1), date(2035, 12, 31)), st.dates(),
                       st.dates(date(9999, 12, 1), date.max), st.sampled_from([date.min, date.max])))
def test_date_model_gives_sorted_future_working_days_or_a_parse_error(text: str, today: date) -> None:
    try:
        days = RuleBasedDateModel().resolve(text, today)
    except DateParseError as exc:
        assert str(exc).startswith("date phrase "), exc  # names the phrase, then why
        return
    assert days and days == sorted(set(days)), days
    assert all(d >= today and d.weekday() < 5 and not us_holiday(d) for d in days), days
    assert (days[-1] - days[0]).days < 366, days


FORMATS = ["%Y-%m-%d", "%b %d %Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%m/%d/%Y", "%a %b %d %Y", "%A, %B %d, %Y"]


@PURE
@given(today=st.dates(date(2000, 1, 1), date(9000, 1, 1)), offsets=st.lists(st.integers(0, 300), min_size=1,
                                                                              max_size=4),
       fmt=st.sampled_from(FORMATS), separator=st.sampled_from([", ", " and ", ", and ", " & "]))
def test_a_list_of_written_out_dates_resolves_to_exactly_its_working_days(today: date, offsets: list[int], fmt: str,
                                                                          separator: str) -> None:
    """Was: "Dec 3, 2026" gave Dec 1 and Dec 3 (the year after the comma read as a second date), and
    "Friday, Dec 4" gave this Friday and Dec 4 (fixed in actors/dates.py)."""
    days = [today + timedelta(days=n) for n in offsets]
    wanted = working_days(days)
    text = separator.join(day.strftime(fmt) for day in days)
    try:
        found: Any = RuleBasedDateModel().resolve(text, today)
    except DateParseError as exc:
        found = exc
    assert found == (wanted or found), text  # no working day among them: any parse error will do
    assert wanted or isinstance(found, DateParseError), (text, found)


@PURE
@given(day=st.one_of(st.dates(date(2000, 1, 1), date(2100, 1, 1)), st.dates(date(9999, 11, 1), date.max)),
       back=st.integers(0, 300), fmt=st.sampled_from(FORMATS[:5]))
def test_one_working_day_said_in_any_of_several_ways_is_that_day(day: date, back: int, fmt: str) -> None:
    """Was: "1 days starting 9999-12-31" failed ("date value out of range") while "9999-12-31" worked."""
    if not working_days([day]):
        return
    today = max(date.min, day - timedelta(days=back))
    said = day.strftime(fmt)
    for text in (said, f"{said} to {said}", f"1 day starting {said}", f"1 days starting {said}",
                 f"{said} and {said}", f"from {said} through {said}", f"one working day from {said}"):
        assert RuleBasedDateModel().resolve(text, today) == [day], text


# --- pure: team calendar ---------------------------------------------------------------------------

MEMBERS = ["p0", "p1", "p2", "p3"]
DAYS = [date(2026, 12, 1) + timedelta(days=i) for i in range(5)]
calendar_ops = st.lists(st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, 7), st.sampled_from([*MEMBERS, "outsider"]),
              st.lists(st.sampled_from(DAYS), max_size=4)),
    st.tuples(st.just("confirm"), st.integers(0, 7)),
    st.tuples(st.just("cancel"), st.integers(0, 7)),
), max_size=40)


@PURE
@given(min_on_duty=st.integers(1, len(MEMBERS)), ops=calendar_ops)
def test_team_calendar_never_exceeds_capacity_and_tracks_its_reservations(min_on_duty: int,
                                                                          ops: list[tuple]) -> None:
    calendar = TeamCalendar("t", MEMBERS, min_on_duty)
    for op, n, *args in ops:
        rid = f"r{n}"
        if op == "reserve":
            known = rid in calendar.reservations
            result = calendar.reserve(rid, *args)
            if not known:
                assert result.ok == (rid in calendar.reservations), result
                if args[0] == "outsider":
                    assert result.reason == "not_a_member"
                elif not result.ok:
                    assert (result.reason, result.day in args[1]) == ("coverage", True), result
        elif op == "confirm":
            assert calendar.confirm(rid) == (rid in calendar.reservations)
        else:
            existed = rid in calendar.reservations
            assert calendar.cancel(rid) == existed and rid not in calendar.reservations
        assert calendar.check() == []
        assert all(len(calendar.off_on(day)) <= calendar.capacity() for day in DAYS)
        off = {day: {r["employee"] for r in calendar.reservations.values() if day in r["days"]} for day in DAYS}
        assert {day: calendar.off_on(day) for day in DAYS} == off  # its index agrees with its reservations
        assert TeamCalendar.from_state(calendar.to_state()).to_state() == calendar.to_state()


# --- pure: hr store --------------------------------------------------------------------------------

STAFF = {"h0": 3, "h1": 0, "h2": 5}
WEEK = [date(2026, 11, 30) + timedelta(days=i) for i in range(7)]  # Monday to Sunday
hr_ops = st.lists(st.one_of(
    st.tuples(st.just("hold"), st.integers(0, 5), st.sampled_from([*STAFF, "ghost"]),
              st.lists(st.sampled_from(WEEK), max_size=4)),
    st.tuples(st.sampled_from(["commit", "release", "cancel"]), st.integers(0, 6)),
), max_size=30)


class _HrModel:
    """What HrStore should answer, from its docstrings, kept in plain Python."""

    def __init__(self) -> None:
        self.requests: dict[str, tuple[str, list[date], str]] = {}  # id → employee, days, status
        self.balance = dict(STAFF)

    def days(self, employee: str, status: str) -> list[date]:
        return [d for e, days, s in self.requests.values() if e == employee and s == status for d in days]

    def hold(self, rid: str, employee: str, days: list[date]) -> tuple[bool, str | None]:
        if employee not in STAFF:
            return False, "unknown_employee"
        if rid in self.requests:
            known_employee, known_days, status = self.requests[rid]
            if (known_employee, sorted(known_days)) != (employee, sorted(days)):
                return False, "duplicate_request"
            return (True, None) if status in ("held", "committed") else (False, status)
        if not days or len(set(days)) != len(days) or any(d.weekday() >= 5 for d in days):
            return False, "invalid_dates"
        if set(days) & set(self.days(employee, "held") + self.days(employee, "committed")):
            return False, "overlap"
        if self.balance[employee] - len(self.days(employee, "held")) < len(days):
            return False, "insufficient_balance"
        self.requests[rid] = (employee, days, "held")
        return True, None

    def move(self, rid: str, moves: dict[str, str], done: tuple[str, ...]) -> bool:
        if rid not in self.requests:
            return False
        employee, days, status = self.requests[rid]
        if status in done:
            return True
        if status not in moves:
            return False
        self.requests[rid] = (employee, days, moves[status])
        self.balance[employee] += {("held", "committed"): -len(days),
                                   ("committed", "cancelled"): len(days)}.get((status, moves[status]), 0)
        return True


@PURE
@given(ops=hr_ops)
def test_hr_store_sequences_reconcile_and_never_go_negative(tmp_path_factory: Any, ops: list[tuple]) -> None:
    model = _HrModel()
    with HrStore(tmp_path_factory.mktemp("hr") / "hr.db") as store:
        store.add_employees(STAFF)
        for op, n, *args in ops:
            rid = f"r{n}"
            if op == "hold":
                result = store.place_hold(rid, *args)
                assert (result.ok, result.reason) == model.hold(rid, *args), (op, rid, args, result)
            elif op == "commit":
                assert store.commit(rid).ok == model.move(rid, {"held": "committed"}, ("committed",))
            elif op == "release":
                assert store.release(rid).ok == model.move(rid, {"held": "released"}, ("released",))
            else:
                assert store.cancel(rid).ok == model.move(rid, {"committed": "cancelled", "held": "released"},
                                                          ("cancelled", "released"))
            assert store.reconcile() == []
            for employee in STAFF:
                assert store.balance(employee) == model.balance[employee] >= 0
                assert store.available(employee) >= 0
        assert {r.request_id: r.status for r in store.requests()} == {k: v[2] for k, v in model.requests.items()}


# --- on Ray: helpers -------------------------------------------------------------------------------


class Driver:
    """Sends from one event loop for the whole test (each new loop is a new driver endpoint), opened once and
    warmed up with a message an agent answers; as the PTO service, which asks and cancels for employees."""

    def __init__(self, app: App) -> None:
        self.rt = app.service
        self.loop = asyncio.new_event_loop()
        some_employee = AgentId("employee", min(app.org.employees))
        assert isinstance(self.send(some_employee, CancelRequest(request_id="warm-up")), Cancelled)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def send(self, recipient: AgentId, message: BaseModel) -> Any:
        return self.run(answer_of(self.rt, recipient, message))

    def close(self) -> None:
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()


@contextmanager
def driving(app: App) -> Iterator[Driver]:
    driver = Driver(app)
    try:
        yield driver
    finally:
        driver.close()


async def answer_of(rt: Runtime, recipient: AgentId, message: BaseModel) -> Any:
    """The reply, or the error it raised: an error is an answer here, a hang is not."""
    try:
        return await rt.send(recipient, message, timeout=TIMEOUT)
    except RaybusError as exc:
        return exc


async def gather(*steps: Any) -> list[Any]:
    return list(await asyncio.gather(*steps))


def raw(type_name: str, payload: dict[str, Any]) -> BaseModel:
    """A message that travels under ``type_name`` with ``payload`` exactly as given: the runtime encodes a
    message by its class name and ``model_dump`` and never validates on the way out, so the recipient's host
    is the first to look at the payload."""
    return create_model(type_name, __config__=ConfigDict(extra="allow"))(**payload)


def check_invariants(app: App, requested: dict[str, str]) -> None:
    app.settle(timeout=20)
    failed = [r for r in check(app.org, collect(app.rt, app.org), requested) if not r.ok]
    assert failed == []


def alive(app: App, employee: str) -> None:
    """The agent still answers, in its mailbox order: nothing the example sent killed or wedged it."""
    assert isinstance(app.employee(employee)["requests"], dict)


def state(app: App) -> tuple[Any, ...]:
    app.settle(timeout=20)
    return (tuple(app.hr(d) for d in app.org.departments), {t: app.reservations(t) for t in app.org.teams},
            tuple(app.notified(d) for d in app.org.departments),
            {e: (r["requests"], r["task_notices"]) for e, r in ((e, app.employee(e)) for e in app.org.employees)})


# --- on Ray: words --------------------------------------------------------------------------------


def test_random_date_phrases_get_the_model_answer_or_a_rejection_naming_the_phrase(runtime: Runtime,
                                                                                  tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    model, ids, requested = RuleBasedDateModel(), itertools.count(), {}

    with driving(app) as driver:

        @RAY
        @given(text=phrases, employee=st.sampled_from(sorted(app.org.employees)),
               today=st.one_of(st.none(), st.none(), st.dates(date(2000, 1, 1), date(2100, 1, 1)),
                               st.just(date.max)))
        def example(text: str, employee: str, today: date | None) -> None:
            rid = f"phrase-{next(ids)}"
            if len(text) > MAX_PHRASE:
                message = RequestTimeOff.model_construct(request_id=rid, text=text, today=today)
            else:
                message = RequestTimeOff(request_id=rid, text=text, today=today)
                requested[rid] = employee
            answer = driver.send(AgentId("employee", employee), message)
            if len(text) > MAX_PHRASE:
                assert isinstance(answer, InvalidMessage), answer
                assert "text" in str(answer) and str(MAX_PHRASE) in str(answer), answer
            else:
                assert isinstance(answer, RequestOutcome), answer
                try:
                    expected = model.resolve(text, today or TODAY)
                except DateParseError as exc:
                    assert (answer.status, answer.reason, answer.days) == ("rejected", "invalid_dates", []), answer
                    assert answer.detail == str(exc) and repr(text) in answer.detail, answer
                else:
                    assert answer.days == expected, answer
                    assert answer.reason in REASONS - {"invalid_dates"}, answer
                    # a request longer than the org's review rule lets through waits for its manager, no reason
                    assert answer.status in ("approved", "waiting", "rejected"), answer
                    assert (answer.status != "rejected") == (answer.reason is None), answer
            alive(app, employee)

        example()
    check_invariants(app, requested)


# --- on Ray: who ----------------------------------------------------------------------------------

agent_keys = st.from_regex(r"[\w\-.]{1,24}", fullmatch=True)


def test_unknown_employees_get_an_error_naming_them_and_change_nothing(runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    ids = itertools.count()
    before = state(app)

    with driving(app) as driver:

        @RAY
        @given(key=agent_keys.filter(lambda k: k not in app.org.employees), text=st.sampled_from(REAL_PHRASES))
        def example(key: str, text: str) -> None:
            nobody, rid = AgentId("employee", key), f"ghost-{next(ids)}"
            asked, cancelled, decided = driver.run(gather(
                answer_of(driver.rt, nobody, RequestTimeOff(request_id=rid, text=text)),
                answer_of(driver.rt, nobody, CancelRequest(request_id=rid)),
                answer_of(driver.rt, nobody, Decision(request_id=rid, employee=key, approved=True, days=[TODAY]))))
            # the policy knows no principal that may ask or cancel for an employee the org does not have
            for answer in (asked, cancelled, decided):
                assert isinstance(answer, NotAuthorized) and str(nobody) in str(answer), answer

        example()
    assert state(app) == before
    check_invariants(app, {})


# --- on Ray: malformed payloads -------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8)
# never a valid string: a request id an example makes up must not collide with another example's
bad_request_ids = st.one_of(st.none(), st.integers(), st.floats(), st.just(""), st.text(min_size=101, max_size=120),
                            st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.none()))
FIELDS = ("request_id", "text", "today")
mutations = st.lists(st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(FIELDS)),
    st.tuples(st.just("set"), st.just("request_id"), bad_request_ids),
    st.tuples(st.just("set"), st.sampled_from(["text", "today"]), json_values),
    st.tuples(st.just("set"), st.just("today"), st.one_of(st.text(max_size=12), st.integers(), st.dates().map(str))),
    st.tuples(st.just("set"), st.text(max_size=12).filter(lambda k: k not in FIELDS), json_values),
), min_size=1, max_size=4)


def _mutate(payload: dict[str, Any], steps: list[tuple]) -> dict[str, Any]:
    payload = dict(payload)
    for step in steps:
        if step[0] == "drop":
            payload.pop(step[1], None)
        else:
            payload[step[1]] = step[2]
    return payload


def test_malformed_payloads_get_invalid_message_naming_each_bad_field(runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    ids, requested = itertools.count(), {}

    with driving(app) as driver:

        @RAY
        @given(kind=st.sampled_from([RequestTimeOff, CancelRequest]), steps=mutations,
               employee=st.sampled_from(sorted(app.org.employees)))
        def example(kind: type[BaseModel], steps: list[tuple], employee: str) -> None:
            base: dict[str, Any] = {"request_id": f"raw-{next(ids)}"}
            if kind is RequestTimeOff:
                base["text"] = "Dec 3"
            payload = _mutate(base, steps)
            try:
                valid, bad = kind.model_validate(payload), set()
            except ValidationError as exc:  # the oracle: pydantic, run here on the same payload
                valid, bad = None, {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            answer = driver.send(AgentId("employee", employee), raw(kind.__name__, payload))
            if valid is None:
                assert isinstance(answer, InvalidMessage), (payload, answer)
                assert str(answer).startswith(f"invalid {kind.__name__}:"), answer
                assert all(field in str(answer) for field in bad), (bad, answer)
            elif isinstance(valid, RequestTimeOff):
                requested[valid.request_id] = employee
                assert isinstance(answer, RequestOutcome) and answer.request_id == valid.request_id, answer
            else:
                assert answer == Cancelled(request_id=valid.request_id, ok=False, reason="not an approved request")
            alive(app, employee)

        example()
    check_invariants(app, requested)


# --- on Ray: messages only agents may send --------------------------------------------------------

FORGED: dict[str, tuple[type[BaseModel], str]] = {  # message → the agent type that must refuse it from the driver
    "Decision": (Decision, "employee"), "PtoRequest": (PtoRequest, "manager"),
    "CancelRequest to a manager": (CancelRequest, "manager"), "PlaceHold": (PlaceHold, "hr"),
    "Commit": (Commit, "hr"), "Release": (Release, "hr"), "RevokeApproval": (RevokeApproval, "hr"),
    "Reserve": (Reserve, "team"), "Confirm": (Confirm, "team"), "CancelReservation": (CancelReservation, "team"),
}


def forged(kind: type[BaseModel], rid: str, employee: str, approved: bool, days: list[date]) -> BaseModel:
    fields: dict[str, Any] = {"request_id": rid, "employee": employee, "days": days, "approved": approved,
                              "decision": DecisionAudit(employee=employee, days=days, approved=approved)}
    return kind(**{name: value for name, value in fields.items() if name in kind.model_fields})


def org_keys(org: Org, agent_type: str) -> list[str]:
    return sorted({"employee": org.employees, "manager": org.managers, "team": org.teams,
                   "hr": org.departments}[agent_type])


FORGED_NOTICES = [(topic, notice) for topic in (TopicId("department", "ops"), TopicId("task", "klaunch"))
                  for notice in (TimeOffNotice(request_id="fake", employee="a1", days=[TODAY]),
                                 TimeOffCancelled(request_id="approved-a1", employee="a1", days=[TODAY]))]


def seed_requests(app: App) -> dict[str, str]:
    """One approved request in each department and one rejection: what a forger would aim at."""
    assert app.ask("a1", "Dec 3", "approved-a1").status == "approved"
    assert app.ask("c1", "Dec 4", "approved-c1").status == "approved"
    assert app.ask("a2", "Dec 3 to Dec 9", "rejected-a2").reason == "insufficient_balance"
    return {"approved-a1": "a1", "approved-c1": "c1", "rejected-a2": "a2"}


def test_messages_only_agents_may_send_are_refused_from_the_driver_and_change_nothing(
        runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    seeded = seed_requests(app)
    before = state(app)
    fresh = itertools.count()

    with driving(app) as driver:

        @RAY
        @given(name=st.sampled_from(sorted(FORGED)), data=st.data(), approved=st.booleans(),
               days=st.lists(st.dates(date(2026, 11, 25), date(2027, 1, 31)), min_size=1, max_size=3, unique=True))
        def example(name: str, data: st.DataObject, approved: bool, days: list[date]) -> None:
            kind, agent_type = FORGED[name]
            key = data.draw(st.one_of(st.sampled_from(org_keys(app.org, agent_type)), agent_keys), label="key")
            rid = data.draw(st.sampled_from([*seeded, f"forged-{next(fresh)}"]), label="request id")
            employee = data.draw(st.sampled_from(sorted(app.org.employees)), label="employee")
            answer = driver.send(AgentId(agent_type, key), forged(kind, rid, employee, approved, days))
            assert isinstance(answer, NotAuthorized), answer
            assert "service/pto" in str(answer) and f"{agent_type}/{key}" in str(answer), answer

        example()
        for topic, notice in FORGED_NOTICES:  # a notice the driver publishes reaches nobody either
            with pytest.raises(NotAuthorized, match="service/pto may not publish"):
                driver.run(driver.rt.publish(topic, notice))
    assert state(app) == before
    check_invariants(app, seeded)


def test_without_the_policy_the_agents_still_refuse_what_only_agents_may_send(runtime: Runtime,
                                                                              tmp_path: Path) -> None:
    """With ``--no-policy`` the agents' own checks stay: every forged send is refused by its recipient (or
    names the unknown agent), and a forged notice the bus accepts as a publish is refused by each subscriber
    that gets a copy (without the policy nothing refuses it at the publisher): nothing changes."""
    app = start_small_org(runtime, tmp_path, 1, "--no-policy")
    seeded = seed_requests(app)
    before = state(app)
    accepted = []
    with driving(app) as driver:
        for name, (kind, agent_type) in sorted(FORGED.items()):
            for key in [*org_keys(app.org, agent_type)[:1], "nowhere"]:
                for rid in ("approved-a1", "forged"):
                    message = forged(kind, rid, "a2", True, [date(2026, 12, 7)])
                    answer = driver.send(AgentId(agent_type, key), message)
                    names_it = isinstance(answer, HandlerError) and repr(key) in str(answer)
                    if not isinstance(answer, NotAuthorized) and not names_it:
                        accepted.append(f"{name} to {agent_type}/{key} for {rid}: {answer!r}")
        for topic, notice in FORGED_NOTICES:
            driver.run(driver.rt.publish(topic, notice))
    assert not accepted, "\n".join(accepted)
    assert state(app) == before
    check_invariants(app, seeded)
    copies = {"department/ops": 1, "task/klaunch": len(app.org.tasks["klaunch"])}  # subscribers of each topic
    refused = [(d["type_name"], d["target"]) for d in app.rt.dead_letters(1000)
               if d["reason"] == "NotAuthorized" and d["sender"] == "service/pto" and d["target"] in copies]
    assert sorted(refused) == sorted((type(n).__name__, str(t)) for t, n in FORGED_NOTICES
                                     for _ in range(copies[str(t)]))


# --- on Ray: cancels of unknown requests ----------------------------------------------------------


def test_cancels_of_unknown_or_unapproved_requests_are_refused_and_change_nothing(runtime: Runtime,
                                                                                  tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    seeded = seed_requests(app)
    before = state(app)

    with driving(app) as driver:

        @RAY
        @given(rid=st.one_of(st.sampled_from(sorted(seeded)), st.text(min_size=1, max_size=100)),
               employee=st.sampled_from(sorted(app.org.employees)))
        def example(rid: str, employee: str) -> None:
            if seeded.get(rid) == employee and rid.startswith("approved"):
                rid += "-but-another"  # cancelling one's own approved request is allowed: not this property
            answer = driver.send(AgentId("employee", employee), CancelRequest(request_id=rid))
            assert answer == Cancelled(request_id=rid, ok=False, reason="not an approved request"), answer

        example()
    assert state(app) == before
    check_invariants(app, seeded)


# --- on Ray: interleavings ------------------------------------------------------------------------

# few days, so requests collide: overlaps, beta (one off at most) and alpha (two) refusing, balances running out
INTERLEAVED_PHRASES = ["Dec 1", "Dec 2", "Dec 3", "Dec 4", "Dec 8", "Dec 10", "Dec 1 to Dec 2", "Dec 3 to Dec 4",
                       "Dec 7 to Dec 9", "next week", "tomorrow", "blorp"]


async def later(delay: float, step: Any) -> Any:
    await asyncio.sleep(delay)
    return await step


def test_interleaved_requests_retries_and_cancels_keep_every_invariant(runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, 2, "--placement", "hash")  # hashed: the flow crosses hosts
    employees = sorted(app.org.employees)
    batches, requested = itertools.count(), {}
    delays = st.sampled_from([0.0, 0.0, 0.05, 0.4])  # a cancel before, during or after the decision
    ask = st.tuples(st.just("ask"), st.sampled_from(employees), st.sampled_from(INTERLEAVED_PHRASES), delays)
    plans = st.tuples(ask, st.lists(st.one_of(
        ask,
        st.tuples(st.just("retry"), st.integers(0, 15), delays),  # the same request again
        st.tuples(st.just("cancel"), st.integers(0, 15), delays),  # maybe before it is decided, maybe twice
        st.tuples(st.just("cancel-unknown"), st.sampled_from(employees), delays),
    ), max_size=12)).map(lambda plan: [plan[0], *plan[1]])

    with driving(app) as driver:

        @RAY
        @given(plan=plans)
        def example(plan: list[tuple]) -> None:
            batch = next(batches)
            asks = [(f"mix-{batch}-{n}", op[1], op[2]) for n, op in enumerate(plan) if op[0] == "ask"]
            requested.update({rid: employee for rid, employee, _ in asks})
            steps: list[tuple[str, tuple[str, str, str], float]] = []
            fresh = iter(asks)
            for op in plan:
                if op[0] == "ask":
                    steps.append(("ask", next(fresh), op[-1]))
                elif op[0] == "cancel-unknown":
                    steps.append(("cancel", (f"mix-{batch}-none", op[1], ""), op[-1]))
                else:
                    steps.append(("cancel" if op[0] == "cancel" else "ask", asks[op[1] % len(asks)], op[-1]))

            def send(kind: str, rid: str, employee: str, text: str) -> Any:
                message = CancelRequest(request_id=rid) if kind == "cancel" else RequestTimeOff(request_id=rid,
                                                                                               text=text)
                return answer_of(driver.rt, AgentId("employee", employee), message)

            answers = driver.run(gather(*(later(delay, send(kind, *request)) for kind, request, delay in steps)))

            done = [(kind, request[0], request[1], answer) for (kind, request, _), answer in zip(steps, answers,
                                                                                                 strict=True)]
            cancelled = {rid for kind, rid, _, a in done if kind == "cancel" and isinstance(a, Cancelled) and a.ok}
            approved = {rid for kind, rid, _, a in done if kind == "ask" and getattr(a, "status", "") == "approved"}
            assert cancelled <= approved, cancelled - approved  # only an approved request can be cancelled
            first: dict[str, RequestOutcome] = {}
            for kind, rid, employee, answer in done:
                if kind == "cancel":
                    assert isinstance(answer, Cancelled) and answer.request_id == rid, answer
                    assert answer.ok or answer.reason == "not an approved request", answer
                    continue
                assert isinstance(answer, RequestOutcome) and answer.employee == employee, answer
                assert answer.status in ("approved", "rejected"), answer
                if rid in cancelled:  # approved, then cancelled: a retry after that says "rejected" with no reason
                    continue  # (test_a_retry_after_a_cancel_still_answers_as_the_first_did)
                assert answer.reason in REASONS and (answer.status == "approved") == (answer.reason is None), answer
                assert answer == first.setdefault(rid, answer), (first[rid], answer)  # a retry: the first answer

        example()
    check_invariants(app, requested)


def test_a_retry_after_a_cancel_still_answers_as_the_first_did(runtime: Runtime, tmp_path: Path) -> None:
    app = start_small_org(runtime, tmp_path, hosts=1)
    first = app.ask("a1", "Dec 3", "r1")
    assert first.status == "approved" and app.cancel("a1", "r1").ok

    retried = app.ask("a1", "Dec 3", "r1")

    # either the first answer again, or one that says what happened to the request since
    assert retried == first or (retried.status, retried.reason) == ("rejected", "cancelled"), retried
    check_invariants(app, {"r1": "a1"})


# --- the runtime: a refusal the bus makes at once --------------------------------------------------


def test_a_refusal_the_bus_makes_at_once_reaches_a_driver_that_has_not_polled_yet(runtime: Runtime) -> None:
    bus, driver = runtime._bus, client_name("has-not-polled-yet", 0)
    ray.get(bus.bind.remote("has-not-polled-yet", runtime.credential))  # a connection of the admin's
    sends = [Call(f"m-{n}", "trace-1", "admin", "nowhere/x", "Anything", {}, time.time() + 10, driver)
             for n in (1, 2)]  # two: a lone call's answer would ride back in the route's reply (test_linger)

    ray.get(bus.route.remote(driver, pack(sends)))  # refused at once: no agent type "nowhere"
    _, answers = ray.get(bus.pull.remote(driver, 2.0))

    assert [(type(a), a.failed, a.call_id, a.payload[0]) for a in unpack(answers)] == [
        (Answer, True, "m-1", "UnknownAgentType"), (Answer, True, "m-2", "UnknownAgentType")]
