"""HrStore: the HR ledger (holds, commits, releases, cancellations, reconciliation), each test against a real
SQLite file and a real PostgreSQL server alike."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import weekdays_from

from actors.audit import DecisionAudit
from actors.hr_store import LEDGER_CACHE_KIB, LEDGER_PAGE_BYTES, HrStore, UnknownEmployee
from actors.ledger_changes import NOT_ALLOWED, Hold, Move
from cluster import Database, PostgresDatabase, SqliteDatabase

MONDAY = date(2026, 11, 30)
BALANCES = {"alice": 10, "bob": 2}


def weekdays(n: int, start: date = MONDAY) -> list[date]:
    return weekdays_from(start, n)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_db(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Database]:
    """Opens the ledger's database, the same one each time: a file, or a schema of the session's server."""
    if request.param == "sqlite":
        return lambda: SqliteDatabase(tmp_path / "hr.sqlite3")
    url, schema = request.getfixturevalue("postgres_url"), f"hr-{uuid4().hex[:10]}"
    return lambda: PostgresDatabase(url, schema)


@pytest.fixture
def store(ledger_db: Callable[[], Database]) -> Iterator[HrStore]:
    with HrStore(ledger_db()) as hr:
        hr.add_employees(BALANCES)
        yield hr


def committed(store: HrStore, request_id: str, employee: str = "alice", n: int = 3,
              start: date = MONDAY) -> list[date]:
    """Hold ``n`` days for ``request_id`` and commit them; the days."""
    days = weekdays(n, start)
    assert store.place_hold(request_id, employee, days).ok
    assert store.commit(request_id).ok
    return days


def ledger_rows(store: HrStore, kind: str, request_id: str) -> int:
    with store.db.reading() as db:
        return db.execute("SELECT COUNT(*) FROM ledger WHERE kind = ? AND request_id = ?",
                          (kind, request_id)).fetchone()[0]


# --- holds ----------------------------------------------------------------------------------------
def test_place_hold_reduces_available_but_not_balance(store: HrStore) -> None:
    result = store.place_hold("r1", "alice", weekdays(3))

    assert (result.ok, result.reason, result.balance, result.available) == (True, None, 10, 7)
    assert (store.balance("alice"), store.held_days("alice"), store.available("alice")) == (10, 3, 7)
    assert store.request("r1").status == "held"


def test_insufficient_balance_is_rejected_and_writes_nothing(store: HrStore) -> None:
    result = store.place_hold("r1", "bob", weekdays(3))

    assert (result.ok, result.reason, result.available) == (False, "insufficient_balance", 2)
    assert store.request("r1") is None
    assert store.available("bob") == 2


def test_existing_holds_count_against_the_balance(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", weekdays(8)).ok

    result = store.place_hold("r2", "alice", weekdays(3, MONDAY + timedelta(weeks=2)))

    assert (result.ok, result.reason, result.available) == (False, "insufficient_balance", 2)


@pytest.mark.parametrize("then_commit", [False, True], ids=["held", "committed"])
def test_overlap_with_a_live_request_is_rejected(store: HrStore, then_commit: bool) -> None:
    assert store.place_hold("r1", "alice", weekdays(3)).ok
    if then_commit:
        assert store.commit("r1").ok

    result = store.place_hold("r2", "alice", weekdays(2, MONDAY + timedelta(days=2)))

    assert (result.ok, result.reason) == (False, "overlap")
    assert store.request("r2") is None


def test_same_days_for_another_employee_do_not_overlap(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", weekdays(2)).ok

    assert store.place_hold("r2", "bob", weekdays(2)).ok


@pytest.mark.parametrize(
    "days",
    [[], [MONDAY, MONDAY], [date(2026, 12, 5)], [MONDAY, date(2026, 12, 6)]],
    ids=["empty", "duplicate", "saturday", "sunday-among-weekdays"],
)
def test_invalid_dates_are_rejected(store: HrStore, days: list[date]) -> None:
    result = store.place_hold("r1", "alice", days)

    assert (result.ok, result.reason) == (False, "invalid_dates")
    assert store.request("r1") is None
    assert store.available("alice") == 10


# --- commit, release, cancel ----------------------------------------------------------------------
def test_commit_moves_the_hold_into_the_ledger(store: HrStore) -> None:
    days = committed(store, "r1")

    assert (store.balance("alice"), store.held_days("alice"), store.available("alice")) == (7, 0, 7)
    assert store.committed_days("alice") == days
    assert ledger_rows(store, "take", "r1") == 3
    assert store.request("r1").status == "committed"


def test_release_frees_the_hold_and_restores_available(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", weekdays(3)).ok

    assert store.release("r1").ok

    assert (store.balance("alice"), store.held_days("alice"), store.available("alice")) == (10, 0, 10)
    assert store.request("r1").status == "released"


def test_released_days_can_be_held_again(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", weekdays(3)).ok
    assert store.release("r1").ok

    assert store.place_hold("r2", "alice", weekdays(3)).ok


def test_cancel_of_an_approved_request_reverses_the_ledger(store: HrStore) -> None:
    committed(store, "r1")

    assert store.cancel("r1").ok

    assert (store.balance("alice"), store.available("alice")) == (10, 10)
    assert store.committed_days("alice") == []
    assert ledger_rows(store, "return", "r1") == 3
    assert store.request("r1").status == "cancelled"


def test_cancel_of_an_approved_request_frees_its_days(store: HrStore) -> None:
    committed(store, "r1")
    assert store.cancel("r1").ok

    assert store.place_hold("r2", "alice", weekdays(3)).ok


def test_cancel_of_a_held_request_releases_it_without_touching_the_ledger(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", weekdays(3)).ok

    assert store.cancel("r1").ok

    assert store.request("r1").status == "released"
    assert (store.balance("alice"), store.available("alice")) == (10, 10)
    assert ledger_rows(store, "return", "r1") == 0


def test_commit_of_a_released_request_is_refused(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", weekdays(3)).ok
    assert store.release("r1").ok

    result = store.commit("r1")

    assert (result.ok, result.reason) == (False, "request is released")
    assert store.balance("alice") == 10


@pytest.mark.parametrize("operation", ["commit", "release", "cancel"])
def test_operations_on_an_unknown_request_say_so(store: HrStore, operation: str) -> None:
    result = getattr(store, operation)("nope")

    assert (result.ok, result.reason) == (False, "unknown_request")


# --- changes made together, and who may decide ---------------------------------------------------
def test_changes_made_together_each_see_those_before_them(store: HrStore) -> None:
    results = store.apply([Hold("r1", "alice", tuple(weekdays(8))),
                           Hold("r2", "alice", tuple(weekdays(3, MONDAY + timedelta(weeks=2)))),
                           Hold("r3", "alice", tuple(weekdays(1, MONDAY + timedelta(days=1)))),
                           Move("commit", "r1"), Move("commit", "r1"), Hold("r4", "bob", tuple(weekdays(2)))])

    assert [(r.ok, r.reason) for r in results] == [(True, None), (False, "insufficient_balance"), (False, "overlap"),
                                                    (True, None), (True, None), (True, None)]
    assert (store.balance("alice"), store.available("alice"), store.available("bob")) == (2, 2, 0)
    assert ledger_rows(store, "take", "r1") == 8 and store.reconcile() == []


@pytest.mark.parametrize("kind", ["commit", "release", "cancel"])
def test_a_move_by_one_who_may_not_decide_the_request_changes_and_records_nothing(store: HrStore, kind: str) -> None:
    assert store.place_hold("r1", "alice", weekdays(2)).ok
    decision = None if kind == "cancel" else DecisionAudit(employee="alice", days=weekdays(2), approved=True)

    [result] = store.apply([Move(kind, "r1", "manager/m2", decision, may=frozenset({"bob"}))])

    assert (result.ok, result.reason) == (False, NOT_ALLOWED)
    assert store.request("r1").status == "held" and store.decisions() == []
    assert store.apply([Move(kind, "r1", "manager/m1", decision, may=frozenset({"alice"}))])[0].ok


def test_a_move_of_an_unknown_request_is_not_allowed_to_one_who_decides_for_nobody(store: HrStore) -> None:
    [nobody, somebody] = store.apply([Move("commit", "nope", may=frozenset()),
                                      Move("commit", "nope", may=frozenset({"bob"}))])

    assert (nobody.reason, somebody.reason) == (NOT_ALLOWED, "unknown_request")


# --- idempotence by request id --------------------------------------------------------------------
def test_place_hold_twice_holds_once(store: HrStore) -> None:
    days = weekdays(3)
    assert store.place_hold("r1", "alice", days).ok

    again = store.place_hold("r1", "alice", list(reversed(days)))

    assert (again.ok, again.reason, again.available) == (True, None, 7)
    assert store.held_days("alice") == 3
    assert len(store.requests()) == 1


def test_place_hold_again_with_other_days_is_a_duplicate_request(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", weekdays(3)).ok

    again = store.place_hold("r1", "alice", weekdays(2))

    assert (again.ok, again.reason) == (False, "duplicate_request")
    assert store.request("r1").days == tuple(weekdays(3))


def test_commit_twice_takes_the_days_once(store: HrStore) -> None:
    committed(store, "r1")

    assert store.commit("r1").ok

    assert store.balance("alice") == 7
    assert ledger_rows(store, "take", "r1") == 3


def test_release_twice_is_harmless(store: HrStore) -> None:
    assert store.place_hold("r1", "alice", weekdays(3)).ok
    assert store.release("r1").ok

    assert store.release("r1").ok

    assert (store.request("r1").status, store.available("alice")) == ("released", 10)


def test_cancel_twice_returns_the_days_once(store: HrStore) -> None:
    committed(store, "r1")
    assert store.cancel("r1").ok

    assert store.cancel("r1").ok

    assert store.balance("alice") == 10
    assert ledger_rows(store, "return", "r1") == 3


def test_adding_an_employee_again_does_not_grant_twice(store: HrStore) -> None:
    store.add_employees({"alice": 10})

    assert store.balance("alice") == 10


def test_adding_an_employee_again_with_another_balance_is_refused(store: HrStore) -> None:
    with pytest.raises(ValueError, match="already has starting balance 10"):
        store.add_employees({"alice": 12})

    assert store.balance("alice") == 10


# --- unknown employees ----------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["balance", "held_days", "available", "starting_balance", "committed_days"])
def test_queries_about_an_unknown_employee_raise_unknown_employee(store: HrStore, query: str) -> None:
    with pytest.raises(UnknownEmployee) as raised:
        getattr(store, query)("zed")

    assert str(raised.value) == "unknown employee 'zed'"


def test_hold_for_an_unknown_employee_is_refused_and_writes_nothing(store: HrStore) -> None:
    result = store.place_hold("r1", "zed", weekdays(1))

    assert (result.ok, result.reason) == (False, "unknown_employee")
    assert store.requests() == []


# --- reconciliation -------------------------------------------------------------------------------
def mixed_history(store: HrStore) -> None:
    """Commits, a cancellation, a release, a refusal and an open hold."""
    committed(store, "r1", n=2)
    committed(store, "r2", n=2, start=MONDAY + timedelta(weeks=1))
    assert store.cancel("r2").ok
    assert store.place_hold("r3", "bob", weekdays(2)).ok
    assert store.release("r3").ok
    committed(store, "r4", employee="bob", n=1)
    assert not store.place_hold("r5", "bob", weekdays(2, MONDAY + timedelta(weeks=2))).ok
    assert store.place_hold("r6", "alice", weekdays(1, MONDAY + timedelta(weeks=3))).ok


def test_reconcile_finds_nothing_after_a_mixed_history(store: HrStore) -> None:
    mixed_history(store)

    assert store.reconcile() == []
    assert (store.balance("alice"), store.balance("bob")) == (8, 1)


CORRUPTIONS: dict[str, tuple[list[str], str]] = {  # statements run behind the store's back, what it reports
    "take row deleted": (
        ["DELETE FROM ledger WHERE id = (SELECT MAX(id) FROM ledger "
         "WHERE kind = 'take' AND employee = 'alice' AND request_id = 'r1')"],
        "alice: ledger says 9, starting 10 - 2 committed days = 8",
    ),
    "stray take row": (
        ["INSERT INTO ledger (employee, request_id, day, delta, kind, at) "
         "VALUES ('alice', 'ghost', '2026-12-21', -1, 'take', 'now')"],
        "alice: ledger row 'take' for request ghost which is None",
    ),
    "released request flipped to committed": (
        ["UPDATE requests SET status = 'committed' WHERE request_id = 'r3'"],
        "bob: ledger says 1, starting 2 - 3 committed days = -1",
    ),
    "grant row deleted": (
        ["DELETE FROM ledger WHERE kind = 'grant' AND employee = 'bob'"],
        "bob: balance -1 is negative",
    ),
    "day committed twice": (
        ["INSERT INTO requests VALUES ('r-dup', 'alice', 'committed', 'now', 'now')",
         "INSERT INTO request_days VALUES ('r-dup', 'alice', '2026-11-30')",
         "INSERT INTO ledger (employee, request_id, day, delta, kind, at) "
         "VALUES ('alice', 'r-dup', '2026-11-30', -1, 'take', 'now')"],
        "alice: 2026-11-30 committed more than once",
    ),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_reconcile_reports_a_table_corrupted_behind_its_back(store: HrStore, corruption: str) -> None:
    mixed_history(store)
    statements, expected = CORRUPTIONS[corruption]
    with store.db.transaction() as db:
        for statement in statements:
            db.execute(statement)

    assert expected in store.reconcile()


# --- durability -----------------------------------------------------------------------------------
def test_a_store_reopened_keeps_its_state(store: HrStore, ledger_db: Callable[[], Database]) -> None:
    mixed_history(store)
    before = (store.requests(), [(store.balance(e), store.available(e)) for e in BALANCES])
    store.close()

    with HrStore(ledger_db()) as reopened:
        assert (reopened.requests(), [(reopened.balance(e), reopened.available(e)) for e in BALANCES]) == before
        assert reopened.reconcile() == []
        assert reopened.place_hold("r6", "alice", weekdays(1, MONDAY + timedelta(weeks=3))).available == 7


def test_writers_of_one_ledger_at_once_never_spend_a_balance_twice(ledger_db: Callable[[], Database]) -> None:
    """A ghost hr agent and its successor write one ledger: each hold is checked and written under its lock."""
    with HrStore(ledger_db()) as first:
        first.add_employees(BALANCES)
    stores = [HrStore(ledger_db()) for _ in range(4)]
    start = threading.Barrier(len(stores))

    def hold(index: int) -> bool:
        start.wait()
        return stores[index].place_hold(f"r{index}", "bob", weekdays(2, MONDAY + timedelta(weeks=index))).ok

    with ThreadPoolExecutor(len(stores)) as pool:
        held = list(pool.map(hold, range(len(stores))))
    assert sum(held) == 1 and stores[0].available("bob") == 0 and stores[0].reconcile() == []
    for store in stores:
        store.close()


def _sqlite_memory_used() -> int:
    """SQLite's own allocations in this process (the library Python's sqlite3 module links)."""
    try:
        library = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
    except OSError:
        pytest.skip("no SQLite shared library to ask how much memory it holds")
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return library.sqlite3_memory_used()


def test_a_ledger_file_keeps_sqlite_page_cache_within_its_cap(tmp_path: Path) -> None:
    """A thousand ledgers and more stay open in one host: each one's own cache must not grow with its ledger (with
    SQLite's default cache this one grew by 421 KB over these 4,000 requests; with 4 KiB pages and a 256 KiB cap, by
    203 KB; now by 29 KB)."""
    store = HrStore(tmp_path / "hr.db")
    store.add_employees({f"e{i}": 20 for i in range(300)})
    before = _sqlite_memory_used()
    for n in range(4000):
        first = MONDAY + timedelta(days=n % 300)
        store.place_hold(f"r{n}", f"e{n % 300}", [first, first + timedelta(days=1)])
        (store.commit if n % 2 else store.release)(f"r{n}")
    grown = _sqlite_memory_used() - before
    store.close()
    assert 0 < grown < LEDGER_CACHE_KIB * 1024 + 40_000


def test_an_open_ledger_holds_little_of_sqlites_memory_whatever_its_size(tmp_path: Path) -> None:
    """A host keeps a thousand ledgers and more open for a large org: what each holds, open with its schema, its
    statements and its page cache, stays small as its ledger grows (this one: 101 KB; 280 KB with SQLite's 4 KiB pages
    and a 256 KiB cache)."""
    before = _sqlite_memory_used()
    store = HrStore(tmp_path / "hr.db")
    store.add_employees({f"e{i}": 200 for i in range(28)})
    for n in range(300):
        first = MONDAY + timedelta(days=7 * (n // 28))
        store.place_hold(f"r{n}", f"e{n % 28}", [first, first + timedelta(days=1)])
        store.commit(f"r{n}")
    assert store.balance("e1") < 200
    held = _sqlite_memory_used() - before
    store.close()
    assert held < 120_000


def test_a_ledger_file_is_made_with_small_pages(tmp_path: Path) -> None:
    store = HrStore(tmp_path / "hr.db")
    with store.db.reading() as sql:
        assert sql.execute("PRAGMA page_size").fetchone()[0] == LEDGER_PAGE_BYTES == 1024
    store.close()


def test_holds_of_any_number_of_days_leave_no_more_prepared_statements_than_one(tmp_path: Path) -> None:
    """Each SQL text a connection runs stays prepared in its cache (some 8 KB for the hold's): one text per number
    of days would grow each of a host's thousand open ledgers by that much per length asked."""
    store = HrStore(tmp_path / "hr.db")
    store.add_employees({f"e{i}": 200 for i in range(10)})
    store.place_hold("first", "e0", weekdays(1))
    store.commit("first")
    before = _sqlite_memory_used()
    for n in range(2, 11):
        store.place_hold(f"r{n}", f"e{n - 1}", weekdays(n, MONDAY + timedelta(weeks=2)))
        store.commit(f"r{n}")
    grown = _sqlite_memory_used() - before
    store.close()
    assert grown < 30_000  # 9 KB: pages read; 110 KB with a text per number of days
