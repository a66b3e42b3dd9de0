"""DirectCalls: a call from an agent to an agent of another host, made host to host in one Ray call whose reply
is the answer — half the hops of the way through the bus (caller → bus → host, and the answer back the same way).

Both ends are a host. The sending host stamps the sender as for any send (``Host.send``); the receiving host
runs what the bus would: the sender must live at the calling host and the recipient here by its copy of the
routing table (which knows the moves to and from it), and the interceptors and the sampled trace run in the same
routing step (``Router``); a refusal is answered and dead-lettered as at the bus. It takes the call as it takes
one from the bus (``Intake``: a copy that comes both ways is handled once), and returns its answer in the reply.

A call goes direct only where that cannot change what the bus promises, and through the bus otherwise:
- Order. Only while its sender has nothing else on its way to the same recipient (no call unanswered, by any
  path) and no publish of its own not yet handled everywhere (the bus says ``Delivered`` for every agent's
  publish): nothing it sent before can be overtaken. A later call of the same pair waits for the direct one to
  come back, then goes its way (``behind``). An answer goes back in the reply only while nothing its agent sent
  before it is on its way; else through the bus, behind what it sent (as ``_linger.py`` does), and the reply says
  so once the bus has taken the answer (had this host died before, the caller sends the call again). Not kept: order
  between senders — a call host to host made once such an answer came can reach a third agent before the
  answering handler's publish does.
- Loss. The calling host keeps the call until the reply; if the other host dies, restarts, is stopped or does
  not take it (``None``: the recipient is not there, or is being handed over), the call goes through the bus,
  which has the one redelivery policy. A call the bus also gave the host (``by_bus``), or that left with its
  agent in a move, is answered through the bus (the reply says ``TAKEN_BY_BUS``).
- Side by side. Only to a serial handler: the calls behind a direct one wait for its answer, and a handler
  that runs beside the agent's others might be waiting for one of them (a latch's ``Wait`` for its ``Open``);
  behind a serial one they would have waited anyway.
- Where. Only to an agent active at the receiving host: the bus, which knows where agents are (a restarted host's
  table may not know yet that one was moved away), activates it with its first message.
- Load. Only while the sender's way to the bus is idle, and at most ``DIRECT_CALLS`` in flight from one host and
  waiting at one: under load the bus's batches carry many calls in one Ray call.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import ray

from ._errors import RaybusError
from ._handover import Handover
from ._outbox import Outbox
from ._processing import Processing
from ._router import Router
from ._routing import RoutingTable
from ._shards import BusOutboxes, shard_key
from ._tasks import spawn
from ._wire import Answer, Call, Publish, pack, unpack
from .constants import DIRECT_CALLS, DIRECT_HANDLES, DIRECT_RETRY, host_actor_name

__all__ = ["TAKEN_BY_BUS", "DirectCalls"]

TAKEN_BY_BUS = b""  # the reply to a call whose answer comes through the bus


class DirectHost(Protocol):
    name: str
    namespace: str
    table: RoutingTable
    to_bus: BusOutboxes
    router: Router
    processing: Processing
    handover: Handover
    pending: dict[str, asyncio.Future]
    via_bus: dict[str, Call]

    def route(self, message: Call, key: str | None = None) -> None: ...

    def accept_answer(self, answer: Answer) -> None: ...


class DirectCalls:
    def __init__(self, host: DirectHost, counts: Counter[str]) -> None:
        self._host = host
        self.counts = counts
        self._handles: dict[str, Any] = {}  # endpoint → its host actor, the last DIRECT_HANDLES used
        self._looking: set[str] = set()  # endpoints being looked up
        self._calls: dict[str, tuple[str, str]] = {}  # call id → (sender, recipient), until answered by any path
        self._pairs: Counter[tuple[str, str]] = Counter()
        self._publishes: dict[str, tuple[str, str]] = {}  # publish id → (publisher, topic), until ``Delivered``
        self._publishing: Counter[str] = Counter()
        self._outgoing: Counter[str] = Counter()  # agent → its calls and publishes above
        self._behind: dict[tuple[str, str], list[Call]] = {}  # a direct call's pair → later calls, in order
        self._direct: dict[str, tuple[str, str]] = {}  # the call id that holds them → its pair, until answered
        self._refusals: dict[str, float] = {}  # recipient → when its host last did not take a call for it
        self._in_flight = 0
        self.waiting: dict[str, asyncio.Future] = {}  # call id → the reply of another host waiting for its answer
        self.closed = False  # the bus is stopping this host: it takes nothing more

    # --- the sending host ---------------------------------------------------------------------
    def send(self, call: Call) -> bool:
        """A call of one of our agents to an agent elsewhere: True if it went (or waits) host to host."""
        pair = (call.sender, call.target)
        self.call_made(call)
        behind = self._behind.get(pair)
        if behind is not None:
            behind.append(call)
            return True
        table = self._host.table
        endpoint = table.known_endpoint_of(call.target)
        if (self._pairs[pair] > 1 or self._publishing[call.sender] or self._in_flight >= DIRECT_CALLS
                or endpoint is None or endpoint == self._host.name or self._refused(call.target)
                or not self._serial(call)  # the calls behind it could be the ones its handler waits for
                or table.home_of(call.sender) != self._host.name  # (another host's table knows no moves here)
                or not self._host.to_bus.for_key(call.target).idle):  # busy: the bus's batches carry more a call
            return False
        handle = self._handles.pop(endpoint, None)
        if handle is None:  # this one through the bus, while we look the host up (once)
            if endpoint not in self._looking:
                self._looking.add(endpoint)
                spawn(self._look_up(endpoint))
            return False
        self._handles[endpoint] = handle  # the most recently used last
        self._behind[pair] = []
        self._direct[call.id] = pair
        self._in_flight += 1
        spawn(self._call(endpoint, handle, call, pair))
        return True

    def call_made(self, call: Call) -> None:
        """A call of one of our agents within this host: counted until it is over (``settled``), like any."""
        if call.id not in self._calls:
            self._calls[call.id] = pair = (call.sender, call.target)
            self._pairs[pair] += 1
            self._outgoing[call.sender] += 1

    def published(self, publish: Publish) -> None:
        if publish.id not in self._publishes:
            self._publishes[publish.id] = (publish.sender, publish.topic)
            self._publishing[publish.sender] += 1
            self._outgoing[publish.sender] += 1

    def settled(self, message_id: str) -> None:
        """One of our agents' calls is over (answered, or its caller stopped waiting: ``Endpoint.send``), or
        ``Delivered`` came for one of their publishes."""
        pair = self._calls.pop(message_id, None)
        if pair is not None:
            _drop(self._pairs, pair)
            agent = pair[0]
            if self._direct.pop(message_id, None) is not None:  # handled: the calls behind it go their way
                self._release(pair)
        elif (published := self._publishes.pop(message_id, None)) is not None:
            agent = published[0]
            _drop(self._publishing, agent)
        else:
            return
        _drop(self._outgoing, agent)

    def bus_restarted(self, lost: Callable[[str, str], bool]) -> None:
        """A restarted bus shard lost our publishes that ``lost`` names (through it, and kept by no agent to go
        again): nothing is left of them to overtake."""
        for message_id in [publish_id for publish_id, (_, topic) in self._publishes.items() if lost(publish_id, topic)]:
            self.settled(message_id)

    async def _call(self, endpoint: str, handle: Any, call: Call, pair: tuple[str, str]) -> None:
        host = self._host
        try:
            reply = await handle.answer_direct.remote(host.name, pack([call]))
        except Exception:  # died, restarting, stopped or out of reach: the bus has the one redelivery policy
            self._handles.pop(endpoint, None)
            self.counts["direct_unreachable"] += 1
            reply = None
        finally:
            self._in_flight -= 1
        if reply is None:  # not taken: routed again, ahead of the calls behind it — in-process if it lives here
            self.counts["direct_through_bus"] += 1  # now, else through the bus (``_refused``)
            self._refusals[call.target] = time.monotonic()
            if len(self._refusals) > DIRECT_HANDLES:
                del self._refusals[next(iter(self._refusals))]
            if self._direct.pop(call.id, None) is not None:
                self._behind[pair].insert(0, call)
                self._release(pair)
        elif reply == TAKEN_BY_BUS:  # the calls behind it wait for its answer (``settled``)
            if call.id in host.pending:  # the bus sends it again if it restarts
                host.via_bus[call.id] = call
        else:
            self.counts["direct_calls"] += 1
            host.accept_answer(unpack(reply)[0])

    def _serial(self, call: Call) -> bool:
        try:
            return not self._host.table.interleaves(call.target, call.type_name)
        except Exception:  # its class does not load here: the bus, which needs none of it, takes the call
            return False

    def _refused(self, recipient: str) -> bool:
        """Did its host not take a call for it lately (it moved, or was busy)? Then the bus routes for a while."""
        refused = self._refusals.get(recipient)
        if refused is None:
            return False
        if time.monotonic() - refused < DIRECT_RETRY:
            return True
        del self._refusals[recipient]
        return False

    def _release(self, pair: tuple[str, str]) -> None:
        for later in self._behind.pop(pair, ()):
            self._host.route(later)

    async def _look_up(self, endpoint: str) -> None:
        try:
            self._handles[endpoint] = await asyncio.to_thread(ray.get_actor, host_actor_name(endpoint),
                                                              self._host.namespace)
        except Exception:  # not started yet (the bus starts it), or Ray out of reach: a later call looks again
            pass
        finally:
            self._looking.discard(endpoint)
        if len(self._handles) > DIRECT_HANDLES:
            del self._handles[next(iter(self._handles))]

    # --- the receiving host -------------------------------------------------------------------
    async def answer(self, origin: str, call: Call) -> bytes | None:
        """Take a call from another host as the bus would, and return its answer; None if it is not for here."""
        host = self._host
        table = host.table
        if (self.closed or len(self.waiting) >= DIRECT_CALLS or call.id in self.waiting
                or call.target not in host.processing.activations  # the bus activates: it knows where agents are
                or table.known_endpoint_of(call.target) != host.name or call.target in host.handover.holding
                or call.target in host.handover.leaving or table.known_endpoint_of(call.sender) != origin
                or call.expired(time.time())):
            self.counts["direct_refused"] += 1
            return None
        waiter = self.waiting[call.id] = asyncio.get_running_loop().create_future()
        try:
            _, call = host.router.call(call)
        except RaybusError as exc:  # refused by the step the bus would have run: answered and dead-lettered
            host.processing.ending.fail(call, exc, None)
        else:
            host.processing.take(call, (call.target,))
        try:
            answer = await waiter
        finally:
            self.waiting.pop(call.id, None)
        if answer is None:
            return TAKEN_BY_BUS
        self.counts["direct_answered"] += 1
        return pack([answer])

    def caught(self, answer: Answer, key: str | None) -> bool:
        """The answer of a call taken host to host goes back in that call's reply — but while something its
        agent sent before it is still on its way, it goes through the bus (shard ``key``) behind that, and the
        reply says so once the bus has it: the bus never gave it the call, so until then only the reply can
        tell the caller it is lost (this host died), and the caller sends the call again through the bus."""
        waiter = self.waiting.pop(answer.call_id, None)
        if waiter is None or waiter.done():
            return False
        if self._outgoing[answer.sender]:
            self.counts["direct_answers_through_bus"] += 1
            outbox = self._host.to_bus.for_key(key or shard_key(answer))
            outbox.put(answer)
            spawn(_reply_once_accepted(outbox, outbox.accepted(), waiter))
            return True
        waiter.set_result(answer)
        return True

    def by_bus(self, call_id: str) -> None:
        """The bus gave us this call too, or it left with its agent: its answer goes through the bus."""
        waiter = self.waiting.pop(call_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def _reply_once_accepted(outbox: Outbox, accepted: asyncio.Future, waiter: asyncio.Future) -> None:
    await outbox.until_accepted(accepted)
    if not waiter.done():
        waiter.set_result(None)


def _drop(counter: Counter, key: Any) -> None:
    """One less of ``key``; none left, no entry (the counters stay as small as what is under way)."""
    left = counter[key] - 1
    if left > 0:
        counter[key] = left
    else:
        counter.pop(key, None)
