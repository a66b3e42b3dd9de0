"""AutoGen names on raybus: agent ids and topics, both ways.

raybus ids take letters, digits, '_', '-' and '.'; AutoGen keys and topic sources are any string and
topic types also take ':' and '='. A part raybus cannot take travels as ``_x.`` + urlsafe base64 (whose
alphabet raybus takes); a part that already starts with ``_x.`` is encoded too, so decoding is exact.
Keys and topic sources use the same encoding, so raybus's type subscriptions (topic source → agent key)
keep AutoGen's meaning."""

from __future__ import annotations

import base64
import re

from autogen_core import AgentId as AgAgentId
from autogen_core import AgentType
from autogen_core import TopicId as AgTopicId

from cluster import AgentId, TopicId

__all__ = ["agent_id_of", "decode_part", "encode_part", "from_raybus_agent", "from_raybus_topic", "to_raybus_agent",
           "to_raybus_topic"]

_PLAIN = re.compile(r"^[\w\-\.]+$")
_MARK = "_x."


def encode_part(text: str) -> str:
    if _PLAIN.match(text) and not text.startswith(_MARK):
        return text
    return _MARK + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_part(text: str) -> str:
    if not text.startswith(_MARK):
        return text
    body = text[len(_MARK):]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def to_raybus_agent(agent_id: AgAgentId) -> AgentId:
    return AgentId(agent_id.type, encode_part(agent_id.key))


def from_raybus_agent(agent_id: AgentId | str) -> AgAgentId:
    if isinstance(agent_id, str):
        agent_id = AgentId.from_str(agent_id)
    return AgAgentId(agent_id.type, decode_part(agent_id.key))


def agent_id_of(id_or_type: AgAgentId | AgentType | str, key: str) -> AgAgentId:
    """``AgentRuntime.get``'s arguments as an AutoGen agent id."""
    if isinstance(id_or_type, AgAgentId):
        return id_or_type
    return AgAgentId(id_or_type if isinstance(id_or_type, str) else id_or_type.type, key)


def to_raybus_topic(topic: AgTopicId) -> TopicId:
    return TopicId(encode_part(topic.type), encode_part(topic.source))


def from_raybus_topic(topic: TopicId | str) -> AgTopicId:
    if isinstance(topic, str):
        topic = TopicId.from_str(topic)
    return AgTopicId(decode_part(topic.type), decode_part(topic.source))
