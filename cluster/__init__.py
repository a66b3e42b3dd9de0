"""raybus runtime: agents as Ray actors talking through a named message bus."""

from ._agent import Agent, MessageContext, handler, inspectable
from ._agent_id import AgentId
from ._errors import (
    Backpressure,
    BusUnavailable,
    DeliveryTimeout,
    DuplicateRegistration,
    HandlerError,
    ImpureHandler,
    InvalidMessage,
    NotAuthorized,
    NotSettled,
    RaybusError,
    StoreUnavailable,
    UnknownAgentType,
    UnknownMessageType,
)
from ._interceptor import Intercepted, Interceptor
from ._location import describe_location, node_path, open_state_store, state_location
from ._messages import DeadLetter
from ._metrics import DeltaCounter
from ._otel import trace_to_spans
from ._placement import Dedicated, Placement, Sharded
from ._policy import Policy, PublishRule, Redact, SendRule
from ._principal import Principal
from ._runtime import DEAD_LETTER_TOPIC, Runtime
from ._sql import Database, PostgresDatabase, Sql, SqliteDatabase, is_postgres, postgres_schemas, redacted
from ._state import PostgresStateStore, SqliteStateStore, SqlStateStore, StateMap, StateStore, encode_state
from ._subscription import MemberSubscription, Subscription, TypeSubscription
from ._topic import TopicId
from ._trace import TraceEvent, to_mermaid

__all__ = [
    "DEAD_LETTER_TOPIC",
    "Agent",
    "AgentId",
    "Backpressure",
    "BusUnavailable",
    "Database",
    "DeadLetter",
    "Dedicated",
    "DeliveryTimeout",
    "DeltaCounter",
    "DuplicateRegistration",
    "HandlerError",
    "ImpureHandler",
    "Intercepted",
    "Interceptor",
    "InvalidMessage",
    "MemberSubscription",
    "MessageContext",
    "NotAuthorized",
    "NotSettled",
    "Placement",
    "Policy",
    "PostgresDatabase",
    "PostgresStateStore",
    "Principal",
    "PublishRule",
    "RaybusError",
    "Redact",
    "Runtime",
    "SendRule",
    "Sharded",
    "Sql",
    "SqlStateStore",
    "SqliteDatabase",
    "SqliteStateStore",
    "StateMap",
    "StateStore",
    "StoreUnavailable",
    "Subscription",
    "TopicId",
    "TraceEvent",
    "TypeSubscription",
    "UnknownAgentType",
    "UnknownMessageType",
    "describe_location",
    "encode_state",
    "handler",
    "inspectable",
    "is_postgres",
    "node_path",
    "open_state_store",
    "postgres_schemas",
    "redacted",
    "state_location",
    "to_mermaid",
    "trace_to_spans",
]
