"""Backpressure: a sender waits for room in its window instead of filling the bus and a slow receiver."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import uuid4

import pytest
import sample_agents as sa

from cluster import AgentId, Backpressure, Runtime, Sharded
from cluster._window import SendWindow

COUNTER = AgentId("counter", "slow")


def test_a_call_past_the_window_waits_for_one_to_leave() -> None:
    async def scenario() -> list[str]:
        window, order = SendWindow(2), []

        async def call(name: str, hold: float) -> None:
            await window.enter("pool:x.0", 5.0, name)
            order.append(name)
            await asyncio.sleep(hold)
            window.leave("pool:x.0")

        await asyncio.gather(call("a", 0.05), call("b", 0.05), call("c", 0.0))
        return order

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_a_call_that_finds_no_room_within_its_timeout_is_backpressure_naming_the_full_host() -> None:
    async def scenario() -> None:
        window = SendWindow(1)
        await window.enter("pool:x.0", 1.0, "first")
        await window.enter("pool:x.0", 0.05, "Add to counter/c1")

    with pytest.raises(Backpressure, match=r"Add to counter/c1: pool:x.0 already had 1 calls"):
        asyncio.run(scenario())


def test_a_window_must_hold_at_least_one_call() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SendWindow(0)


def test_a_slow_receiver_never_has_more_than_the_window_queued(ray_session: Any) -> None:
    rt = Runtime.connect(namespace=f"w{uuid4().hex[:10]}", window=20)
    try:
        rt.register("counter", sa.Counter, placement=Sharded(1))
        peaks = {"unacked": 0, "queued": 0, "waiting": 0}
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                stats = rt.stats()
                host = stats["hosts"].get("pool:counter.0", {})
                peaks["unacked"] = max(peaks["unacked"], stats["bus"].get("unacked", 0))
                peaks["queued"] = max(peaks["queued"], host.get("queued", 0))
                peaks["waiting"] = max(peaks["waiting"], stats["driver"]["waiting_for_window"])

        async def flood() -> list[int]:
            calls = [rt.send(COUNTER, sa.Add(amount=1, pause=0.005), timeout=60.0) for _ in range(300)]
            return [total.value for total in await asyncio.gather(*calls)]

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            totals = asyncio.run(flood())
        finally:
            done.set()
            watcher.join()
        assert sorted(totals) == list(range(1, 301))
        assert peaks["unacked"] <= 20 and peaks["queued"] <= 20
        assert peaks["waiting"] > 0  # the driver did wait: the bound was the window, not luck
    finally:
        rt.shutdown(destroy=True)


def test_a_slot_is_given_in_turn_and_one_that_gave_up_waiting_is_passed_over() -> None:
    async def scenario() -> tuple[list[str], int]:
        window, entered = SendWindow(1), []
        await window.enter("pool:x.0", 1.0, "first")

        async def call(name: str, timeout: float) -> None:
            try:
                await window.enter("pool:x.0", timeout, name)
                entered.append(name)
            except Backpressure:
                entered.append(f"{name} gave up")

        waiting = [asyncio.ensure_future(call("quick", 0.01)), asyncio.ensure_future(call("patient", 5.0))]
        await asyncio.sleep(0.05)  # the quick one has given up
        window.leave("pool:x.0")  # its slot goes to the patient one, not to the one that left
        await asyncio.gather(*waiting)
        return entered, window.waiting()

    assert asyncio.run(scenario()) == (["quick gave up", "patient"], 0)
