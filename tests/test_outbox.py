"""Outbox: coalescing items into batched calls, pure asyncio."""

from __future__ import annotations

import asyncio

from cluster._outbox import Outbox
from cluster.constants import MAX_BATCH


class Destination:
    """Records every batch; each call blocks until ``release`` is set (it is, unless a test clears it)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.failures: list[tuple[list[int], BaseException]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def send(self, batch: list[int]) -> None:
        self.batches.append(list(batch))
        await self.release.wait()

    def on_failure(self, batch: list[int], error: BaseException) -> None:
        self.failures.append((batch, error))


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_items_put_in_one_loop_turn_travel_in_one_batch() -> None:
    async def main() -> None:
        dest = Destination()
        outbox: Outbox[int] = Outbox(dest.send, dest.on_failure)
        for item in range(5):
            outbox.put(item)
        assert dest.batches == []  # nothing leaves during the turn that put them
        await outbox.drain()
        assert dest.batches == [[0, 1, 2, 3, 4]]
        assert (outbox.batches, outbox.items) == (1, 5)

    asyncio.run(main())


def test_items_put_in_separate_turns_while_idle_travel_separately() -> None:
    async def main() -> None:
        dest = Destination()
        outbox: Outbox[int] = Outbox(dest.send, dest.on_failure)
        outbox.put(1)
        await outbox.drain()
        outbox.put(2)
        await outbox.drain()
        assert dest.batches == [[1], [2]]

    asyncio.run(main())


def test_with_the_window_full_later_items_coalesce_into_the_next_batch() -> None:
    async def main() -> None:
        dest = Destination()
        dest.release.clear()
        outbox: Outbox[int] = Outbox(dest.send, dest.on_failure, window=2)
        outbox.put(1)
        await _turns()
        outbox.put(2)
        await _turns()
        assert dest.batches == [[1], [2]]
        assert outbox.in_flight == 2
        for item in (3, 4, 5):
            outbox.put(item)
            await _turns()
        assert dest.batches == [[1], [2]]  # the window is full: they wait
        assert len(outbox) == 3
        dest.release.set()
        await outbox.drain()
        assert dest.batches == [[1], [2], [3, 4, 5]]
        assert outbox.in_flight == 0 and len(outbox) == 0

    asyncio.run(main())


def test_a_batch_never_exceeds_max_batch() -> None:
    async def main() -> None:
        dest = Destination()
        outbox: Outbox[int] = Outbox(dest.send, dest.on_failure)
        for item in range(MAX_BATCH + 5):
            outbox.put(item)
        await outbox.drain()
        assert [len(batch) for batch in dest.batches] == [MAX_BATCH, 5]
        assert [item for batch in dest.batches for item in batch] == list(range(MAX_BATCH + 5))

    asyncio.run(main())


def test_a_failing_send_hands_the_batch_to_on_failure() -> None:
    async def main() -> None:
        failures: list[tuple[list[int], BaseException]] = []
        boom = ConnectionError("destination is gone")

        async def send(batch: list[int]) -> None:
            await asyncio.sleep(0)
            raise boom

        outbox: Outbox[int] = Outbox(send, lambda batch, error: failures.append((batch, error)))
        for item in (7, 8, 9):
            outbox.put(item)
        await outbox.drain()
        assert failures == [([7, 8, 9], boom)]

    asyncio.run(main())


def test_a_send_that_raises_before_awaiting_also_reaches_on_failure() -> None:
    async def main() -> None:
        failures: list[list[int]] = []

        def send(batch: list[int]) -> None:
            raise ValueError("refused at once")

        outbox: Outbox[int] = Outbox(send, lambda batch, error: failures.append(batch))  # type: ignore[arg-type]
        outbox.put(1)
        await outbox.drain()
        assert failures == [[1]]

    asyncio.run(main())


def test_the_outbox_keeps_sending_after_a_failure() -> None:
    async def main() -> None:
        sent: list[list[int]] = []
        failures: list[list[int]] = []

        async def send(batch: list[int]) -> None:
            if batch == [1]:
                raise ConnectionError("first batch fails")
            sent.append(batch)

        outbox: Outbox[int] = Outbox(send, lambda batch, error: failures.append(batch))
        outbox.put(1)
        await outbox.drain()
        outbox.put(2)
        await outbox.drain()
        assert (failures, sent) == ([[1]], [[2]])

    asyncio.run(main())


def test_drain_waits_until_every_batch_is_accepted() -> None:
    async def main() -> None:
        dest = Destination()
        dest.release.clear()
        outbox: Outbox[int] = Outbox(dest.send, dest.on_failure, window=1)
        for item in (1, 2):
            outbox.put(item)
            await _turns()
        drained = asyncio.ensure_future(outbox.drain())
        await _turns()
        assert not drained.done()
        dest.release.set()
        await asyncio.wait_for(drained, 1.0)
        assert dest.batches == [[1], [2]]

    asyncio.run(main())


def test_a_paused_outbox_keeps_what_is_put_until_it_resumes_then_sends_it_in_order() -> None:
    async def main() -> None:
        dest = Destination()
        outbox: Outbox[int] = Outbox(dest.send, dest.on_failure)
        outbox.pause()
        for item in range(3):
            outbox.put(item)
        await _turns()
        assert dest.batches == [] and len(outbox) == 3
        outbox.resume()
        outbox.put(3)
        await outbox.drain()
        assert [item for batch in dest.batches for item in batch] == [0, 1, 2, 3]

    asyncio.run(main())


def test_a_batch_sent_again_goes_ahead_of_what_was_put_meanwhile() -> None:
    async def main() -> None:
        dest = Destination()
        outbox: Outbox[int] = Outbox(dest.send, dest.on_failure)
        outbox.retry(lambda: [1, 2], 0.05)  # a batch the destination did not take
        outbox.put(3)
        await asyncio.sleep(0.02)
        assert dest.batches == [] and not outbox.idle  # 3 waits for the batch before it
        await asyncio.sleep(0.05)
        await outbox.drain()
        assert dest.batches == [[1, 2, 3]]

    asyncio.run(main())


def test_a_retry_whose_items_cannot_be_read_still_lets_later_items_go() -> None:
    async def main() -> None:
        dest = Destination()
        outbox: Outbox[int] = Outbox(dest.send, dest.on_failure)
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: None)  # the failing callback is reported, not raised here

        def broken() -> list[int]:
            raise RuntimeError("no items")

        outbox.retry(broken, 0.01)
        outbox.put(3)
        await asyncio.sleep(0.05)
        await asyncio.wait_for(outbox.drain(), 5)  # paused for ever, it would time out here
        assert dest.batches == [[3]]

    asyncio.run(main())
