"""The load run over HTTP: the same request mix through the gateway on Ray Serve, with an async HTTP client
(aiohttp: httpx's pool measured ~45 no-op requests/s at 200 connections here, its own cost, not the server's),
and a no-op Serve endpoint (FastAPI ingress too, behind the same proxy) driven the same way as its baseline."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from fastapi import FastAPI
from ray import serve

from actors.messages import RequestOutcome
from actors.org import Org
from actors.policy import GATEWAY_SERVICE
from cluster import Runtime
from gateway import GatewaySettings, Person, Tokens, gateway_app

from ._load import Recorder, drive, keep_busy
from ._mix import PlannedRequest

__all__ = ["HttpRefused", "NoOp", "Served", "drive_http", "noop_rate", "served"]

class HttpRefused(Exception):
    """The gateway answered a planned request with an error status (counted by the recorder, by this name)."""


noop_api = FastAPI()


@noop_api.post("/")
async def noop(body: dict[str, Any]) -> dict[str, str]:
    """Takes a JSON body and answers JSON, as the gateway's POST does, and does nothing else."""
    return {"status": "ok"}


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=2000)
@serve.ingress(noop_api)
class NoOp:
    """The baseline: what Serve's proxy and a FastAPI replica cost per request, with no application behind."""


@dataclass(frozen=True)
class Served:
    gateway: str  # base URL of the PTO API
    noop: str  # URL of the no-op endpoint
    tokens: Tokens


@contextmanager
def served(rt: Runtime, org: Org, replicas: int = 1) -> Iterator[Served]:
    """The gateway for ``rt``'s PTO application and the no-op endpoint, behind Serve's proxy on a free local
    port (Serve started here: run on a Ray this process started), removed afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    settings = GatewaySettings(namespace=rt.namespace, org_json=org.model_dump_json(),
                               credential=rt.grant(GATEWAY_SERVICE),
                               secret=secrets.token_urlsafe(32), demo=False, timeout=300.0)
    serve.run(gateway_app(settings, replicas), name="pto-load", route_prefix="/pto")
    serve.run(NoOp.bind(), name="noop", route_prefix="/noop")
    try:
        yield Served(f"http://127.0.0.1:{port}/pto", f"http://127.0.0.1:{port}/noop/", Tokens(settings.secret, org))
    finally:
        serve.delete("pto-load")
        serve.delete("noop")


def _client(concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                 timeout=aiohttp.ClientTimeout(total=300))


async def noop_rate(url: str, requests: int, concurrency: int) -> float:
    """Requests per second the no-op endpoint answers at ``concurrency``."""
    async with _client(concurrency) as client:
        async def one(_: int) -> None:
            async with client.post(url, json={"text": "next Thursday and Friday"}) as answer:
                answer.raise_for_status()
                await answer.read()

        return requests / await keep_busy(concurrency, list(range(requests)), one)


async def drive_http(url: str, org: Org, tokens: Tokens, plan: list[PlannedRequest], concurrency: int,
                     recorder: Recorder) -> float:
    """Each planned request POSTed as its employee with its id as the Idempotency-Key; one that waits is
    decided as its manager, as planned, through the decision route. Returns the wall time."""
    bearer = {who: {"Authorization": f"Bearer {tokens.issue(Person(kind, key))}"}
              for kind, keys in (("employee", org.employees), ("manager", org.managers)) for key in keys
              for who in (f"{kind}/{key}",)}

    async with _client(concurrency) as client:
        return await drive(lambda planned: _request(client, url, planned, bearer, org, recorder), plan, concurrency,
                           recorder)


async def _post(client: aiohttp.ClientSession, url: str, body: dict[str, Any],
                headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with client.post(url, json=body, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None)


async def _request(client: aiohttp.ClientSession, url: str, planned: PlannedRequest,
                   bearer: dict[str, dict[str, str]], org: Org, recorder: Recorder) -> RequestOutcome:
    headers = bearer[f"employee/{planned.employee}"] | {"Idempotency-Key": planned.request_id}
    status, found = await _post(client, f"{url}/v1/pto-requests", {"text": planned.text}, headers)
    if status == 422 and found["errors"][0]["field"] == "text":
        return RequestOutcome(request_id=planned.request_id, employee=planned.employee, status="rejected",
                              reason="invalid_dates")
    if status != 202:
        raise HttpRefused(f"POST {planned.request_id}: {status} {found.get('detail')}")
    if found["status"] == "waiting":
        recorder.reviewed += 1
        status, found = await _post(client, f"{url}/v1/pto-requests/{found['id']}/decision",
                                    {"approve": planned.approve, "reason": "" if planned.approve else "no"},
                                    bearer[f"manager/{org.manager_of(planned.employee)}"])
        if status != 200:
            raise HttpRefused(f"decision on {planned.request_id}: {status} {found.get('detail')}")
    return RequestOutcome(request_id=found["id"], employee=planned.employee, status=found["status"],
                          reason=found["reason"])
