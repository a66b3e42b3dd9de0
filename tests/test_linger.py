"""Lingering: a receiver waits a little for the answers of the calls it was given, to return them in its reply;
pure asyncio."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import sample_agents as sa

from cluster import AgentId, MemberSubscription, Runtime, Sharded, TopicId
from cluster._linger import Lingering, lone_call
from cluster._wire import Answer, Call, Done


def answer(call_id: str, caller: str = "pool:a.0") -> Answer:
    return Answer(f"a-{call_id}", "t", "echo/e1", caller, "Pong", {}, call_id)


def test_an_answer_made_within_the_linger_is_caught_and_returned_in_the_reply() -> None:
    async def main() -> tuple[list[Answer], bool]:
        lingering = Lingering()
        catch = lingering.expect(["c1"])
        asyncio.get_running_loop().call_later(0.01, lambda: caught.append(lingering.catch(answer("c1"))))
        caught: list[bool] = []
        return await lingering.answers(catch, 1.0), caught[0]

    answers, caught = asyncio.run(main())
    assert [a.call_id for a in answers] == ["c1"] and caught


def test_the_reply_leaves_as_soon_as_every_answer_is_in() -> None:
    async def main() -> float:
        lingering = Lingering()
        catch = lingering.expect(["c1", "c2"])
        assert lingering.catch(answer("c1")) and lingering.catch(answer("c2"))
        start = time.perf_counter()
        await lingering.answers(catch, 5.0)
        return time.perf_counter() - start

    assert asyncio.run(main()) < 1.0


def test_an_answer_made_after_the_linger_goes_its_own_way() -> None:
    async def main() -> tuple[list[Answer], bool, int]:
        lingering = Lingering()
        found = await lingering.answers(lingering.expect(["c1"]), 0.01)
        return found, lingering.catch(answer("c1")), len(lingering)

    assert asyncio.run(main()) == ([], False, 0)


def test_a_released_call_ends_the_wait_at_once_and_its_answer_goes_its_own_way() -> None:
    async def main() -> tuple[list[Answer], float, bool]:
        lingering = Lingering()
        catch = lingering.expect(["c1"])
        lingering.release("c1")  # its host replied without the answer: a slow handler
        start = time.perf_counter()
        found = await lingering.answers(catch, 5.0)
        return found, time.perf_counter() - start, lingering.catch(answer("c1"))

    found, waited, caught = asyncio.run(main())
    assert found == [] and waited < 1.0 and not caught


def test_only_answers_to_the_caller_that_waits_are_caught() -> None:
    async def main() -> tuple[bool, bool]:
        lingering = Lingering()
        lingering.expect(["c1"], caller="pool:a.0")
        return lingering.catch(answer("c1", caller="pool:other.0")), lingering.catch(answer("c1", caller="pool:a.0"))

    assert asyncio.run(main()) == (False, True)


def test_a_later_reply_waiting_for_a_copy_of_the_call_still_catches_its_answer_after_the_first_gives_up() -> None:
    async def main() -> list[Answer]:
        lingering = Lingering()
        first = lingering.expect(["c1"])
        second = lingering.expect(["c1"])  # the bus gave the call again while the first reply still waited
        assert await lingering.answers(first, 0.01) == []
        assert lingering.catch(answer("c1"))
        return await lingering.answers(second, 1.0)

    assert [a.call_id for a in asyncio.run(main())] == ["c1"]


def test_only_a_batch_that_is_one_call_is_waited_for() -> None:
    call = Call("c1", "t", "admin", "echo/e1", "Ping", {}, 0.0, "client.s.0")
    assert lone_call([call]) == ["c1"]
    assert lone_call([call, call._replace(id="c2")]) == [] and lone_call([Done("c1", ("b/1",))]) == []
    assert lone_call([]) == []


def test_a_batch_without_calls_waits_for_nothing() -> None:
    async def main() -> list[Answer]:
        lingering = Lingering()
        return await lingering.answers(lingering.expect([]), 5.0)

    assert asyncio.run(main()) == []


def test_a_drivers_lone_sends_answers_ride_back_in_replies_instead_of_calls_of_their_own(runtime: Runtime) -> None:
    runtime.register("echo", sa.Echo, placement=Sharded(1))
    echo = AgentId("echo", "e1")
    sends = 20

    async def one_at_a_time() -> list[str]:
        return [(await runtime.send(echo, sa.Ping(text=str(n)))).text for n in range(sends)]

    assert asyncio.run(one_at_a_time()) == [str(n) for n in range(sends)]  # activates echo/e1 too
    before = runtime.stats()
    assert asyncio.run(one_at_a_time()) == [str(n) for n in range(sends)]
    after = runtime.stats()
    (host,) = after["hosts"]

    def grew(place: Callable[[dict[str, Any]], dict[str, int]], name: str) -> int:
        return place(after).get(name, 0) - place(before).get(name, 0)

    def at_host(stats: dict[str, Any]) -> dict[str, int]:
        return stats["hosts"][host]

    def at_bus(stats: dict[str, Any]) -> dict[str, int]:
        return stats["bus"]

    # each answer left the host once: in the reply of the call that brought its call, or as a call of its own
    assert grew(at_host, "answers_in_replies") + grew(at_host, "to_bus_items") == sends
    # on an idle machine every one rides back; on a loaded one a handler may miss the linger, never all twenty
    assert grew(at_host, "answers_in_replies") > 0 and grew(at_bus, "answers_in_replies") > 0


def test_an_answer_never_overtakes_a_publish_its_handler_made_before_it(runtime: Runtime) -> None:
    runtime.register("caster", sa.Caster, placement=Sharded(1))
    runtime.register("listener", sa.Listener, placement=Sharded(1))
    caster, listener = AgentId("caster", "c1"), AgentId("listener", "l1")
    runtime.subscribe(MemberSubscription(TopicId("topic", "all"), listener))

    async def publish_then_tell() -> None:
        for n in range(20):  # the caster's lone call could answer in its reply, ahead of the publish
            await runtime.send(caster, sa.Cast(topic_type="topic", topic_source="all", text=f"published {n}"))
            await runtime.send(listener, sa.Notice(text=f"told {n}"))

    asyncio.run(publish_then_tell())
    heard = runtime.inspect(listener, "texts")
    assert heard == [text for n in range(20) for text in (f"published {n}", f"told {n}")]
