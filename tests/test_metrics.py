"""The dashboard counters' own bookkeeping; the Ray metric behind them is replaced by a recorder."""

from __future__ import annotations

import asyncio

from cluster import DeltaCounter


class RecordedMetric:
    def __init__(self) -> None:
        self.calls: list[tuple[float, dict[str, str]]] = []

    def inc(self, value: float, tags: dict[str, str]) -> None:
        self.calls.append((value, tags))


def counter() -> tuple[DeltaCounter, RecordedMetric]:
    delta = DeltaCounter("raybus_test_events", "events in a test", ("status", "reason"))
    delta._metric = recorded = RecordedMetric()
    return delta, recorded


async def _count(delta: DeltaCounter, *tags: tuple[str, str]) -> None:
    for status, reason in tags:
        delta.inc(status=status, reason=reason)


def test_export_sends_each_tag_set_its_count_since_the_last_export() -> None:
    delta, recorded = counter()
    asyncio.run(_count(delta, ("approved", ""), ("approved", ""), ("rejected", "overlap")))
    delta.export()
    asyncio.run(_count(delta, ("approved", "")))
    delta.export()
    approved, overlap = {"reason": "", "status": "approved"}, {"reason": "overlap", "status": "rejected"}
    assert recorded.calls == [(2, approved), (1, overlap), (1, approved)]


def test_export_with_nothing_new_sends_nothing() -> None:
    delta, recorded = counter()
    asyncio.run(_count(delta, ("approved", "")))
    delta.export()
    delta.export()
    assert len(recorded.calls) == 1
