"""LedgerQueue: an hr agent's changes, made in the order asked, in batches — on a real PostgreSQL server the
changes asked while one batch is on its way go together in the next, in a real SQLite file those asked in one turn
of the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import weekdays_from

from actors.hr_store import HrStore
from actors.ledger_changes import Change, Hold, HoldResult, Move, OpResult
from actors.ledger_queue import LedgerQueue
from cluster import PostgresDatabase

MONDAY = date(2026, 11, 30)


def opened(db: Path | PostgresDatabase) -> Iterator[HrStore]:
    with HrStore(db) as hr:
        hr.add_employees({"alice": 30, "bob": 2})
        yield hr


@pytest.fixture
def server_store(postgres_url: str) -> Iterator[HrStore]:
    yield from opened(PostgresDatabase(postgres_url, f"queue-{uuid4().hex[:10]}"))


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[HrStore]:
    yield from opened(tmp_path / "hr.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> HrStore:
    return request.getfixturevalue("file_store" if request.param == "sqlite" else "server_store")


def transactions_of(store: HrStore) -> list[int]:
    """Counts the transactions ``store`` makes (its ``apply`` calls), by their number of changes."""
    made: list[int] = []
    apply: Callable[[list[Change]], list[HoldResult | OpResult]] = store.apply

    def counted(changes: list[Change]) -> list[HoldResult | OpResult]:
        made.append(len(changes))
        return apply(changes)

    store.apply = counted  # type: ignore[method-assign]
    return made


def one_day_holds(employee: str, n: int) -> list[Hold]:
    return [Hold(f"{employee}-{i}", employee, (weekdays_from(MONDAY + timedelta(weeks=i), 1)[0],)) for i in range(n)]


async def make_all(queue: LedgerQueue, changes: list[Change]) -> list[HoldResult | OpResult | BaseException]:
    return await asyncio.gather(*(queue.make(change) for change in changes), return_exceptions=True)


def test_changes_asked_at_once_are_made_in_the_order_asked_and_never_spend_a_balance_twice(store: HrStore) -> None:
    made = transactions_of(store)

    results = asyncio.run(make_all(LedgerQueue(store), [*one_day_holds("bob", 20), Move("commit", "bob-0")]))

    assert [r.ok for r in results] == [True, True] + [False] * 18 + [True]
    assert {r.reason for r in results[2:20]} == {"insufficient_balance"}
    assert (store.balance("bob"), store.available("bob")) == (1, 0) and store.reconcile() == []
    assert sum(made) == 21


def test_a_ledger_on_a_server_takes_the_changes_asked_meanwhile_in_one_transaction(server_store: HrStore) -> None:
    made = transactions_of(server_store)

    asyncio.run(make_all(LedgerQueue(server_store), one_day_holds("alice", 30)))

    assert len(made) <= 2 and sum(made) == 30  # all asked before the first batch left, or all but the first


def test_a_ledger_in_a_file_takes_the_changes_asked_in_one_turn_of_the_loop_in_one_transaction(
        file_store: HrStore) -> None:
    made = transactions_of(file_store)

    asyncio.run(make_all(LedgerQueue(file_store), one_day_holds("alice", 5)))

    assert made == [5] and len(file_store.requests("held")) == 5


def test_a_ledger_in_a_file_asked_by_a_serial_agent_is_changed_at_once_one_transaction_per_change(
        file_store: HrStore) -> None:
    made = transactions_of(file_store)
    making = LedgerQueue(file_store, together=False).make(one_day_holds("alice", 1)[0])

    with pytest.raises(StopIteration) as made_at_once:  # done at its first step: it never waits for the loop
        making.send(None)

    assert made_at_once.value.value.ok and made == [1] and file_store.request("alice-0").status == "held"


def test_a_ledger_on_a_server_asked_by_a_serial_agent_still_goes_off_the_loop(server_store: HrStore) -> None:
    queue = LedgerQueue(server_store, together=False)

    assert not queue.at_once
    assert asyncio.run(queue.make(one_day_holds("alice", 1)[0])).ok


def test_a_ledger_in_a_file_takes_a_change_asked_after_a_batch_was_made_in_the_next(file_store: HrStore) -> None:
    made = transactions_of(file_store)
    queue = LedgerQueue(file_store)

    async def one_after_another() -> list[bool]:
        first = await queue.make(one_day_holds("alice", 1)[0])
        second = await queue.make(Move("commit", "alice-0"))
        return [first.ok, second.ok]

    assert asyncio.run(one_after_another()) == [True, True]
    assert made == [1, 1] and file_store.request("alice-0").status == "committed"


def test_a_change_the_file_cannot_make_fails_alone_and_the_rest_of_its_batch_is_made(file_store: HrStore) -> None:
    store = file_store
    unmakeable = Hold("bad", "alice", ("not a day",))  # type: ignore[arg-type]  # the store cannot write it

    results = asyncio.run(make_all(LedgerQueue(store), [Hold("first", "alice", (MONDAY,)), unmakeable,
                                                        *one_day_holds("bob", 1), Move("commit", "bob-0")]))

    assert [getattr(r, "ok", type(r).__name__) for r in results] == [True, "AttributeError", True, True]
    assert store.request("bob-0").status == "committed" and len(store.requests()) == 2


def test_a_change_the_server_cannot_make_fails_alone_and_the_rest_of_its_batch_is_made(server_store: HrStore) -> None:
    store = server_store
    unstorable = Hold("nul\x00request", "alice", (MONDAY,))  # PostgreSQL text holds no NUL

    results = asyncio.run(make_all(LedgerQueue(store), [Hold("first", "alice", (MONDAY,)), *one_day_holds("bob", 2),
                                                        unstorable, Move("commit", "bob-1")]))

    assert [getattr(r, "ok", type(r).__name__) for r in results[:3]] == [True, True, True]
    assert isinstance(results[3], Exception) and results[4].ok
    assert store.request("bob-1").status == "committed" and len(store.requests()) == 3
