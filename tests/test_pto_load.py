"""The load scenario's driver: never more than its concurrency in flight, whatever the agents' speed."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from test_pto import start

from cluster import Runtime
from scenarios._load import Recorder, drive
from scenarios._mix import request_mix


def test_the_driver_never_has_more_than_its_concurrency_in_flight(runtime: Runtime, tmp_path: Path) -> None:
    app = start(runtime, tmp_path)
    plan = request_mix(app.org, 120, seed=3)
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], runtime.stats()["driver"]["in_flight"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        recorder = Recorder(len(plan))
        asyncio.run(drive(lambda recipient, message: runtime.send(recipient, message, timeout=300), plan, 7,
                          recorder))
    finally:
        done.set()
        watcher.join()
    assert sum(recorder.outcomes.values()) == 120 and not recorder.errors
    assert 0 < peak[0] <= 7
