"""Durable agent state: the store's contract, against SQLite and a real PostgreSQL server alike, and agents that
outlive their host actor (and their driver) on a real Ray."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date, datetime, timezone
from typing import Any
from uuid import uuid4

import pytest
import ray
import sample_agents as sa
from conftest import wait_until

from cluster import (
    AgentId,
    PostgresDatabase,
    RaybusError,
    Runtime,
    Sharded,
    SqlStateStore,
    StateMap,
    StateStore,
    TopicId,
    TypeSubscription,
    describe_location,
    open_state_store,
    redacted,
)
from cluster._errors import Fenced, StoreUnavailable
from cluster._state import IN_STORE, EncodedStateMap, encode_parts, encode_state
from cluster._wire import Publish

COUNTER = AgentId("counter", "c1")


@pytest.fixture
def namespace() -> str:
    return f"n{uuid4().hex[:10]}"


def store_with(location: str, namespace: str, state: dict[str, Any]) -> SqlStateStore:
    store = open_state_store(location, namespace)
    store.save_many({"counter/c1": encode_parts(state, {})})
    return store


def test_a_saved_state_loads_back_as_it_was(state_location: str, namespace: str) -> None:
    state = {"count": 3, "days": ["2026-12-03"], "requests": StateMap({"r1": {"status": "approved"}})}
    assert store_with(state_location, namespace, state).load("counter/c1") == {
        "count": 3, "days": ["2026-12-03"], "requests": {"r1": {"status": "approved"}}}


def test_an_agent_never_saved_loads_as_none(state_location: str, namespace: str) -> None:
    assert open_state_store(state_location, namespace).load("counter/c9") is None


def test_namespaces_keep_apart_in_one_store(state_location: str, namespace: str) -> None:
    store_with(state_location, namespace, {"count": 1})
    assert open_state_store(state_location, f"{namespace}-other").load("counter/c1") is None


def test_the_agents_with_entries_of_a_map_are_found(state_location: str, namespace: str) -> None:
    store = store_with(state_location, namespace, {"out": StateMap({"p1": 1})})
    store.save_many({"counter/c2": encode_parts({"outer": 1, "out": StateMap()}, {})})
    assert store.agents_with("out") == ["counter/c1"]


def test_only_the_entries_of_a_state_map_set_since_the_last_save_are_encoded() -> None:
    requests = StateMap.loaded({"r1": {"status": "approved"}})
    requests["r2"] = {"status": "rejected"}
    assert encode_parts({"requests": requests}, {}) == {"requests\x1fr2": '{"status":"rejected"}'}
    assert encode_parts({"requests": requests}, {}) == {}


def test_an_encoded_state_map_holds_and_saves_each_entry_as_its_json_text() -> None:
    seen = EncodedStateMap()
    seen["m1"] = [1.5, (False, "Done", {"day": date(2026, 12, 4)})]
    assert dict.__getitem__(seen, "m1") == '[1.5,[false,"Done",{"day":"2026-12-04"}]]'
    assert encode_parts({"seen": seen}, {}) == {"seen\x1fm1": '[1.5,[false,"Done",{"day":"2026-12-04"}]]'}
    assert seen.decoded("m1") == [1.5, [False, "Done", {"day": "2026-12-04"}]] and seen.decoded("m2") is None


def test_an_encoded_entry_once_stored_keeps_only_its_key_in_memory() -> None:
    seen = EncodedStateMap()
    seen["m1"] = [1.5, (False, "Done", {})]
    encode_parts({"seen": seen}, {})
    seen["m2"] = [2.5, None]  # after the write was encoded: it goes with the next one
    seen.stored()
    assert dict.__getitem__(seen, "m1") == IN_STORE and seen.decoded("m1") == IN_STORE
    assert seen.decoded("m2") == [2.5, None]
    assert encode_parts({"seen": seen}, {}) == {"seen\x1fm2": "[2.5,null]"}


def test_entries_of_a_failed_write_keep_their_text_until_a_write_stores_them() -> None:
    seen = EncodedStateMap()
    seen["m1"] = [1.5, None]
    encode_parts({"seen": seen}, {})  # this write fails: nothing says stored
    assert seen.decoded("m1") == [1.5, None]
    assert encode_parts({"seen": seen}, {}, full=True) == {"seen\x1fm1": "[1.5,null]"}
    seen.stored()
    assert seen.decoded("m1") == IN_STORE


def test_a_full_write_after_a_failure_leaves_out_the_entries_only_the_store_holds() -> None:
    seen = EncodedStateMap()
    seen.kept(["m0"])
    seen["m1"] = [1.5, None]
    assert encode_parts({"seen": seen}, {}, full=True) == {"seen\x1fm1": "[1.5,null]"}  # never an empty text


@pytest.mark.parametrize("value", [
    {"day": date(2026, 12, 4), "at": datetime(2026, 12, 4, 9, 30, tzinfo=timezone.utc), 7: "seven", "t": ("a", 1)},
    {"big": 2**70, "small": 1e-05, "name": "Zoë", "none": None, "set": {1}},
    {"kept": {"p1": Publish("p1", "t", "employee/e1", "department/d0", "TimeOffNotice", {"days": 2})}},
], ids=["dates-keys-tuples", "past-64-bits-floats-unicode", "named-tuples"])
def test_a_part_decodes_as_the_standard_librarys_json_of_it_would(value: dict[str, Any]) -> None:
    assert json.loads(encode_state(value)) == json.loads(json.dumps(value, default=str))


def test_an_unchanged_plain_part_is_not_encoded_again() -> None:
    saved: dict[str, str] = {}
    assert encode_parts({"count": 1}, saved) == {"count": "1"}
    assert encode_parts({"count": 1}, saved) == {}


def test_a_deleted_entry_is_deleted_from_the_store(state_location: str, namespace: str) -> None:
    requests = StateMap({"r1": {"status": "approved"}, "r2": {"status": "held"}})
    store = store_with(state_location, namespace, {"requests": requests})
    requests.pop("r2")
    store.save_many({"counter/c1": encode_parts({"requests": requests}, {})})
    assert store.load("counter/c1") == {"requests": {"r1": {"status": "approved"}}}


def test_the_store_satisfies_the_protocol(state_location: str, namespace: str) -> None:
    assert isinstance(open_state_store(state_location, namespace), StateStore)


def add(rt: Runtime, amount: int, timeout: float = 30.0) -> int:
    return asyncio.run(rt.send(COUNTER, sa.Add(amount=amount), timeout=timeout)).value


def add_once_back(rt: Runtime, amount: int, within: float = 60.0) -> int:
    """Retry while the killed host restarts: a message sent to the dead actor is a dead letter, not lost."""
    deadline = time.monotonic() + within
    while True:
        try:
            return add(rt, amount, timeout=5.0)
        except RaybusError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_host_killed_while_holding_state_comes_back_with_it(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    assert [add(rt, 1) for _ in range(3)] == [1, 2, 3]
    ray.kill(ray.get(rt._bus.host_of.remote(str(COUNTER))), no_restart=False)
    assert add_once_back(rt, 1) == 4
    assert rt.stats()["hosts"]["pool:counter.0"]["states_loaded"] == 1


def test_state_outlives_every_host_of_the_namespace(durable: tuple[Runtime, str], ray_session: Any) -> None:
    rt, _ = durable
    add(rt, 5)
    rt._calls.control("destroy")  # every host ended; the bus stays
    assert add(rt, 1) == 6


def test_a_later_driver_of_the_namespace_finds_its_agents_state(state_location: str, ray_session: Any) -> None:
    namespace = f"l{uuid4().hex[:10]}"
    for expected in (5, 6):  # the first driver ends its namespace: bus and hosts gone, only the store left
        rt = Runtime.connect(namespace=namespace, state=state_location)
        try:
            rt.register("counter", sa.DurableCounter, placement=Sharded(1))
            assert add(rt, 5 if expected == 5 else 1) == expected
        finally:
            rt.shutdown(destroy=True)


def test_an_answer_leaves_only_once_the_state_it_reports_is_stored(durable: tuple[Runtime, str]) -> None:
    rt, location = durable
    for amount in (2, 3):
        total = add(rt, amount)
        stored = open_state_store(location, rt.namespace).load(str(COUNTER))
        assert stored["count"] == total
        assert [False, "Total", {"value": total}] in [answer for _, answer in stored["\x1eseen"].values()]


def test_a_restarted_bus_routes_with_the_registry_and_subscriptions_it_had(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("listener", sa.Listener, placement=Sharded(1), subscriptions=[TypeSubscription("news", "listener")])
    assert add(rt, 1) == 1
    ray.kill(rt._bus, no_restart=False)
    assert add_once_back(rt, 1) == 2
    asyncio.run(rt.publish(TopicId("news", "k1"), sa.Notice(text="after the restart")))
    assert wait_until(lambda: rt.inspect(AgentId("listener", "k1"), "texts")) == ["after the restart"]


def test_an_unchanged_part_is_not_written_again(durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    add(rt, 1)  # the count, and the message as seen
    add(rt, 0)  # only the message as seen: the count is as stored
    assert rt.stats()["hosts"]["pool:counter.0"]["state_parts_saved"] == 3


def test_without_a_state_dir_nothing_is_stored(runtime: Runtime) -> None:
    runtime.register("counter", sa.DurableCounter, placement=Sharded(1))
    asyncio.run(runtime.send(COUNTER, sa.Add(amount=1), timeout=30.0))
    assert runtime.stats()["hosts"]["pool:counter.0"].get("states_saved", 0) == 0


def test_a_failed_state_write_is_tried_again_and_the_caller_gets_the_real_answer(
        durable: tuple[Runtime, str]) -> None:
    rt, _ = durable
    rt.register("flaky", sa.FlakySave, placement=Sharded(1))
    flaky = AgentId("flaky", "f1")
    assert asyncio.run(rt.send(flaky, sa.Add(amount=3), timeout=30.0)).value == 3
    assert rt.stats()["hosts"]["pool:flaky.0"]["state_write_retries"] >= 1
    ray.kill(ray.get(rt._bus.host_of.remote(str(flaky))), no_restart=False)
    wait_until(lambda: rt.stats()["bus"].get("host_restarts"), timeout=30.0)
    assert wait_until(lambda: rt.inspect(flaky, "get_count") == 3, timeout=30.0)  # it was stored after all


def test_a_checkpoint_stores_the_state_before_the_handler_goes_on(durable: tuple[Runtime, str]) -> None:
    rt, location = durable
    rt.register("steady", sa.Checkpointer, placement=Sharded(1))
    steady = AgentId("steady", "s1")

    async def read_while_it_runs() -> Any:
        call = asyncio.ensure_future(rt.send(steady, sa.Add(amount=5, pause=3.0), timeout=30.0))
        store = open_state_store(location, rt.namespace)
        stored = await asyncio.to_thread(wait_until, lambda: (store.load(str(steady)) or {}).get("count"), 10.0)
        assert not call.done()
        await call
        return stored

    assert asyncio.run(read_while_it_runs()) == 5
    assert rt.stats()["hosts"]["pool:steady.0"]["checkpoints"] == 1


def test_a_ghost_of_a_restarted_host_can_no_longer_write(state_location: str, namespace: str) -> None:
    ghost = open_state_store(state_location, namespace, writer="pool:pto.0")
    successor = open_state_store(state_location, namespace, writer="pool:pto.0")
    successor.save_many({"counter/c1": {"count": "2"}})
    with pytest.raises(Fenced, match=r"pool:pto\.0: a newer incarnation"):
        ghost.save_many({"counter/c1": {"count": "1"}})
    assert successor.load("counter/c1") == {"count": 2}
    open_state_store(state_location, namespace, writer="pool:pto.1").save_many({"counter/c2": {"count": "1"}})


def test_a_database_url_is_shown_without_its_password() -> None:
    assert redacted("postgresql://raybus:secret@db.example:5432/runs") == "postgresql://raybus:***@db.example:5432/runs"
    assert "secret" not in describe_location("postgresql://raybus:secret@db.example/runs")


def test_an_unreachable_server_is_named_without_its_password(namespace: str) -> None:
    with pytest.raises(StoreUnavailable, match=r"raybus:\*\*\*@127\.0\.0\.1:1/nowhere") as failed:
        SqlStateStore(PostgresDatabase("postgresql://raybus:secret@127.0.0.1:1/nowhere", namespace, wait=1.0))
    assert "secret" not in str(failed.value)


def test_state_and_state_dir_are_one_choice() -> None:
    with pytest.raises(ValueError, match="not both"):
        Runtime.connect(state="/tmp/a", state_dir="/tmp/b")
