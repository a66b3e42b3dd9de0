"""The load scenarios' resource watch: CPU seconds of the timed part alone."""

from __future__ import annotations

from typing import Any

from scenarios._load import ResourceWatch


class _Figures:
    """What ``Runtime.stats`` says of the bus and the hosts, their CPU counted from each process's start."""

    def __init__(self) -> None:
        self.cpu = {"bus": 10.0, "pool:a.0": 20.0}

    def stats(self) -> dict[str, Any]:
        return {"bus": {"cpu_s": self.cpu["bus"]},
                "hosts": {name: {"cpu_s": cpu} for name, cpu in self.cpu.items() if name != "bus"}}


def test_cpu_is_counted_from_the_first_sample_and_a_process_seen_later_counts_whole() -> None:
    figures = _Figures()
    watch = ResourceWatch(figures)  # type: ignore[arg-type]
    watch.sample()
    figures.cpu = {"bus": 12.5, "pool:a.0": 21.0, "pool:a.1": 3.0}
    watch.sample()
    found = watch.cpu_seconds()
    assert (found["bus"], found["pool:a.0"], found["pool:a.1"]) == (2.5, 1.0, 3.0)
