"""Activation: the answers an agent remembers for copies of its messages, kept in the store alone once stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cluster._activation import NEW, STORED, Activation
from cluster._mailbox import Mailbox
from cluster._state import SqliteStateStore, encode_parts


class _Agent:
    def save_state(self) -> dict[str, Any]:
        return {"count": 1}

    def load_state(self, state: dict[str, Any]) -> None:
        assert state == {"count": 1}


async def _nothing(item: Any) -> None:
    return None


def _durable() -> Activation:
    return Activation(_Agent(), Mailbox(_nothing, lambda item: False), durable=True)  # type: ignore[arg-type]


def _write(activation: Activation, store: SqliteStateStore, saved: dict[str, str]) -> None:
    store.save_many({"counter/c1": encode_parts(activation.state(), saved)})
    activation.written([], stored=True)


def test_a_copy_after_the_answer_is_stored_has_it_read_back_from_the_store_as_it_was(tmp_path: Path) -> None:
    store, activation, saved = SqliteStateStore(tmp_path / "state.db"), _durable(), {}
    assert activation.admit("m1") is NEW
    activation.record("m1", (False, "Total", {"value": 6}))
    activation.release("m1")
    _write(activation, store, saved)
    assert activation.admit("m1") is STORED
    assert activation.answer_in(store.load("counter/c1"), "m1") == (False, "Total", {"value": 6})


def test_a_copy_before_the_write_is_done_is_answered_from_memory(tmp_path: Path) -> None:
    activation = _durable()
    activation.admit("m1")
    activation.record("m1", (False, "Total", {"value": 6}))
    activation.release("m1")
    encode_parts(activation.state(), {})  # the write is under way
    assert activation.admit("m1") == (False, "Total", {"value": 6})


def test_a_copy_after_a_failed_write_is_answered_from_memory(tmp_path: Path) -> None:
    activation = _durable()
    activation.admit("m1")
    activation.record("m1", (False, "Total", {"value": 6}))
    activation.release("m1")
    encode_parts(activation.state(), {})
    activation.written([], stored=False)
    assert activation.admit("m1") == (False, "Total", {"value": 6})


def test_answers_loaded_with_the_state_stay_in_the_store_until_a_copy_asks(tmp_path: Path) -> None:
    store, first, saved = SqliteStateStore(tmp_path / "state.db"), _durable(), {}
    for n in range(3):
        first.admit(f"m{n}")
        first.record(f"m{n}", (False, "Total", {"value": n}))
    _write(first, store, saved)
    again = _durable()
    again.load(store.load("counter/c1") or {})
    assert [again.admit(f"m{n}") for n in range(3)] == [STORED] * 3
    assert again.answer_in(store.load("counter/c1"), "m2") == (False, "Total", {"value": 2})


def test_an_answer_the_store_does_not_have_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="m9"):
        Activation.answer_in({}, "m9")
