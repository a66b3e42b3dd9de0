"""The gateway as a Ray Serve application: one deployment, its FastAPI app built on each replica, where the
replica makes its one bus connection to the PTO application's namespace."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from actors.org import Org

from .bus import Bus, connect_bus
from .routes import build_api
from .tokens import Tokens

__all__ = ["Gateway", "GatewaySettings", "gateway_app"]


@dataclass(frozen=True)
class GatewaySettings:
    """``namespace``: the bus the PTO application runs on; ``org_json``: its org; ``secret``: signs the
    tokens; ``demo``: hand out everyone's token at ``/v1/demo/people``; ``timeout``: seconds to wait for an
    agent's answer (then 504)."""

    namespace: str
    org_json: str
    secret: str
    credential: str  # the gateway's own principal in the namespace (service/gateway), granted by its admin
    demo: bool = True
    timeout: float = 10.0
    poll: float = 0.25


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=2000)
@serve.ingress()
class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings

    def __serve_build_asgi_app__(self) -> FastAPI:  # called by Serve on the replica, after __init__
        settings, org = self.settings, Org.model_validate_json(self.settings.org_json)
        bus = Bus(connect_bus(settings.namespace, settings.credential), settings.timeout)
        return build_api(bus, org, Tokens(settings.secret, org), settings.demo, settings.poll)


def gateway_app(settings: GatewaySettings, replicas: int = 1) -> Application:
    return Gateway.options(num_replicas=replicas).bind(settings)
