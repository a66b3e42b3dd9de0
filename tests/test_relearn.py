"""Relearning and the moves a restarted bus shard hears of: pure logic, with hosts that answer at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
import sample_agents as sa

from cluster import Dedicated
from cluster._moves import Mover
from cluster._relearn import Relearning
from cluster._routing import AgentTypeSpec, RoutingTable
from cluster._wire import Adopt, Call, Moved

AGENT, HOME, NEW = "echo/e1", "agent:echo/e1", "pool:echo.0"


class _Remote:
    def __init__(self, value: Any) -> None:
        self.value = value

    def remote(self, *args: Any) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        future.set_result(self.value)
        return future


class _Silent:
    def remote(self, *args: Any) -> asyncio.Future:
        return asyncio.get_running_loop().create_future()  # never answers


class _Host:
    def __init__(self, moved: dict[str, str] | None = None, leaving: dict[str, str] | None = None) -> None:
        self.moves = _Silent() if moved is None else _Remote((moved, leaving or {}))
        self.bus_restarted = _Remote(None)


class _Links:
    """What the shard would give each host, in order."""

    def __init__(self, hosts: dict[str, _Host]) -> None:
        self.actors = SimpleNamespace(get=hosts.__getitem__, hosts=hosts)
        self.given: dict[str, list[Any]] = {}

    def outbox(self, endpoint: str) -> Any:
        links = self

        class _Outbox:
            def put(self, wire: Any) -> None:
                links.given.setdefault(endpoint, []).append(wire)
        return _Outbox()

    def unparked(self, endpoint: str, wire: Any) -> None:
        self.outbox(endpoint).put(wire)

    def pass_on(self, source: str, to: str | None, wire: Any, agent: str) -> None:
        self.given.setdefault(to, []).append(wire)


def _restarted_shard(hosts: dict[str, _Host], then: Any = None) -> tuple[RoutingTable, _Links, Mover, Counter[str]]:
    """A restarted shard's relearning from these hosts; ``then(mover)``, awaited in the same loop, goes on."""
    table = RoutingTable()
    table.add_type(AgentTypeSpec("echo", sa.Echo, Dedicated(), {}), sa.Echo.message_types())
    links, counts = _Links(hosts), Counter[str]()
    mover = Mover(lambda: table, links, counts, planning=False)  # type: ignore[arg-type]
    relearning = Relearning(list(hosts), lambda: table, links, mover, counts, 0)  # type: ignore[arg-type]

    async def run() -> None:
        await relearning.wait()
        if then is not None:
            await then(mover)

    asyncio.run(run())
    return table, links, mover, counts


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cluster._relearn.MOVE_WAIT", 0.05)
    monkeypatch.setattr("cluster._moves.FIND_WAIT", 0.2)


def test_a_move_whose_moved_the_old_shard_never_took_goes_on_and_ends_when_it_comes_with_its_state() -> None:
    table, links, mover, counts = _restarted_shard({HOME: _Host({AGENT: NEW}, {AGENT: NEW}), NEW: _Host({}, {})})
    assert table.endpoint_of(AGENT) == HOME and mover.holds(HOME, AGENT)  # its answers sent before still count
    assert links.given == {}  # not adopted afresh: the state it carries is on its way
    mover.moved(HOME, Moved(AGENT, NEW, '{"count": 3}', []))
    assert table.endpoint_of(AGENT) == NEW and links.given[NEW] == [Adopt(AGENT, '{"count": 3}')]
    assert counts["moves"] == 1 and not mover.holds(HOME, AGENT)


def test_a_moved_the_old_shard_took_is_heard_again_and_the_old_hosts_messages_before_it_are_the_agents() -> None:
    table, links, mover, counts = _restarted_shard({HOME: _Host({AGENT: NEW}, {AGENT: NEW}),
                                                    NEW: _Host({AGENT: NEW}, {})})
    assert table.endpoint_of(AGENT) == NEW and mover.holds(HOME, AGENT) and mover.holds(NEW, AGENT)
    mover.moved(HOME, Moved(AGENT, NEW, None, []))
    assert table.endpoint_of(AGENT) == NEW and links.given == {}  # adopted once, before the restart
    assert counts["moves_heard_again"] == 1 and counts["moves_refused"] == 0
    assert not mover.holds(HOME, AGENT)  # once its Moved is in, the old host speaks for it no more


def test_a_host_that_never_had_the_agent_does_not_send_as_it_after_a_restart() -> None:
    _, _, mover, _ = _restarted_shard({HOME: _Host({AGENT: NEW}, {AGENT: NEW}), NEW: _Host({AGENT: NEW}, {}),
                                       "pool:echo.1": _Host({}, {})})
    assert not mover.holds("pool:echo.1", AGENT)


def test_what_the_old_host_was_to_send_again_is_not_its_to_send_once_it_restarted() -> None:
    _, _, mover, _ = _restarted_shard({HOME: _Host({AGENT: NEW}, {AGENT: NEW}), NEW: _Host({AGENT: NEW}, {})})
    mover.host_restarted(HOME)  # its old process died with the Moved it was to send again
    assert not mover.holds(HOME, AGENT) and mover.holds(NEW, AGENT)


SILENT = "pool:echo.1"  # a host that does not answer the relearning (restarting, or too busy)
CALL = Call("c1", "t", None, AGENT, "Ping", {}, 0.0, "client.x")


def _home_says_it_went_to_new_which_lacks_it(then: Any) -> tuple[RoutingTable, _Links, Mover, Counter[str]]:
    return _restarted_shard({HOME: _Host({AGENT: NEW}), NEW: _Host({}), SILENT: _Host()}, then)


def test_an_agent_that_may_have_moved_on_to_a_host_that_did_not_answer_is_found_there_not_adopted_twice() -> None:
    async def silent_host_says_it_has_it(mover: Mover) -> None:
        assert mover.park(CALL) and mover.holds(SILENT, AGENT)  # its messages wait; the silent host may send as it
        mover.heard_from(SILENT, [AGENT])

    table, links, mover, counts = _home_says_it_went_to_new_which_lacks_it(silent_host_says_it_has_it)
    assert table.endpoint_of(AGENT) == SILENT and links.given == {SILENT: [CALL]}  # no Adopt anywhere
    assert counts["agents_found_after_restart"] == 1 and not mover.unsure and not mover.moving


def test_an_agent_no_host_that_did_not_answer_has_is_adopted_where_it_went_once_they_have_all_said() -> None:
    async def silent_host_says_it_has_not(mover: Mover) -> None:
        mover.park(CALL)
        mover.heard_from(SILENT, [])

    table, links, mover, counts = _home_says_it_went_to_new_which_lacks_it(silent_host_says_it_has_not)
    assert table.endpoint_of(AGENT) == NEW and links.given == {NEW: [Adopt(AGENT, None), CALL]}
    assert counts["adopted_again_after_restart"] == 1 and not mover.holds(SILENT, AGENT)


def test_an_agent_the_hosts_that_did_not_answer_never_speak_of_is_adopted_where_it_went_after_find_wait() -> None:
    async def nobody_says(mover: Mover) -> None:
        mover.park(CALL)
        await asyncio.sleep(0.3)

    table, links, _, _ = _home_says_it_went_to_new_which_lacks_it(nobody_says)
    assert table.endpoint_of(AGENT) == NEW and links.given == {NEW: [Adopt(AGENT, None), CALL]}


def test_a_moved_the_bus_refuses_still_passes_what_the_host_took_along_to_where_the_agent_lives() -> None:
    """The host let those messages go when it handed the agent over: dropped with the refused move, nothing
    but a sender sending again after a restart would make up for them."""
    _, links, mover, counts = _restarted_shard({HOME: _Host({AGENT: NEW}, {}), NEW: _Host({AGENT: NEW}, {})})
    call = Call("c1", "t", "caller/c1", AGENT, "Ping", {}, 0.0, "pool:caller.0")
    mover.moved("pool:echo.1", Moved(AGENT, "pool:echo.2", None, [call]))  # from a host the bus never had it at
    assert counts["moves_refused"] == 1 and links.given == {NEW: [call]}
