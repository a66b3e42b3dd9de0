"""What every PTO agent reads from its registered config: the org, shared per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .org import Org

__all__ = ["org_of"]


@lru_cache(maxsize=4)
def _parse(org_json: str) -> Org:
    return Org.model_validate_json(org_json)


def org_of(config: dict[str, Any]) -> Org:
    """The org an agent type was registered with; parsed once per process, not per agent."""
    return _parse(config["org"])
