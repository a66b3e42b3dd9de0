"""Shared fixtures: one private local Ray for the session, a fresh runtime namespace per test."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

TESTS_DIR = str(Path(__file__).resolve().parent)
# Ray workers import this checkout (a worktree too), not whatever copy of the project pip installed
WORKER_PATH = os.pathsep.join([TESTS_DIR, str(Path(TESTS_DIR).parent)])
for _path in reversed(WORKER_PATH.split(os.pathsep)):  # the test process imports the same way
    if _path not in sys.path:
        sys.path.insert(0, _path)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """Start this session's own local Ray; never attach to another Ray running on the machine."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rb-", dir="/tmp")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=temp_dir,
        namespace="raybus-tests",
        runtime_env={"env_vars": {"PYTHONPATH": WORKER_PATH, "RAY_USAGE_STATS_ENABLED": "0"}},
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def runtime(ray_session: Any) -> Iterator[Any]:
    """A runtime on a fresh namespace, hence a fresh bus; its bus and hosts are destroyed afterwards."""
    from cluster import Runtime

    rt = Runtime.connect(namespace=f"t{uuid4().hex[:10]}")
    try:
        yield rt
    finally:
        rt.shutdown(destroy=True)


@pytest.fixture
def durable(ray_session: Any, state_location: str) -> Iterator[tuple[Any, str]]:
    """A runtime whose agents keep their state at ``state_location`` (a directory under ``tmp_path``, not there
    yet: the runtime makes it; or the session's PostgreSQL database), with a durable counter registered."""
    import sample_agents as sa

    from cluster import Runtime, Sharded

    rt = Runtime.connect(namespace=f"d{uuid4().hex[:10]}", state=state_location)
    rt.register("counter", sa.DurableCounter, placement=Sharded(1))
    try:
        yield rt, state_location
    finally:
        rt.shutdown(destroy=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the session (``tests/_postgres.py``); missing binaries fail the tests
    that need it, saying how to install them."""
    from _postgres import Postgres, PostgresMissing

    try:
        server = Postgres.start()
    except PostgresMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: Any) -> str:
    """The session's database on that server; tests keep apart by namespace (a schema each)."""
    return postgres_server.create_database("raybus")


@pytest.fixture(params=["sqlite", "postgresql"])
def state_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where durable state goes, once for each store: a directory (SQLite) or the session's database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "state")
    return request.getfixturevalue("postgres_url")


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with its last value after ``timeout``.
    Generous on purpose: it returns as soon as the condition holds, and a shared machine can be slow to start
    an actor (a 2 s limit failed under load)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def weekdays_from(start: date, n: int) -> list[date]:
    """``n`` consecutive Monday-to-Friday days from ``start`` (holidays not excluded: stores do not know them)."""
    days, day = [], start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class GatewayUnderTest:
    """The PTO gateway served by Ray Serve over real HTTP, in front of the PTO app of test_pto's hand-built org
    (whose review rule lets one day through on its own: two days wait for the manager)."""

    url: str
    org: Any
    tokens: Any
    rt: Any

    def token(self, subject: str) -> str:
        from gateway import Person

        kind, _, key = subject.partition("/")
        return self.tokens.issue(Person(kind, key))

    def headers(self, subject: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject)}", **more}


def serve_pto(rt: Any, tmp_path: Path, port: int, name: str, route_prefix: str, **settings: Any) -> GatewayUnderTest:
    """Register the PTO app on ``rt`` and deploy a gateway for it at ``route_prefix`` of the Serve on ``port``."""
    from ray import serve
    from test_pto import ORG

    from actors.app import register_pto
    from actors.org import Org
    from actors.policy import GATEWAY_SERVICE
    from gateway import GatewaySettings, Tokens, gateway_app

    org = Org.model_validate(ORG | {"today": "2026-11-24", "review": {"auto_approve_days": 1}})
    register_pto(rt, org, tmp_path / "hr", hosts=1)
    gateway = GatewaySettings(namespace=rt.namespace, org_json=org.model_dump_json(),
                              credential=rt.grant(GATEWAY_SERVICE),
                              secret="s" * 32, **settings)
    serve.run(gateway_app(gateway), name=name, route_prefix=route_prefix)
    return GatewayUnderTest(f"http://127.0.0.1:{port}{route_prefix.rstrip('/')}", org, Tokens(gateway.secret, org),
                            rt)


@pytest.fixture(scope="session")
def serve_http(ray_session: Any) -> Iterator[int]:
    """Ray Serve's HTTP proxy on a free local port, for the session."""
    import socket

    from ray import serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        yield port
    finally:
        serve.shutdown()


@pytest.fixture(scope="session")
def pto_gateway(serve_http: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayUnderTest]:
    from cluster import Runtime

    rt = Runtime.connect(namespace=f"gw{uuid4().hex[:10]}")
    try:
        yield serve_pto(rt, tmp_path_factory.mktemp("gateway"), serve_http, "pto", "/")
    finally:
        rt.shutdown(destroy=True)
