"""raybus runtime: agents as Ray actors talking through a named message bus."""

from ._agent import Agent, MessageContext, handler, inspectable
from ._agent_id import AgentId
from ._errors import (
    Backpressure,
    BusUnavailable,
    DeliveryTimeout,
    DuplicateRegistration,
    HandlerError,
    InvalidMessage,
    NotAuthorized,
    NotSettled,
    RaybusError,
    UnknownAgentType,
    UnknownMessageType,
)
from ._interceptor import Intercepted, Interceptor
from ._messages import DeadLetter
from ._metrics import DeltaCounter
from ._otel import trace_to_spans
from ._placement import Dedicated, Placement, Sharded
from ._policy import Policy, PublishRule, Redact, SendRule
from ._principal import Principal
from ._runtime import DEAD_LETTER_TOPIC, Runtime
from ._state import SqliteStateStore, StateMap, StateStore
from ._subscription import MemberSubscription, Subscription, TypeSubscription
from ._topic import TopicId
from ._trace import TraceEvent, to_mermaid

__all__ = [
    "DEAD_LETTER_TOPIC",
    "Agent",
    "AgentId",
    "Backpressure",
    "BusUnavailable",
    "DeadLetter",
    "Dedicated",
    "DeliveryTimeout",
    "DeltaCounter",
    "DuplicateRegistration",
    "HandlerError",
    "Intercepted",
    "Interceptor",
    "InvalidMessage",
    "MemberSubscription",
    "MessageContext",
    "NotAuthorized",
    "NotSettled",
    "Placement",
    "Policy",
    "Principal",
    "PublishRule",
    "RaybusError",
    "Redact",
    "Runtime",
    "SendRule",
    "Sharded",
    "SqliteStateStore",
    "StateMap",
    "StateStore",
    "Subscription",
    "TopicId",
    "TraceEvent",
    "TypeSubscription",
    "UnknownAgentType",
    "UnknownMessageType",
    "handler",
    "inspectable",
    "to_mermaid",
    "trace_to_spans",
]
