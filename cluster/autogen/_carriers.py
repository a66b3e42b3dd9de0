"""The raybus messages that carry AutoGen traffic. raybus handlers take pydantic models; AutoGen messages
(dataclasses, pydantic models, anything else) ride inside them serialized, with their type name."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["CARRIERS", "AutogenCancel", "AutogenControl", "AutogenControlReply", "AutogenDelivery", "AutogenOutcome",
           "AutogenRelay"]


class AutogenDelivery(BaseModel):
    """One AutoGen message, sent (``rpc``) or published (``topic_*`` set, raw AutoGen names)."""

    type_name: str
    content_type: str
    data: str  # JSON text, or base64 for binary encodings
    codec: str  # base64 cloudpickle of the serializer that made ``data`` (a class reference, usually tiny)
    message_id: str
    rpc: bool
    topic_type: str = ""
    topic_source: str = ""
    claimed_sender: str = ""  # the AutoGen sender a driver named when it has no agent of that type to speak as
    intervened: bool = False  # the intervention handlers have seen it (raybus may screen a message twice)
    counted: bool = False  # a publish copy the directory counts until it is handled (``stop_when_idle``)


class AutogenOutcome(BaseModel):
    """A handler's answer: its value, or its exception (pickled so it is raised again as its own type)."""

    ok: bool = True
    value: AutogenDelivery | None = None
    error: str = ""  # base64 cloudpickle of the exception, when it pickles
    error_type: str = ""
    error_text: str = ""
    error_traceback: str = ""
    dropped: bool = False  # an intervention handler's on_response dropped the answer


class AutogenCancel(BaseModel):
    """The caller cancelled its token: cancel the handler's."""

    message_id: str


class AutogenControl(BaseModel):
    """Runtime operations on one agent: ``touch`` (instantiate), ``save``, ``load``, ``metadata``, ``close``."""

    op: str
    state: str = ""  # JSON


class AutogenControlReply(BaseModel):
    data: str = ""  # JSON


class AutogenRelay(BaseModel):
    """A driver speaking as one of its (local) agents: that agent's proxy sends or publishes it as itself."""

    to: str  # a raybus agent id (send, cancel) or topic (publish)
    delivery: AutogenDelivery | None = None
    cancel: str = ""  # a message id to cancel at ``to``
    timeout: float = 600.0


CARRIERS = (AutogenDelivery, AutogenOutcome, AutogenCancel, AutogenControl, AutogenControlReply, AutogenRelay)
