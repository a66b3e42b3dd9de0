"""A host runs agents: one that cannot start is not left half-started."""

from __future__ import annotations

import asyncio

import pytest
import sample_agents as sa
from conftest import wait_until

from cluster import AgentId, HandlerError, Runtime, Sharded


def test_an_agent_whose_on_start_raises_answers_with_that_failure_and_starts_afresh(runtime: Runtime) -> None:
    runtime.register("fragile", sa.FailsToStart, placement=Sharded(1))
    fragile = AgentId("fragile", "f1")
    with pytest.raises(HandlerError, match="fragile/f1 failed to start: no connection to the ledger"):
        asyncio.run(runtime.send(fragile, sa.Add(amount=1), timeout=30.0))
    assert asyncio.run(runtime.send(fragile, sa.Add(amount=1), timeout=30.0)).value == 1
    host = runtime.stats()["hosts"]["pool:fragile.0"]
    assert host["start_errors"] == 1 and host["activations"] == 2
    assert wait_until(lambda: runtime.stats()["bus"].get("dead_letters_start_failed")) == 1
