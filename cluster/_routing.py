"""The routing table: registered agent types, their placement, and subscriptions.

The bus owns the authoritative copy; every host keeps a versioned copy so that it can deliver a
message between two of its own agents in-process, by exactly the same rules."""

from __future__ import annotations

import importlib
import math
import sys
from dataclasses import dataclass, field, replace
from typing import Any

from ._agent import Agent
from ._errors import DuplicateRegistration, UnknownAgentType
from ._interceptor import Interceptor, screen
from ._messages import DEAD_LETTER_TYPE, DEAD_LETTERS, MessageTypes, type_path
from ._placement import Placement, Sharded
from ._principal import check_agent_type
from ._subscription import MemberSubscription, Subscription, TypeSubscription
from .constants import HOMES, IDLE_AFTER

__all__ = ["AgentTypeSpec", "RoutingTable", "resolve_agent_class"]



def resolve_agent_class(factory: type[Agent] | str) -> type[Agent]:
    """Accept an Agent subclass or its import path ``"package.module:Class"``."""
    if isinstance(factory, str):
        module_name, sep, qualname = factory.partition(":")
        if not sep:
            raise ValueError(f"agent import path {factory!r} must look like 'package.module:Class'")
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        factory = obj
    if not (isinstance(factory, type) and issubclass(factory, Agent)):
        raise TypeError(f"{factory!r} is not an Agent subclass")
    return factory


@dataclass(frozen=True)
class AgentTypeSpec:
    """``idle_after``: seconds without a message after which an agent of the type is deactivated (its state
    saved first); None is the runtime's default: ``IDLE_AFTER`` with durable state, never without (an agent
    whose state lives only in memory would lose it); ``math.inf`` is never."""

    agent_type: str
    factory: type[Agent] | str
    placement: Placement
    config: dict[str, Any] = field(default_factory=dict)
    idle_after: float | None = None

    def __post_init__(self) -> None:
        idle = self.idle_after
        if idle is not None and (isinstance(idle, bool) or not isinstance(idle, int | float) or not idle > 0):
            raise ValueError(f"agent type {self.agent_type!r}: idle_after={idle!r} must be a number of seconds "
                             "above 0 (math.inf: never), or None for the runtime's default")

    def idle_time(self, durable: bool) -> float | None:
        """Seconds an agent of this type may go without a message before it is deactivated; None: never."""
        idle = self.idle_after if self.idle_after is not None else IDLE_AFTER if durable else None
        return None if idle is None or math.isinf(idle) else float(idle)

    def same_as(self, other: AgentTypeSpec) -> bool:
        return (
            _factory_path(self.factory) == _factory_path(other.factory)
            and self.placement == other.placement
            and self.config == other.config
            and self.idle_after == other.idle_after
        )


def _factory_path(factory: type[Agent] | str) -> str:
    return factory if isinstance(factory, str) else type_path(factory)


class RoutingTable:
    def __init__(self) -> None:
        self.version = 0
        self.types: dict[str, AgentTypeSpec] = {}
        self.type_subs: dict[str, tuple[str, ...]] = {}
        self.members: dict[str, set[str]] = {}
        self.messages = MessageTypes()
        self.interceptors: tuple[Interceptor, ...] = ()
        # agent id → the endpoint it was moved to, away from its placement's (``_moves.py``): the bus keeps every
        # move, a host the moves to and from itself, which is all it asks the table about (is an agent here?)
        self.moved: dict[str, str] = {}
        self._classes: dict[str, type[Agent]] = {}
        self._homes: dict[str, str] = {}  # agent id → its placement's endpoint, as ``home_of`` found it

    def __getstate__(self) -> dict[str, Any]:
        # Classes are re-resolved where the table lands: an import path may name a module the sender lacks.
        # Moves do not travel with the table: each host learns those that concern it as they happen.
        return {k: v for k, v in self.__dict__.items() if k not in ("_classes", "moved", "_homes")} | {
            "_classes": {}, "moved": {}, "_homes": {}}

    def add_type(self, spec: AgentTypeSpec, message_types: list[type] = ()) -> bool:
        """Register ``spec``; registering the same spec again is a no-op (a second driver may)."""
        check_agent_type(spec.agent_type)
        known = self.types.get(spec.agent_type)
        if known is not None:
            if not known.same_as(spec):
                raise DuplicateRegistration(
                    f"agent type {spec.agent_type!r} is already registered as {_factory_path(known.factory)} "
                    f"with {known.placement}"
                )
            return False
        self._check_pool(spec)
        for cls in message_types:
            self.messages.add(cls)
        self.types[spec.agent_type] = self._sharing(spec)
        self.version += 1
        return True

    def _sharing(self, spec: AgentTypeSpec) -> AgentTypeSpec:
        """``spec`` holding the very config and placement objects of a type registered before when they are
        equal: the table then carries (and pickles) each once, however many types share them — an org handed to
        six types in their config, a placement whose groups name every agent — and a host that parses a config
        once per object (``actors._config``) parses it once."""
        for other in self.types.values():
            if other.config is not spec.config and other.config == spec.config:
                spec = replace(spec, config=other.config)
            if other.placement is not spec.placement and other.placement == spec.placement:
                spec = replace(spec, placement=other.placement)
        return spec

    def _check_pool(self, spec: AgentTypeSpec) -> None:
        """Types whose hosts share a name must agree on how many there are."""
        placement = spec.placement
        if not isinstance(placement, Sharded):
            return
        pool = placement.pool or spec.agent_type
        for other in self.types.values():
            theirs = other.placement
            if isinstance(theirs, Sharded) and (theirs.pool or other.agent_type) == pool and theirs.n != placement.n:
                raise DuplicateRegistration(
                    f"pool {pool!r} has {theirs.n} hosts (type {other.agent_type!r}); "
                    f"{spec.agent_type!r} asks for {placement.n}"
                )

    def subscribe(self, sub: Subscription) -> bool:
        if isinstance(sub, TypeSubscription):
            current = self.type_subs.get(sub.topic_type, ())
            if sub.agent_type in current:
                return False
            self.type_subs[sub.topic_type] = (*current, sub.agent_type)
        elif isinstance(sub, MemberSubscription):
            members = self.members.setdefault(str(sub.topic), set())
            if str(sub.agent_id) in members:
                return False
            members.add(str(sub.agent_id))
        else:
            raise TypeError(f"not a subscription: {sub!r}")
        self.version += 1
        return True

    def unsubscribe(self, sub: Subscription) -> bool:
        if isinstance(sub, TypeSubscription):
            current = self.type_subs.get(sub.topic_type, ())
            if sub.agent_type not in current:
                return False
            self.type_subs[sub.topic_type] = tuple(t for t in current if t != sub.agent_type)
        else:
            members = self.members.get(str(sub.topic), set())
            if str(sub.agent_id) not in members:
                return False
            members.discard(str(sub.agent_id))
        self.version += 1
        return True

    def add_interceptors(self, interceptors: list[Interceptor]) -> bool:
        """Append interceptors (run in the order added); adding an equal one again is a no-op."""
        new = [i for i in interceptors if i not in self.interceptors]
        for interceptor in new:
            if not isinstance(interceptor, Interceptor):
                raise TypeError(f"not an Interceptor: {interceptor!r}")
        if not new:
            return False
        self.interceptors = (*self.interceptors, *new)
        self.version += 1
        return True

    def screen(self, is_publish: bool, sender: str | None, target: str, type_name: str, payload: Any) -> Any:
        """The payload as the interceptors let it through, or the ``RaybusError`` of the one that refused."""
        if not self.interceptors or (type_name == DEAD_LETTER_TYPE and target == DEAD_LETTERS):
            return payload  # the runtime's own reports of what it could not deliver are not screened
        return screen(self.interceptors, is_publish, sender, target, type_name, payload)

    def spec_of(self, agent_type: str) -> AgentTypeSpec:
        spec = self.types.get(agent_type)
        if spec is None:
            raise UnknownAgentType(
                f"unknown agent type {agent_type!r}; registered: {', '.join(sorted(self.types)) or 'none'}"
            )
        return spec

    def endpoint_of(self, agent_id: str) -> str:
        """The host endpoint that runs ``agent_id`` (``"type/key"``): where it was moved, or its placement's."""
        moved = self.moved.get(agent_id)
        return moved if moved is not None else self.home_of(agent_id)

    def home_of(self, agent_id: str) -> str:
        """The endpoint of ``agent_id`` by its type's placement alone. Remembered: a registered type's placement
        never changes, and a send between two agents of one host asks three times (the sender, the host's route,
        the routing step), 0.6 µs each for a ``Sharded`` type."""
        home = self._homes.get(agent_id)
        if home is None:
            agent_type, _, key = agent_id.partition("/")
            home = sys.intern(self.spec_of(agent_type).placement.endpoint(agent_type, key))
            if len(self._homes) >= HOMES:
                self._homes.clear()
            self._homes[agent_id] = home
        return home

    def movable(self, agent_id: str) -> bool:
        """May the runtime move the agent (its type's placement is the runtime's choice, not the user's)?"""
        spec = self.types.get(agent_id.partition("/")[0])
        return spec is not None and spec.placement.movable

    def pool_hosts(self) -> int:
        """How many hosts the types' pools name (a pool that types share counts once)."""
        sizes: dict[str, int] = {}
        for agent_type, spec in self.types.items():
            if isinstance(spec.placement, Sharded):
                pool = spec.placement.pool or agent_type
                sizes[pool] = max(sizes.get(pool, 0), spec.placement.n)
        return sum(sizes.values())

    def movable_endpoint(self, endpoint: str) -> bool:
        """Does the runtime alone choose who lives on this host (no type the user placed starts there)?"""
        kind, _, rest = endpoint.partition(":")
        if kind == "agent":
            return self.movable(rest)
        pool = rest.rpartition(".")[0]
        starting = [spec.placement for agent_type, spec in self.types.items()
                    if isinstance(spec.placement, Sharded) and (spec.placement.pool or agent_type) == pool]
        return bool(starting) and all(placement.movable for placement in starting)

    def place(self, agent_id: str, endpoint: str) -> None:
        """Record that ``agent_id`` runs at ``endpoint`` now."""
        if endpoint == self.home_of(agent_id):
            self.moved.pop(agent_id, None)
        else:
            self.moved[agent_id] = endpoint

    def handed_over(self, agent_id: str, to: str, endpoint: str) -> None:
        """A host's table, once ``endpoint`` handed ``agent_id`` over to ``to``: its placement's host remembers
        where it went (it must not start it again); any other host forgets it (by its placement it lives
        elsewhere anyway), so that no host keeps a move the agent has made since (a restarted bus asks them all)."""
        if self.home_of(agent_id) == endpoint:
            self.moved[agent_id] = to
        else:
            self.moved.pop(agent_id, None)

    def known_endpoint_of(self, agent_id: str) -> str | None:
        """``endpoint_of``, or None for an agent type this table does not know (yet: a copy may be stale)."""
        try:
            return self.endpoint_of(agent_id)
        except UnknownAgentType:
            return None

    def agent_class(self, agent_type: str) -> type[Agent]:
        cls = self._classes.get(agent_type)
        if cls is None:
            cls = self._classes[agent_type] = resolve_agent_class(self.spec_of(agent_type).factory)
        return cls

    def interleaves(self, agent_id: str, type_name: str) -> bool:
        """Does the handler of ``type_name`` at ``agent_id`` run beside the agent's other handlers?"""
        info = self.agent_class(agent_id.partition("/")[0]).handlers.get(type_name)
        return info is not None and info.interleave

    def recipients(self, topic: str, publisher: str | None) -> set[str]:
        """Each subscriber once, however many subscriptions match; never the publisher."""
        topic_type, _, source = topic.partition("/")
        found = {f"{agent_type}/{source}" for agent_type in self.type_subs.get(topic_type, ())}
        found |= self.members.get(topic, set())
        found.discard(publisher)
        return found
