"""How the driver reaches raybus for AutoGen: it has no agent identity on the bus, so it speaks as one of its
agents through that agent's raybus wrapper (``AutogenRelay``), and as nobody otherwise (the sender it names
then rides in the message as ``claimed_sender``)."""

from __future__ import annotations

from typing import Any

from autogen_core import AgentId as AgAgentId
from pydantic import BaseModel

from cluster import AgentId, TopicId

from ._carriers import AutogenRelay
from ._names import to_raybus_agent

__all__ = ["DriverPort"]


class DriverPort:
    """``owner`` is the RaybusAgentRuntime: its ``raybus`` Runtime and the agent ``types`` it registered."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner

    def _speaker(self, sender: AgAgentId | None) -> AgentId | None:
        return to_raybus_agent(sender) if sender is not None and sender.type in self.owner.types else None

    async def call(self, sender: AgAgentId | None, to: AgentId, carrier: BaseModel, timeout: float) -> Any:
        speaker = self._speaker(sender)
        if speaker is None:
            return await self.owner.raybus.send(to, carrier, timeout=timeout, trace_id=self.owner.trace_id)
        cancel = getattr(carrier, "message_id", "") if type(carrier).__name__ == "AutogenCancel" else ""
        relay = AutogenRelay(to=str(to), cancel=cancel, timeout=timeout,
                             delivery=None if cancel else carrier)
        return await self.owner.raybus.send(speaker, relay, timeout=timeout, trace_id=self.owner.trace_id)

    async def publish(self, sender: AgAgentId | None, topic: TopicId, carrier: BaseModel) -> None:
        speaker = self._speaker(sender)
        if speaker is None:
            await self.owner.raybus.publish(topic, carrier, trace_id=self.owner.trace_id)
        else:
            await self.owner.raybus.send(speaker, AutogenRelay(to=str(topic), delivery=carrier),
                                         trace_id=self.owner.trace_id)
