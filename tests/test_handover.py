"""Handover, the host's side of moves: what a host does with a message for an agent its table says left it."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

from cluster._handover import Handover
from cluster._outbox import Outbox
from cluster._wire import Call, Moved


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


class HandingHost:
    """A host ``h`` handing ``a/1`` over, whose way to the bus takes a batch only once let go."""

    def __init__(self) -> None:
        self.name, self.taken, self.passed = "h", [], []
        self.let_go = asyncio.Event()
        self.outbox = Outbox(self._send, lambda batch, error: None)
        self.table = SimpleNamespace(handed_over=lambda agent, to, source: None)
        self.to_bus = SimpleNamespace(put=lambda message, key: self.outbox.put(message),
                                      for_key=lambda key: self.outbox)

    async def _send(self, batch: list[Any]) -> None:
        await self.let_go.wait()
        self.taken.extend(batch)

    def passed_on(self, message_id: str) -> None:
        self.passed.append(message_id)


def quiet_agent_with(queued: list[Call]) -> Any:
    """Processing with one agent, ``a/1``, quiet at once, whose mailbox holds ``queued``."""
    async def paused() -> None:
        return None

    mailbox = SimpleNamespace(pause=paused, stopped=True, take=lambda: list(queued), resume=lambda: None)
    activation = SimpleNamespace(mailbox=mailbox, state=lambda: {})
    return SimpleNamespace(activations={"a/1": activation}, states=None, carried={},
                           idle=SimpleNamespace(in_hand=lambda agent, act: False, drop=lambda agent, act: None),
                           intake=SimpleNamespace(passed_on=lambda message_id, agent: ()))


def test_a_call_taken_along_in_a_move_is_said_to_go_through_the_bus_only_once_the_bus_has_the_moved() -> None:
    """A host that called ``a/1`` host to host hears its answer comes through the bus (``passed_on``) only once the
    bus has taken ``Moved``, which carries the call: had it heard so before, and this host died with ``Moved``
    unsent, no one would send the call again (seed 145 at a8f04c5: a manager's ``Decision`` timed out)."""
    call = Call("c1", "t", "manager/m1", "a/1", "Decision", {}, None, "pool:manager.0")
    host = HandingHost()

    async def main() -> tuple[list[str], list[str]]:
        Handover(host, quiet_agent_with([call]), Counter()).move("a/1", "h2")
        await asyncio.sleep(0.05)
        before = list(host.passed)  # Moved put, not taken yet
        host.let_go.set()
        await asyncio.sleep(0.05)
        return before, host.passed

    before, after = asyncio.run(main())
    assert before == []
    assert after == ["c1"]
    assert [type(message) for message in host.taken] == [Moved]
