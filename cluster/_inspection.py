"""Inspection at the bus: a method the agents' classes mark ``@inspectable`` (``Runtime.inspect``, the admin's
alone), asked of each agent where it lives, queued behind its messages (``Host.inspect``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Container
from typing import TYPE_CHECKING, Any

from ._errors import AgentMoved, InvalidMessage
from .constants import MOVE_WAIT

if TYPE_CHECKING:
    from ._links import HostLinks
    from ._routing import RoutingTable

__all__ = ["inspect_agents"]


async def inspect_agents(links: HostLinks, table: RoutingTable, moving: Container[str], agent_ids: list[str],
                         name: str, args: tuple, keep: bool = True) -> list[Any]:
    """With JSON arguments (the hosts check the mark): one call per host, the answers in the order of
    ``agent_ids``. An agent being moved (in ``moving``) is asked once it arrives; one a host no longer has (it
    moved meanwhile) is asked again where it went, for at most twice ``MOVE_WAIT``. ``keep=False``: agents the
    inspection woke go again once it is done (``Host.inspect``)."""
    try:
        json.dumps(args)
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"inspect {', '.join(agent_ids[:3])} {name}: arguments must be plain JSON values "
                             f"({exc})") from None
    answers: list[Any] = [None] * len(agent_ids)
    pending = list(range(len(agent_ids)))
    deadline = time.monotonic() + 2 * MOVE_WAIT
    while True:
        by_host: dict[str, list[int]] = {}
        later = []
        for index in pending:
            if agent_ids[index] in moving:
                later.append(index)
            else:
                by_host.setdefault(table.endpoint_of(agent_ids[index]), []).append(index)
        found = await asyncio.gather(*(links.actors.get(endpoint).inspect.remote(
            [agent_ids[i] for i in indexes], name, args, keep) for endpoint, indexes in by_host.items()))
        for indexes, (values, elsewhere) in zip(by_host.values(), found, strict=True):
            for index, value in zip(indexes, values, strict=True):
                answers[index] = value
            later.extend(indexes[i] for i in elsewhere)
        if not later:
            return answers
        if time.monotonic() > deadline:
            raise AgentMoved(f"inspect {agent_ids[later[0]]}: it kept moving for {2 * MOVE_WAIT:g}s")
        pending = later
        await asyncio.sleep(0.05)
