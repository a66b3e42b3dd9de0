"""AutoGen-core agents on raybus: ``RaybusAgentRuntime`` implements autogen-core's ``AgentRuntime``
(needs ``pip install 'raybus[autogen]'``). See README, "AutoGen agents on raybus"."""

from ._carriers import (
    AutogenCancel,
    AutogenControl,
    AutogenControlReply,
    AutogenDelivery,
    AutogenOutcome,
    AutogenRelay,
)
from ._codec import Codec
from ._directory import DirectoryAgent
from ._interventions import InterventionInterceptor
from ._names import decode_part, encode_part, from_raybus_agent, from_raybus_topic, to_raybus_agent, to_raybus_topic
from ._runtime import RaybusAgentRuntime
from ._subscriptions import SubscriptionBook
from ._travel import travels
from ._wrappers import HostedAutogenAgent, LocalAutogenProxy

__all__ = [
    "AutogenCancel",
    "AutogenControl",
    "AutogenControlReply",
    "AutogenDelivery",
    "AutogenOutcome",
    "AutogenRelay",
    "Codec",
    "DirectoryAgent",
    "HostedAutogenAgent",
    "InterventionInterceptor",
    "LocalAutogenProxy",
    "RaybusAgentRuntime",
    "SubscriptionBook",
    "decode_part",
    "encode_part",
    "from_raybus_agent",
    "from_raybus_topic",
    "to_raybus_agent",
    "to_raybus_topic",
    "travels",
]
