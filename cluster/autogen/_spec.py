"""What a raybus wrapper agent needs to know about its AutoGen type: it travels in the type's config."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ray import cloudpickle

__all__ = ["TypeSpec", "spec_of"]


@dataclass
class TypeSpec:
    namespace: str
    agent_type: str
    factory: Any = None  # None for an agent that runs in the registering process
    expected_class: type | None = None
    interventions: list[Any] = field(default_factory=list)
    durable: bool = False
    send_timeout: float = 600.0
    inbox: str = ""  # the registering process's inbox actor, for local agents

    def to_config(self) -> dict[str, str]:
        return {"autogen": base64.b64encode(cloudpickle.dumps(self)).decode()}


@lru_cache(maxsize=1024)
def _spec(blob: str) -> TypeSpec:
    return cloudpickle.loads(base64.b64decode(blob))


def spec_of(config: dict[str, Any]) -> TypeSpec:
    return _spec(config["autogen"])
