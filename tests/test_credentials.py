"""Credentials (cluster/_credentials.py) and the connections they open: the store on its own, then on a real
(private, local) Ray — the admin handed out once, principals bound per connection, revocation on every shard,
and credentials that outlive a bus restart with a state_dir."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import ray
import sample_agents as sa

from cluster import AgentId, NotAuthorized, Principal, Runtime, Sharded, is_postgres
from cluster._credentials import Credentials
from cluster._runtime import _bus_shard
from cluster.constants import shard_of

SERVICE = Principal.service("loadgen")


# --- the store ---------------------------------------------------------------------------------------


def test_the_admin_credential_is_handed_out_once() -> None:
    credentials = Credentials(None, restarted=False)
    admin = credentials.issue_admin()
    assert credentials.principal_of(admin) == "admin"
    assert credentials.issue_admin() is None


def test_a_granted_credential_names_its_principal_and_no_credential_is_anonymous() -> None:
    credentials = Credentials(None, restarted=False)
    assert credentials.principal_of(credentials.grant(SERVICE)) == "service/loadgen"
    assert credentials.principal_of(None) == "anonymous"
    assert credentials.principal_of("a guess") is None


def test_revoking_a_principal_forgets_every_credential_it_had() -> None:
    credentials = Credentials(None, restarted=False)
    first, second, other = credentials.grant(SERVICE), credentials.grant(SERVICE), credentials.grant("user/e1")
    assert credentials.revoke(SERVICE) == 2
    assert [credentials.principal_of(c) for c in (first, second, other)] == [None, None, "user/e1"]


def test_the_admin_cannot_be_revoked_nor_anonymous_granted() -> None:
    credentials = Credentials(None, restarted=False)
    with pytest.raises(ValueError, match="admin principal cannot be revoked"):
        credentials.revoke(Principal.parse("admin"))
    with pytest.raises(ValueError, match=r"anonymous .* is not granted"):
        credentials.grant(Principal.parse("anonymous"))


def test_only_hashes_are_stored_owner_only_and_read_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ns.credentials"
    credentials = Credentials(path, restarted=False)
    admin, service = credentials.issue_admin(), credentials.grant(SERVICE)
    stored = path.read_text()
    assert admin not in stored and service not in stored
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = Credentials(path, restarted=True)
    assert (back.principal_of(admin), back.principal_of(service), back.issue_admin()) == ("admin", str(SERVICE), None)
    assert json.loads(stored)["admin_issued"] is True


def test_a_restart_with_nothing_stored_never_hands_out_the_admin_credential() -> None:
    assert Credentials(None, restarted=True).issue_admin() is None


# --- connections, on Ray -----------------------------------------------------------------------------


def test_the_first_driver_is_the_admin_and_later_ones_without_a_credential_are_anonymous(runtime: Runtime) -> None:
    later = Runtime.connect(namespace=runtime.namespace)
    assert (runtime.principal, later.principal, later.credential) == (Principal("admin"), Principal("anonymous"),
                                                                      None)
    same = Runtime.connect(namespace=runtime.namespace, credential=runtime.credential)
    assert same.principal == Principal("admin")


def test_concurrent_first_connections_get_one_admin_credential_between_them(ray_session: Any) -> None:
    namespace = f"c{uuid4().hex[:10]}"
    bus = _bus_shard(namespace, 0).remote(namespace, None, 100, 0, 1)
    try:
        joined = ray.get([bus.join.remote(f"session{i}", None) for i in range(20)])
        assert sorted(principal for principal, _ in joined) == ["admin"] + ["anonymous"] * 19
        assert len([issued for _, issued in joined if issued]) == 1
    finally:
        ray.kill(bus, no_restart=True)


@pytest.fixture
def two_shards(ray_session: Any) -> Iterator[Runtime]:
    rt = Runtime.connect(namespace=f"c{uuid4().hex[:10]}", shards=2)
    rt.register("counter", sa.Counter, placement=Sharded(1))
    try:
        yield rt
    finally:
        rt.shutdown(destroy=True)


def test_a_revoked_principal_is_cut_off_on_every_shard(two_shards: Runtime) -> None:
    driver = Runtime.connect(namespace=two_shards.namespace, credential=two_shards.grant(SERVICE))
    counters = [next(AgentId("counter", f"c{i}") for i in range(50) if shard_of(f"counter/c{i}", 2) == shard)
                for shard in (0, 1)]

    async def add_to_each() -> list[Any]:
        return await asyncio.gather(*(driver.send(c, sa.Add(amount=1), timeout=30) for c in counters),
                                    return_exceptions=True)

    assert [total.value for total in asyncio.run(add_to_each())] == [1, 1]
    two_shards.revoke(SERVICE)
    refused = asyncio.run(add_to_each())
    assert all(isinstance(error, NotAuthorized) for error in refused), refused
    assert [two_shards.inspect(c, "get_count") for c in counters] == [1, 1]


def test_credentials_and_connections_outlive_a_bus_restart_with_a_state_dir(
        durable: tuple[Runtime, Path]) -> None:
    rt, state_dir = durable
    credential = rt.grant(SERVICE)
    driver = Runtime.connect(namespace=rt.namespace, credential=credential)
    counter = AgentId("counter", "c1")
    assert asyncio.run(driver.send(counter, sa.Add(amount=2), timeout=30)).value == 2

    ray.kill(rt._bus, no_restart=False)

    # one attempt: the driver's connection is bound again, by its credential, at the restarted shard
    assert asyncio.run(driver.send(counter, sa.Add(amount=3), timeout=90)).value == 5
    assert rt.inspect(counter, "get_count") == 5  # and the admin's, for the control plane
    assert Runtime.connect(namespace=rt.namespace, credential=credential).principal == SERVICE
    assert Runtime.connect(namespace=rt.namespace).principal == Principal("anonymous")  # admin: never again
    if not is_postgres(state_dir):
        assert credential not in (Path(state_dir) / f"{rt.namespace}.credentials").read_text()


def test_the_runtime_refuses_to_revoke_the_admin_saying_why(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match=r"^the admin principal cannot be revoked"):
        runtime.revoke("admin")
    assert Runtime.connect(namespace=runtime.namespace, credential=runtime.credential).principal == Principal("admin")
