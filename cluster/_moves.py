"""Moves: the bus's side of putting an agent next to the agents it talks to.

A move of agent A from host X to host Y, in the order that keeps every delivery promise:

1. The bus stops routing A's messages: from now on they wait here, in the order they came (``park``).
2. It asks X to hand A over (``Move``, in X's outbox: after everything it gave X before). X holds its own
   agents' calls to A and pauses A's mailbox; once A's serial handler under way is over and A holds nothing
   but its queue (``_handover.py``), X stores A's state (durable) or takes it along (in memory), drops the
   activation and says ``Moved`` with A's queued messages, then sends the calls it held through the bus. If
   that does not come within ``MOVE_WAIT``, X keeps A and says ``Stayed``.
3. On ``Moved`` the table says A is at Y; Y hears ``Adopt`` (with the state A carries), then A's queued
   messages, then those that waited here, in order; A starts at Y on the first. On ``Stayed`` they go to X.

A host that restarts during a move is asked again (its agent came back from the store, or afresh), so a move
always ends. The planner (``_locality.plan``) picks the moves from the calls the hosts counted; an operator can
move an agent too (``Runtime.move``). Moves need one bus shard: with several, a move would have to stop every
shard's routing of the agent at once, and the runtime does not move agents then."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import ray

from ._locality import MovePlan, Traffic, plan
from ._tasks import spawn
from ._wire import Adopt, Call, Copy, Move, Moved, Publish, Stayed
from .constants import FIND_WAIT, HOST_RETIRE_AFTER, MOVE_LEAST, MOVE_LIMIT, MOVE_REST, MOVE_RETRY, MOVE_TICK

if TYPE_CHECKING:
    from ._links import HostLinks
    from ._routing import RoutingTable

__all__ = ["Mover"]

log = logging.getLogger("raybus.moves")


class _Moving:
    __slots__ = ("parked", "source", "to")

    def __init__(self, source: str, to: str) -> None:
        self.source, self.to = source, to
        self.parked: list[Call | Copy] = []  # what came for the agent meanwhile, in order


class Mover:
    def __init__(self, table: Callable[[], RoutingTable], links: HostLinks, counts: Counter[str],
                 planning: bool) -> None:
        self._table = table
        self.links = links
        self.counts = counts
        self.moving: dict[str, _Moving] = {}
        self.left: dict[str, str] = {}  # agent → the host that handed it over, whose Moved may come again (restarted)
        self.unsure: dict[str, set[str]] = {}  # agent → hosts that did not answer a restarted bus and may have it
        self.traffic = Traffic()
        self.resting: dict[str, float] = {}  # agent → when it may move again
        self.idle_since: dict[str, float] = {}  # host → since when it said it is idle, at every look
        self.planning = planning
        self._planner: asyncio.Task | None = None

    def begin(self) -> None:
        """Start planning (once the bus's loop runs)."""
        if self.planning and self._planner is None:
            self._planner = spawn(self._plan_moves())

    # --- a move ---------------------------------------------------------------------------------
    def asked(self, moves: list[tuple[str, str]]) -> list[bool]:
        """Moves a user asked for: each agent's placement must be the runtime's, each host a host's name. Which
        moves began."""
        table = self._table()
        for agent, to in moves:
            placement = table.spec_of(agent.partition("/")[0]).placement
            if not placement.movable:
                raise ValueError(f"move {agent}: its placement ({placement}) is the user's choice, and it stays")
            if not to.startswith(("pool:", "agent:")):
                raise ValueError(f"move {agent} to {to!r}: a host is 'pool:<pool>.<n>' or 'agent:<type>/<key>'")
        return [self.start(agent, to) for agent, to in moves]

    def moved_for(self, endpoint: str, restarted: bool) -> dict[str, str]:
        """The agents placed at ``endpoint`` that were moved away, and when it restarted those moved to it."""
        table = self._table()
        return {agent: to for agent, to in table.moved.items()
                if table.home_of(agent) == endpoint or (restarted and to == endpoint)}

    def start(self, agent: str, to: str) -> bool:
        """Begin moving ``agent`` to the host ``to``; False if it is there already or on its way somewhere."""
        source = self._table().endpoint_of(agent)
        if agent in self.moving or source == to:
            return False
        self.moving[agent] = _Moving(source, to)
        self.links.actors.get(to)  # started now, so that it is up by the time the agent arrives
        self.links.outbox(source).put(Move(agent, to))
        self.counts["moves_started"] += 1
        return True

    def under_way(self, agent: str, source: str, to: str) -> None:
        """A restarted bus heard that ``source`` is handing ``agent`` over to ``to`` (its ``Moved`` is on the way
        again): the move goes on as if this bus had asked for it."""
        self.moving[agent] = _Moving(source, to)

    def holds(self, origin: str, agent: str) -> bool:
        """Does ``origin`` send as ``agent`` by right: the agent lives there, or (restarted) had just left it when
        the messages that come again from there were sent, or may live there (``find``)?"""
        return (self._table().known_endpoint_of(agent) == origin or self.left.get(agent) == origin
                or origin in self.unsure.get(agent, ()))

    def find(self, agent: str, to: str, hosts: set[str]) -> None:
        """A restarted bus's relearning: ``agent`` went to ``to`` (its home host says), ``to`` does not have it,
        and ``hosts`` did not answer (if any): one of them may have it (it moved on), or its ``Adopt`` died with
        the old bus. Its messages wait until each of ``hosts`` has said which agents it has (``heard_from``), or for
        ``FIND_WAIT``; then ``to`` adopts it. Adopted at once, it could run on two hosts."""
        self.moving[agent] = _Moving("", to)
        self.unsure[agent] = set(hosts)
        if hosts:
            spawn(self._stop_finding(agent))
        else:  # every host answered: nowhere else to find it
            self._adopt_where_it_went(agent)

    def heard_from(self, endpoint: str, here: Iterable[str]) -> None:
        """A host said which agents were moved to it (``host_up``): one being found is there; one it was waiting
        for this host to say is adopted where it went once no other host is left to say."""
        for agent in here:
            if self.unsure.pop(agent, None) is not None:
                self._table().place(agent, endpoint)
                self._release(self.moving.pop(agent), endpoint)
                self.counts["agents_found_after_restart"] += 1
        for agent, waiting in list(self.unsure.items()):
            waiting.discard(endpoint)
            if not waiting:
                self._adopt_where_it_went(agent)

    async def _stop_finding(self, agent: str) -> None:
        await asyncio.sleep(FIND_WAIT)
        if agent in self.unsure:
            self._adopt_where_it_went(agent)

    def _adopt_where_it_went(self, agent: str) -> None:
        del self.unsure[agent]
        moving = self.moving.pop(agent)
        self._table().place(agent, moving.to)
        self.links.outbox(moving.to).put(Adopt(agent, None))
        self._release(moving, moving.to)
        self.counts["adopted_again_after_restart"] += 1

    def park(self, wire: Call | Copy) -> bool:
        """Keep a call (or a copy for one agent) to an agent being moved until the move ends."""
        moving = self.moving.get(wire.target if type(wire) is Call else wire.recipients[0])
        if moving is None:
            return False
        moving.parked.append(wire)
        return True

    def locate(self, agent: str) -> str | None:
        """The host the agent lives at now; None while it is being moved."""
        return None if agent in self.moving else self._table().endpoint_of(agent)

    def park_copies(self, publish: Publish, recipients: list[str]) -> list[str]:
        """Keep the copies of ``publish`` for the recipients being moved; the others, to deliver now."""
        staying = []
        for recipient in recipients:
            moving = self.moving.get(recipient)
            if moving is None:
                staying.append(recipient)
            else:
                moving.parked.append(publish.copy((recipient,)))
        return staying

    def moved(self, origin: str, message: Moved) -> None:
        """The host handed the agent over: it lives at its destination now, and what waited goes there. A
        ``Moved`` this bus did not ask for (it restarted meanwhile) still counts if it comes from where the bus
        has the agent; one this bus took before it restarted is heard again, and done with."""
        moving = self.moving.get(message.agent)
        if moving is None:
            if self.left.get(message.agent) == origin:
                del self.left[message.agent]
                self.counts["moves_heard_again"] += 1
                return
            if self._table().endpoint_of(message.agent) != origin:
                self._refused(origin, message)
                return
            moving = _Moving(origin, message.to)
        elif moving.source != origin:
            self._refused(origin, message)
            return
        self.moving.pop(message.agent, None)
        self.left.pop(message.agent, None)
        self._table().place(message.agent, moving.to)
        self.links.outbox(moving.to).put(Adopt(message.agent, message.state))
        for wire in message.queued:
            self.links.pass_on(origin, moving.to, wire, message.agent)
        self._release(moving, moving.to)
        self.counts["moves"] += 1

    def _refused(self, origin: str, message: Moved) -> None:
        """A ``Moved`` from a host the bus does not have the agent at: the move is not taken. But the host has
        let go of the messages it took along (its ``Done`` names the agent): they go where the bus routes the
        agent, or wait for its move under way — dropped, only a sender that sends again after a restart would
        make up for them."""
        self.counts["moves_refused"] += 1
        where = self.locate(message.agent)
        for wire in message.queued:
            self.links.pass_on(origin, where, wire, message.agent)

    def stayed(self, origin: str, message: Stayed) -> None:
        moving = self.moving.get(message.agent)
        if moving is None or moving.source != origin:
            return
        del self.moving[message.agent]
        self._release(moving, origin)
        self.resting[message.agent] = time.monotonic() + MOVE_RETRY  # busy now: it may be quiet soon
        self.counts["moves_called_off"] += 1

    def _release(self, moving: _Moving, endpoint: str) -> None:
        for wire in moving.parked:
            self.links.unparked(endpoint, wire)
        moving.parked = []

    def host_restarted(self, endpoint: str) -> None:
        """A restarted host has forgotten what it was asked: it is asked again (after the messages the bus gives
        it again, which run first). What its old process was to send again (``left``) died with it."""
        self.left = {agent: source for agent, source in self.left.items() if source != endpoint}
        for agent, moving in self.moving.items():
            if moving.source == endpoint:
                self.links.outbox(endpoint).put(Move(agent, moving.to))

    def held(self) -> int:
        return sum(len(moving.parked) for moving in self.moving.values())

    # --- the planner ----------------------------------------------------------------------------
    async def _plan_moves(self) -> None:
        while True:
            await asyncio.sleep(MOVE_TICK)
            try:
                await self._look()
            except Exception:  # planning must outlive any one look
                self.counts["move_plan_errors"] += 1
                log.exception("planning moves failed")

    async def _look(self) -> None:
        table = self._table()
        if not any(spec.placement.movable for spec in table.types.values()):
            return  # every placement is the user's: nothing to count, nothing to plan
        found = await self.links.actors.ask_all("traffic")
        counted: Counter[tuple[str, str]] = Counter()
        for answer in found.values():
            if not isinstance(answer, BaseException):
                counted.update({(sender, recipient): calls for sender, recipient, calls in answer[0]})
        self.traffic.add(counted)
        now = time.monotonic()
        retiring = self._retire_idle(found, now)
        if not self.traffic.weights:
            return
        self.resting = {agent: until for agent, until in self.resting.items() if until > now}
        pools = {endpoint for endpoint in found if endpoint.startswith("pool:")} - retiring
        cores = int(ray.cluster_resources().get("CPU", 1))
        rules = MovePlan(spread=max(1, min(table.pool_hosts(), cores)), least=MOVE_LEAST,
                         limit=MOVE_LIMIT - len(self.moving))
        for agent, to in plan(self.traffic.weights, table.known_endpoint_of, table.movable, pools, rules,
                              self.resting.keys() | self.moving.keys()):
            if self.start(agent, to):
                self.resting[agent] = now + MOVE_REST

    def _retire_idle(self, found: dict[str, Any], now: float) -> set[str]:
        """Stop the hosts that said they are idle at every look for ``HOST_RETIRE_AFTER``: a host the runtime
        placed agents on (not one the user chose), with no move from or to it under way, and not one an agent was
        moved to (were it started anew, it would not know that agent lives there)."""
        table = self._table()
        moved_to = set(table.moved.values())
        moving = {endpoint for move in self.moving.values() for endpoint in (move.source, move.to)}
        retiring = set()
        for endpoint, answer in found.items():
            if isinstance(answer, BaseException) or not answer[1]:
                self.idle_since.pop(endpoint, None)
            elif (now - self.idle_since.setdefault(endpoint, now) >= HOST_RETIRE_AFTER and endpoint not in moved_to
                  and endpoint not in moving and table.movable_endpoint(endpoint)):
                del self.idle_since[endpoint]
                retiring.add(endpoint)
                spawn(self.links.retire(endpoint))
        return retiring
