"""Mailbox: one agent's serial queue, pure asyncio."""

from __future__ import annotations

import asyncio
import time

from cluster._mailbox import Mailbox


async def _settle(mailbox: Mailbox, timeout: float = 2.0) -> None:
    async def idle() -> None:
        while mailbox.busy or len(mailbox):
            await asyncio.sleep(0.001)

    await asyncio.wait_for(idle(), timeout)


def test_items_are_processed_one_at_a_time_in_order_even_when_process_awaits() -> None:
    events: list[str] = []
    active = 0
    most_active = 0

    async def process(item: int) -> None:
        nonlocal active, most_active
        active += 1
        most_active = max(most_active, active)
        events.append(f"start {item}")
        await asyncio.sleep(0.002 * (5 - item % 5))  # earlier items sleep longer
        events.append(f"end {item}")
        active -= 1

    async def main() -> None:
        mailbox: Mailbox[int] = Mailbox(process, lambda item: False)
        for item in range(10):
            mailbox.put(item)
        await _settle(mailbox)
        assert mailbox.handled == 10

    asyncio.run(main())
    assert most_active == 1
    assert events == [f"{what} {item}" for item in range(10) for what in ("start", "end")]


def test_items_put_while_busy_are_processed_after_the_current_one() -> None:
    order: list[str] = []

    async def process(item: str) -> None:
        order.append(item)
        await asyncio.sleep(0.005)

    async def main() -> None:
        mailbox: Mailbox[str] = Mailbox(process, lambda item: False)
        mailbox.put("a")
        await asyncio.sleep(0.001)  # "a" is now running
        assert mailbox.busy
        mailbox.put("b")
        mailbox.put("c")
        await _settle(mailbox)

    asyncio.run(main())
    assert order == ["a", "b", "c"]


def test_an_interleaving_item_runs_concurrently_with_a_suspended_one() -> None:
    log: list[str] = []

    async def main() -> None:
        started = asyncio.Event()
        release = asyncio.Event()

        async def process(item: str) -> None:
            if item == "waits":
                log.append("start waits")
                started.set()
                await release.wait()  # only the next item sets this: deadlock unless "waits" interleaves
            else:
                await started.wait()
                log.append("start opens")
                release.set()
            log.append(f"end {item}")

        mailbox: Mailbox[str] = Mailbox(process, lambda item: item == "waits")
        mailbox.put("waits")
        mailbox.put("opens")
        await asyncio.wait_for(release.wait(), 1.0)
        await _settle(mailbox)
        while len(log) < 4:  # the interleaved task finishes on its own
            await asyncio.sleep(0.001)

    asyncio.run(main())
    assert log == ["start waits", "start opens", "end opens", "end waits"]


def test_a_serial_item_blocks_the_ones_behind_it() -> None:
    async def main() -> None:
        release = asyncio.Event()
        ran: list[str] = []

        async def process(item: str) -> None:
            ran.append(item)
            if item == "waits":
                await release.wait()

        mailbox: Mailbox[str] = Mailbox(process, lambda item: False)
        mailbox.put("waits")
        mailbox.put("next")
        await asyncio.sleep(0.02)
        assert ran == ["waits"]
        assert len(mailbox) == 1
        release.set()
        await _settle(mailbox)
        assert ran == ["waits", "next"]

    asyncio.run(main())


def test_startup_runs_once_before_the_first_item() -> None:
    log: list[str] = []

    async def startup() -> None:
        log.append("startup")
        await asyncio.sleep(0.005)

    async def process(item: str) -> None:
        log.append(item)

    async def main() -> None:
        mailbox: Mailbox[str] = Mailbox(process, lambda item: False, startup)
        mailbox.put("a")
        mailbox.put("b")
        await _settle(mailbox)
        mailbox.put("c")
        await _settle(mailbox)

    asyncio.run(main())
    assert log == ["startup", "a", "b", "c"]


def test_items_queued_behind_a_failing_item_are_still_processed() -> None:
    handled: list[str] = []

    async def process(item: str) -> None:
        await asyncio.sleep(0.001)
        if item == "bad":
            raise RuntimeError("process failed")
        handled.append(item)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: None)  # the failed drain task is expected
        mailbox: Mailbox[str] = Mailbox(process, lambda item: False)
        for item in ("bad", "after-1", "after-2"):
            mailbox.put(item)
        deadline = loop.time() + 0.5
        while len(handled) < 2 and loop.time() < deadline:
            await asyncio.sleep(0.005)

    asyncio.run(main())
    assert handled == ["after-1", "after-2"]


def test_blocked_time_counts_only_while_items_wait_behind_a_serial_one() -> None:
    async def process(item: float) -> None:
        await asyncio.sleep(item)

    async def main() -> Mailbox[float]:
        mailbox: Mailbox[float] = Mailbox(process, lambda item: False)
        mailbox.put(0.05)  # alone: holds the mailbox, blocks nobody
        await _settle(mailbox)
        assert mailbox.blocked_s(time.monotonic()) == 0.0
        mailbox.put(0.1)  # the next two wait behind it: blocked while it runs
        mailbox.put(0.0)
        mailbox.put(0.0)
        await _settle(mailbox)
        return mailbox

    mailbox = asyncio.run(main())
    assert 0.09 <= mailbox.blocked_s(time.monotonic()) < 0.2
    assert mailbox.peak == 3


def test_blocked_time_includes_the_stretch_under_way() -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def process(item: str) -> None:
            if item == "waits":
                await release.wait()

        mailbox: Mailbox[str] = Mailbox(process, lambda item: False)
        mailbox.put("waits")
        await asyncio.sleep(0.01)
        mailbox.put("behind")
        await asyncio.sleep(0.05)
        assert mailbox.blocked_s(time.monotonic()) >= 0.05
        release.set()
        await _settle(mailbox)

    asyncio.run(main())


def test_interleaving_items_block_nothing() -> None:
    async def process(item: float) -> None:
        await asyncio.sleep(item)

    async def main() -> Mailbox[float]:
        mailbox: Mailbox[float] = Mailbox(process, lambda item: True)
        for _ in range(5):
            mailbox.put(0.05)
        await asyncio.sleep(0.1)
        return mailbox

    mailbox = asyncio.run(main())
    assert mailbox.blocked_s(time.monotonic()) == 0.0
    assert mailbox.peak == 0


def test_work_done_while_items_wait_is_busy_not_blocked() -> None:
    async def process(item: float) -> None:
        until = time.monotonic() + item
        while time.monotonic() < until:  # works without awaiting anything
            pass

    async def main() -> Mailbox[float]:
        mailbox: Mailbox[float] = Mailbox(process, lambda item: False)
        for _ in range(3):
            mailbox.put(0.03)
        await _settle(mailbox)
        return mailbox

    mailbox = asyncio.run(main())
    assert mailbox.blocked_s(time.monotonic()) == 0.0
    assert mailbox.peak == 3
