"""Deadlines: an endpoint's calls stop waiting at their deadlines, by one timer over a heap; pure asyncio."""

from __future__ import annotations

import asyncio

from cluster._deadlines import SWEEP_AFTER, Deadlines


class Calls:
    """Stand-in for an endpoint's pending calls: which still wait, and which expired, in order."""

    def __init__(self) -> None:
        self.waiting: set[str] = set()
        self.expired: list[tuple[str, str, str, float]] = []
        self.deadlines = Deadlines(lambda call_id: call_id in self.waiting, self.expire)

    def expire(self, call_id: str, recipient: str, type_name: str, timeout: float) -> None:
        self.waiting.discard(call_id)
        self.expired.append((call_id, recipient, type_name, timeout))

    def send(self, call_id: str, timeout: float) -> None:
        self.waiting.add(call_id)
        self.deadlines.add(call_id, "echo/e1", "Ping", timeout)

    def answer(self, call_id: str) -> None:
        self.waiting.discard(call_id)
        self.deadlines.answered()


def test_calls_expire_at_their_deadlines_earliest_first_even_when_sent_later() -> None:
    async def main() -> list[str]:
        calls = Calls()
        calls.send("slow", 0.2)
        calls.send("quick", 0.02)  # earlier than the timer armed for "slow"
        await asyncio.sleep(0.05)
        assert [call_id for call_id, *_ in calls.expired] == ["quick"]
        await asyncio.sleep(0.25)
        return [call_id for call_id, *_ in calls.expired]

    assert asyncio.run(main()) == ["quick", "slow"]


def test_an_expired_call_names_its_recipient_type_and_timeout() -> None:
    async def main() -> list[tuple[str, str, str, float]]:
        calls = Calls()
        calls.send("c1", 0.01)
        await asyncio.sleep(0.05)
        return calls.expired

    assert asyncio.run(main()) == [("c1", "echo/e1", "Ping", 0.01)]


def test_an_answered_call_never_expires() -> None:
    async def main() -> list[tuple[str, str, str, float]]:
        calls = Calls()
        calls.send("c1", 0.01)
        calls.answer("c1")
        await asyncio.sleep(0.05)
        return calls.expired

    assert asyncio.run(main()) == []


def test_answered_entries_never_outnumber_waiting_ones_by_much() -> None:
    async def main() -> list[tuple[int, int]]:
        calls = Calls()
        for n in range(3 * SWEEP_AFTER):
            calls.send(f"c{n}", 60.0)
        sizes = []
        for n in range(3 * SWEEP_AFTER):
            calls.answer(f"c{n}")
            sizes.append((len(calls.deadlines), len(calls.waiting)))
        return sizes

    sizes = asyncio.run(main())
    # swept once answered entries are over SWEEP_AFTER and half the heap: never more than that many
    assert all(heap <= max(2 * waiting, waiting + SWEEP_AFTER) + 1 for heap, waiting in sizes)
    assert sizes[-1][0] <= SWEEP_AFTER + 1  # all answered: the heap kept at most one sweep's worth


def test_a_call_with_no_time_left_and_one_sent_after_it_expire_on_uvloop_too() -> None:
    """uvloop's ``call_at`` of a time already past returns a plain ``Handle``, without ``when()`` (the gateway's
    Serve replica runs uvloop: a send whose window wait had used up its timeout came back as a 500)."""
    import uvloop

    async def main() -> list[str]:
        calls = Calls()
        calls.send("none-left", 0.0)
        calls.send("next", 0.02)
        await asyncio.sleep(0.05)
        return [call_id for call_id, *_ in calls.expired]

    assert uvloop.run(main()) == ["none-left", "next"]
