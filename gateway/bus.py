"""The gateway's way to the agents: one bus connection, and the runtime's refusals as HTTP problems."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cluster import AgentId, Backpressure, BusUnavailable, DeliveryTimeout, NotAuthorized, Runtime

from .problems import Problem

__all__ = ["Bus", "connect_bus"]

RETRY_AFTER = "1"  # seconds: the send window drains in well under that on this application's flows


def connect_bus(namespace: str, credential: str) -> Runtime:
    """The gateway's one connection to the bus, bound to the gateway's own principal (``service/gateway``, a
    service granted to act for employees): everything it asks of the agents goes through it, after it checked
    the person's token itself."""
    return Runtime.connect(namespace=namespace, credential=credential)


class Bus:
    """Asks an agent through the connection, within ``timeout`` seconds, and turns what the runtime says
    into problems: backpressure → 429 with ``Retry-After``, no answer in time → 504, a bus restarting →
    503, the agent's own refusal → 403."""

    def __init__(self, runtime: Runtime, timeout: float) -> None:
        self.runtime = runtime
        self.timeout = timeout

    async def ask(self, agent: AgentId, message: BaseModel) -> Any:
        try:
            return await self.runtime.send(agent, message, timeout=self.timeout)
        except Backpressure as exc:
            raise Problem(429, "Too many requests", f"the application is at capacity: {exc}",
                          headers={"Retry-After": RETRY_AFTER}) from None
        except DeliveryTimeout as exc:
            raise Problem(504, "Gateway timeout", f"no answer within {self.timeout:g}s: {exc}") from None
        except BusUnavailable as exc:
            raise Problem(503, "Service unavailable", str(exc), headers={"Retry-After": RETRY_AFTER}) from None
        except NotAuthorized as exc:
            raise Problem(403, "Forbidden", str(exc)) from None
