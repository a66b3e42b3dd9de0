"""The load scenario's drivers: never more than its concurrency in flight, whatever the agents' speed; over
HTTP, the same mix through the real gateway, and the no-op baseline."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
from conftest import serve_pto
from ray import serve
from test_pto import start

from actors.invariants import check, collect
from cluster import Runtime
from scenarios._http_load import NoOp, drive_http, noop_rate
from scenarios._mix import request_mix
from scenarios.pto_load import Recorder, drive_bus


def test_the_driver_never_has_more_than_its_concurrency_in_flight(runtime: Runtime, tmp_path: Path) -> None:
    app = start(runtime, tmp_path)
    plan = request_mix(app.org, 120, seed=3)
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], app.service.stats()["driver"]["in_flight"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        recorder = Recorder(len(plan))
        asyncio.run(drive_bus(app.service, app.org, plan, 7, recorder))  # as the PTO service, as the scenario sends
    finally:
        done.set()
        watcher.join()
    assert sum(recorder.outcomes.values()) == 120 and not recorder.errors
    assert 0 < peak[0] <= 7


def test_the_http_driver_sends_the_mix_through_the_gateway_and_decides_what_waits(
        runtime: Runtime, serve_http: int, tmp_path: Path) -> None:
    gw = serve_pto(runtime, tmp_path, serve_http, "pto-load-test", "/load", timeout=60.0)  # its own balances
    assert httpx.get(f"{gw.url}/readyz", timeout=60).status_code == 200  # the hosts started: a busy machine is slow
    plan = request_mix(gw.org, 24, seed=11, review_share=0.4)
    recorder = Recorder(len(plan))
    try:
        asyncio.run(drive_http(gw.url, gw.org, gw.tokens, plan, 6, recorder))
    finally:
        serve.delete("pto-load-test")

    assert sum(recorder.outcomes.values()) == 24 and not recorder.errors and recorder.reviewed > 0
    runtime.settle(60)
    results = check(gw.org, collect(runtime, gw.org), {f"{p.employee}.{p.request_id}": p.employee for p in plan})
    assert [r for r in results if not r.ok] == []


def test_the_noop_baseline_answers_every_request_it_sends(serve_http: int) -> None:
    serve.run(NoOp.bind(), name="noop", route_prefix="/noop")
    try:
        assert asyncio.run(noop_rate(f"http://127.0.0.1:{serve_http}/noop/", 20, 5)) > 0
    finally:
        serve.delete("noop")
