"""Server-sent events of one request: each status it has had, numbered from 1 in the order it had them, until
the terminal one. A client that reconnects with ``Last-Event-ID: n`` gets the statuses after the n-th."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from actors.queries import RequestView

__all__ = ["TERMINAL", "status_events"]

TERMINAL = frozenset({"approved", "rejected", "cancelled"})
KEEP_ALIVE = 15.0  # seconds between comments on a quiet stream, so proxies keep it open


def _event(number: int, status: str, view: RequestView) -> str:
    data = {"id": view.request_id, "status": status, "final": status == view.status and status in TERMINAL}
    if status == view.status:  # the latest: with what is known of it now
        data |= {"reason": view.reason, "detail": view.detail, "days": [d.isoformat() for d in view.days]}
    return f"id: {number}\nevent: status\ndata: {json.dumps(data)}\n\n"


async def status_events(first: RequestView, fetch: Callable[[], Awaitable[RequestView]], after: int, poll: float,
                        longest: float) -> AsyncIterator[str]:
    """The events after the ``after``-th, from ``first`` and then from ``fetch`` every ``poll`` seconds, until
    the terminal status has been sent or ``longest`` seconds have gone (the client then reconnects)."""
    view, sent, quiet_since, ends = first, after, time.monotonic(), time.monotonic() + longest
    while True:
        for number, status in enumerate(view.history[sent:], start=sent + 1):
            yield _event(number, status, view)
            quiet_since = time.monotonic()
        sent = max(sent, len(view.history))
        if view.status in TERMINAL or time.monotonic() > ends:  # every status so far is sent
            return
        if time.monotonic() - quiet_since > KEEP_ALIVE:
            yield ": still waiting\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(poll)
        view = await fetch()
