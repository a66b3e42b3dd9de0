"""AutoGen-core agents on raybus: ``RaybusAgentRuntime`` implements autogen-core's ``AgentRuntime``
(needs ``pip install 'raybus[autogen]'``). See README, "AutoGen agents on raybus", and
docs/architecture.md. The carriers (``CARRIERS``; ``AutogenDelivery`` is the one a raybus interceptor or
``Policy`` sees for every AutoGen send and publish) are the raybus message types this package adds."""

from ._carriers import CARRIERS, AutogenDelivery
from ._codec import Codec
from ._directory import DIRECTORY, DirectoryAgent
from ._interventions import InterventionInterceptor
from ._local import InboxAgent
from ._names import decode_part, encode_part, from_raybus_agent, from_raybus_topic, to_raybus_agent, to_raybus_topic
from ._runtime import RaybusAgentRuntime
from ._subscriptions import SubscriptionBook
from ._travel import travels
from ._wrappers import HostedAutogenAgent, LocalAutogenProxy

__all__ = [
    "CARRIERS",
    "DIRECTORY",
    "AutogenDelivery",
    "Codec",
    "DirectoryAgent",
    "HostedAutogenAgent",
    "InboxAgent",
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
