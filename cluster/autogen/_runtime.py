"""``RaybusAgentRuntime``: AutoGen's ``AgentRuntime`` on the raybus bus. A program written for
``SingleThreadedAgentRuntime`` runs on a Ray cluster by changing the line that constructs its runtime."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from autogen_core import Agent as AgAgent
from autogen_core import AgentId as AgAgentId
from autogen_core import AgentRuntime, AgentType, CancellationToken, MessageSerializer, Subscription
from autogen_core import TopicId as AgTopicId
from autogen_core.exceptions import NotAccessibleError

from cluster import AgentId, Placement, Runtime, Sharded

from ._carriers import CARRIERS
from ._codec import Codec
from ._directory import DIRECTORY_TYPE, DirectoryAgent, DirMember, DirRegistered, DirWaitIdle
from ._driver_port import DriverPort
from ._interventions import InterventionInterceptor
from ._local import INBOX_TYPE, InboxAgent, LocalAgents
from ._messaging import Messenger
from ._names import agent_id_of, from_raybus_agent
from ._quiet import Quiet
from ._spec import TypeSpec
from ._travel import travels
from ._wrappers import HostedAutogenAgent, LocalAutogenProxy

__all__ = ["RaybusAgentRuntime"]

DEFAULT_PLACEMENT = Sharded(2, pool="autogen")


class RaybusAgentRuntime(AgentRuntime):
    """Agents whose factory travels run on raybus hosts (``placement``, per type ``placements``); the
    others run in this process as clients of the bus. ``raybus`` is the underlying ``cluster.Runtime``
    (policy, traces, stats). Every handler may interleave, as under AutoGen."""

    def __init__(self, *, intervention_handlers: list[Any] | None = None, namespace: str | None = None,
                 address: str | None = None, state_dir: str | None = None, placement: Placement | None = None,
                 placements: Mapping[str, Placement] | None = None, send_timeout: float = 600.0,
                 destroy_on_close: bool | None = None, **connect: Any) -> None:
        connect.pop("tracer_provider", None)
        connect.pop("ignore_unhandled_exceptions", None)
        self.namespace = namespace or f"autogen-{uuid.uuid4().hex[:10]}"
        self.destroy_on_close = namespace is None if destroy_on_close is None else destroy_on_close
        self.raybus = Runtime.connect(namespace=self.namespace, address=address, state_dir=state_dir, **connect)
        self.raybus.register_message(*CARRIERS)  # a send to a type nobody registered is UndeliverableException
        self.durable = state_dir is not None
        self.placement = placement or DEFAULT_PLACEMENT
        self.placements = dict(placements or {})
        self.send_timeout = send_timeout
        self.interventions = list(intervention_handlers or [])
        if self.interventions:
            self.raybus.intercept(InterventionInterceptor.of(self.interventions))
        # the directory and this process's inbox are raybus agents on the runtime's own hosts
        self.raybus.register(DIRECTORY_TYPE, DirectoryAgent, placement=self.placement,
                             config={"namespace": self.namespace})
        self.raybus.register(INBOX_TYPE, InboxAgent, placement=self.placement)
        self.inbox = AgentId(INBOX_TYPE, uuid.uuid4().hex[:12])
        self.trace_id: str | None = None  # set to runtime.raybus.new_trace(): what this driver sends is traced
        self.codec = Codec()
        self.messenger = Messenger(DriverPort(self), self.codec, self.namespace, send_timeout)
        self.types: dict[str, str] = {}  # agent type -> "hosted" | "local" | "instance"
        self.instance_classes: dict[str, type] = {}
        self.local = LocalAgents(self, self.codec, self.interventions)
        self._started = False
        self._sending = Quiet()

    # --- registration ---------------------------------------------------------------------------
    def _spec(self, agent_type: str, factory: Any = None, expected: type | None = None) -> TypeSpec:
        return TypeSpec(self.namespace, agent_type, factory, expected, self.interventions, self.durable,
                        self.send_timeout, self.inbox.key)

    async def _register(self, agent_type: str, cls: type, spec: TypeSpec) -> None:
        placement = self.placements.get(agent_type, self.placement)
        await asyncio.to_thread(self.raybus.register, agent_type, cls, placement=placement, config=spec.to_config())
        await self.messenger.directory(DirRegistered(agent_type=agent_type, credential=self.raybus.credential or ""))

    async def register_factory(self, type: str | AgentType, agent_factory: Callable[[], Any], *,
                               expected_class: type | None = None) -> AgentType:
        agent_type = type if isinstance(type, str) else type.type
        if agent_type in self.types:
            raise ValueError(f"Agent with type {agent_type} already exists.")
        if travels(agent_factory, expected_class):
            self.types[agent_type] = "hosted"
            await self._register(agent_type, HostedAutogenAgent, self._spec(agent_type, agent_factory, expected_class))
        else:
            self.types[agent_type] = "local"
            self.local.factories[agent_type] = (agent_factory, expected_class)
            await self._register(agent_type, LocalAutogenProxy, self._spec(agent_type))
        return AgentType(agent_type)

    async def register_agent_instance(self, agent_instance: AgAgent, agent_id: AgAgentId) -> AgAgentId:
        """A registered instance is that object: it runs here, in the registering process."""
        if agent_id in self.local.cells:
            raise ValueError(f"Agent with id {agent_id} already exists.")
        known = self.types.get(agent_id.type)
        if known not in (None, "instance"):
            raise ValueError("Agent factories and agent instances cannot be registered to the same type.")
        if known == "instance" and self.instance_classes[agent_id.type] is not type(agent_instance):
            raise ValueError("Agent instances must be the same object type.")
        await agent_instance.bind_id_and_runtime(id=agent_id, runtime=self)
        self.local.add_instance(agent_instance, agent_id)
        if known is None:
            self.types[agent_id.type] = "instance"
            self.instance_classes[agent_id.type] = type(agent_instance)
            await self._register(agent_id.type, LocalAutogenProxy, self._spec(agent_id.type))
        return agent_id

    def add_message_serializer(self, serializer: MessageSerializer[Any] | Sequence[MessageSerializer[Any]]) -> None:
        self.codec.add(serializer)

    async def add_subscription(self, subscription: Subscription) -> None:
        await self.messenger.add_subscription(subscription)

    async def remove_subscription(self, id: str) -> None:
        await self.messenger.remove_subscription(id)

    async def add_member(self, topic: AgTopicId, agent: AgAgentId) -> None:
        """raybus's member subscription: one agent joins one topic (no AutoGen equivalent)."""
        await self.messenger.directory(DirMember(topic_type=topic.type, source=topic.source, agent_type=agent.type,
                                                 agent_key=agent.key, credential=self.raybus.credential or ""))

    # --- messaging --------------------------------------------------------------------------------
    async def send_message(self, message: Any, recipient: AgAgentId, *, sender: AgAgentId | None = None,
                           cancellation_token: CancellationToken | None = None, message_id: str | None = None) -> Any:
        self._sending.enter()
        try:
            return await self.messenger.send_message(message, recipient, sender=sender,
                                                     cancellation_token=cancellation_token, message_id=message_id)
        finally:
            self._sending.leave()

    async def publish_message(self, message: Any, topic_id: AgTopicId, *, sender: AgAgentId | None = None,
                              cancellation_token: CancellationToken | None = None,
                              message_id: str | None = None) -> None:
        await self.messenger.publish_message(message, topic_id, sender=sender,
                                             cancellation_token=cancellation_token, message_id=message_id)

    # --- agents -------------------------------------------------------------------------------------
    def _is_local(self, agent_id: AgAgentId) -> bool:
        return self.types.get(agent_id.type) in ("local", "instance")

    async def _control(self, agent_id: AgAgentId, op: str, state: Any = None) -> Any:
        if self._is_local(agent_id):
            cell = await self.local.cell(agent_id)
            data = await cell.control(op, json.dumps(dict(state)) if state is not None else "")
            return json.loads(data) if data else None
        return await self.messenger.control(agent_id, op, state)

    async def get(self, id_or_type: AgAgentId | AgentType | str, /, key: str = "default", *,
                  lazy: bool = True) -> AgAgentId:
        agent_id = agent_id_of(id_or_type, key)
        if not lazy:
            await self._control(agent_id, "touch")
        return agent_id

    async def try_get_underlying_agent_instance(self, id: AgAgentId, type: type = AgAgent) -> Any:
        if id.type not in self.types:
            raise LookupError(f"Agent with name {id.type} not found.")
        if not self._is_local(id):
            raise NotAccessibleError(f"agent {id} runs on a raybus host, not in this process")
        agent = (await self.local.cell(id)).agent
        if not isinstance(agent, type):
            raise TypeError(f"Agent with name {id.type} is not of type {type.__name__}. "
                            f"It is of type {agent.__class__.__name__}")
        return agent

    async def agent_metadata(self, agent: AgAgentId) -> Any:
        return await self._control(agent, "metadata")

    async def agent_save_state(self, agent: AgAgentId) -> Mapping[str, Any]:
        return await self._control(agent, "save")

    async def agent_load_state(self, agent: AgAgentId, state: Mapping[str, Any]) -> None:
        await self._control(agent, "load", state)

    async def _instantiated(self) -> list[AgAgentId]:
        found = {from_raybus_agent(a) for a in await asyncio.to_thread(self.raybus.agents)}
        found = {a for a in found if self.types.get(a.type) == "hosted"}
        return sorted(found | set(self.local.cells), key=str)

    async def save_state(self) -> Mapping[str, Any]:
        """Every instantiated agent's state by agent id, as AutoGen (subscriptions not included)."""
        return {str(agent): dict(await self.agent_save_state(agent)) for agent in await self._instantiated()}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        for key, value in state.items():
            agent = AgAgentId.from_str(key)
            if agent.type in self.types:
                await self.agent_load_state(agent, value)

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            raise RuntimeError("Runtime is already started")
        self._started = True
        self.local.start(self.raybus, self.inbox)

    async def stop(self) -> None:
        """Stop handling this process's local agents; agents on raybus hosts keep running."""
        if not self._started:
            raise RuntimeError("Runtime is not started")
        self._started = False
        await self.local.stop()

    async def idle(self) -> None:
        """Wait until no send of this process is in flight, no local agent is working and every publish
        delivery has been handled."""
        while True:
            await self._sending.wait()
            await self.local.working.wait()
            left = await self.messenger.directory(DirWaitIdle(timeout=30.0))
            if left.count == 0 and self._sending.busy == 0 and self.local.working.busy == 0:
                return

    async def stop_when_idle(self) -> None:
        if not self._started:
            raise RuntimeError("Runtime is not started")
        await self.idle()
        await self.stop()

    async def stop_when(self, condition: Callable[[], bool], check_period: float = 1.0) -> None:
        if not self._started:
            raise RuntimeError("Runtime is not started")
        while not condition():
            await asyncio.sleep(check_period)  # AutoGen's own contract: the condition is polled
        await self.stop()

    async def close(self) -> None:
        """Stop, close every instantiated agent, and disconnect (ending the namespace's bus and hosts when
        this runtime made the namespace, or ``destroy_on_close``)."""
        if self._started:
            await self.stop()
        for agent in await self._instantiated():
            with contextlib.suppress(Exception):
                await self._control(agent, "close")
        await asyncio.to_thread(self.raybus.shutdown, self.destroy_on_close)
