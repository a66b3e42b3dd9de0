"""PublishTracking: a bus shard's count of the copies of each agent's publish still outstanding.

A host hears ``Delivered`` once every copy of its agent's publish is handled: a publish the agent kept (durable)
is forgotten then, and the agent's calls may go host to host again (``_direct.py``). A copy is outstanding
while it is kept for a host (copies joined there count as one) or waits for a move. Copies are counted where
they are made and ended, each once; a publish fanned out again (a restarted shard) is tracked anew, and a copy
counted under the old tracking no longer moves the new one's count."""

from __future__ import annotations

from collections.abc import Callable

from ._wire import Delivered, Publish

__all__ = ["PublishTracking", "Tracked"]


class Tracked:
    """One publish being fanned out: who published it, from which host, and its copies outstanding."""

    __slots__ = ("host", "outstanding", "publisher")

    def __init__(self, host: str, publisher: str | None) -> None:
        self.host, self.publisher = host, publisher
        self.outstanding = 0


class PublishTracking:
    def __init__(self, tell: Callable[[str, Delivered], None]) -> None:
        self._tell = tell  # puts a Delivered in a host's outbox
        self._tracked: dict[str, Tracked] = {}

    def __len__(self) -> int:
        return len(self._tracked)

    def __contains__(self, publish_id: str) -> bool:
        return publish_id in self._tracked

    def track(self, host: str | None, publish: Publish) -> None:
        """Before the fan-out, which counts the copies (``added``); ``settle`` after it."""
        if host is not None and publish.sender is not None:
            self._tracked[publish.id] = Tracked(host, publish.sender)

    def of(self, publish_id: str) -> Tracked | None:
        """The tracking a copy made now is counted in (None: its publish is not tracked)."""
        return self._tracked.get(publish_id)

    def added(self, tracked: Tracked | None) -> None:
        """One more copy outstanding."""
        if tracked is not None:
            tracked.outstanding += 1

    def ended(self, publish_id: str, counted: Tracked | None) -> None:
        """A copy counted in ``counted`` is outstanding no more (if that is still its publish's tracking)."""
        if counted is not None and self._tracked.get(publish_id) is counted:
            counted.outstanding -= 1

    def parked(self, publish_id: str, copies: int = 1) -> None:
        """Copies waiting for a move: outstanding until given to the agents' new host."""
        if (tracked := self._tracked.get(publish_id)) is not None:
            tracked.outstanding += copies

    def settle(self, publish_id: str) -> None:
        """Once no copy of a tracked publish is outstanding, its publisher's host hears ``Delivered``."""
        tracked = self._tracked.get(publish_id)
        if tracked is not None and tracked.outstanding <= 0:
            del self._tracked[publish_id]
            self._tell(tracked.host, Delivered(publish_id, tracked.publisher))

    def forget(self, publish_id: str) -> None:
        """A copy was given up: the publish is never reported handled, so its publisher keeps it."""
        self._tracked.pop(publish_id, None)
