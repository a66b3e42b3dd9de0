"""Handover, the host's side of moves: what a host does with a message for an agent its table says left it."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

from cluster._handover import Handover


class StandInTable:
    def __init__(self, at: dict[str, str]) -> None:
        self.at = at

    def known_endpoint_of(self, agent_id: str) -> str | None:
        return self.at.get(agent_id)

    def place(self, agent_id: str, endpoint: str) -> None:
        self.at[agent_id] = endpoint


class StandInBus:
    """Answers ``locate`` as told, and counts the questions."""

    def __init__(self, where: str | None) -> None:
        self.where, self.asked = where, 0
        self.locate = SimpleNamespace(remote=self._locate)

    async def _locate(self, agent_id: str) -> str | None:
        self.asked += 1
        await asyncio.sleep(0.01)
        return self.where


def asked(where: str | None, times: int = 1) -> tuple[StandInTable, StandInBus, Counter[str]]:
    """A host ``h`` whose table says ``a/1`` lives at ``h2`` is given messages for it ``times`` at once, and the
    bus says it routes ``a/1`` to ``where``."""
    table, bus, counts = StandInTable({"a/1": "h2"}), StandInBus(where), Counter()
    host: Any = SimpleNamespace(name="h", table=table, buses=[bus])

    async def main() -> None:
        handover = Handover(host, SimpleNamespace(), counts)
        for _ in range(times):
            handover.not_here("a/1")
        await asyncio.sleep(0.05)

    asyncio.run(main())
    return table, bus, counts


def test_a_host_whose_table_is_behind_the_bus_takes_the_agent_as_its_own_once_the_bus_says_so() -> None:
    table, _, counts = asked("h")
    assert table.at["a/1"] == "h" and counts["table_behind_the_bus"] == 1


def test_a_host_told_the_agent_lives_elsewhere_keeps_its_table() -> None:
    table, _, counts = asked("h3")
    assert table.at["a/1"] == "h2" and not counts["table_behind_the_bus"]


def test_many_messages_for_one_agent_not_here_ask_the_bus_once_at_a_time() -> None:
    _, bus, _ = asked(None, times=5)
    assert bus.asked == 1
