"""AutoGen messages and exceptions in and out of the carriers.

A message is serialized by the serializer registered for its type (``add_message_serializer``), else by
AutoGen's known serializers (dataclasses, pydantic models, protobuf), else pickled. The serializer itself
travels with the message (cloudpickle: a reference for an importable class), so the receiving process
needs no registry of its own."""

from __future__ import annotations

import base64
import traceback
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from autogen_core import JSON_DATA_CONTENT_TYPE, MessageSerializer, try_get_known_serializers_for_type
from ray import cloudpickle

from ._carriers import AutogenDelivery, AutogenOutcome

__all__ = ["Codec", "decode", "exception_of", "failure"]

PICKLE_CONTENT_TYPE = "application/x-python-pickle"


class _PickleSerializer:
    """For a message no AutoGen serializer takes (a str, a dict, a nested dataclass)."""

    data_content_type = PICKLE_CONTENT_TYPE
    type_name = "pickle"

    def serialize(self, message: Any) -> bytes:
        return cloudpickle.dumps(message)

    def deserialize(self, payload: bytes) -> Any:
        return cloudpickle.loads(payload)


class Codec:
    """One process's serializers by message type; the codec blob of each serializer is made once."""

    def __init__(self) -> None:
        self._registered: dict[str, MessageSerializer[Any]] = {}
        self._by_type: dict[type, tuple[MessageSerializer[Any], str]] = {}

    def add(self, serializer: MessageSerializer[Any] | Sequence[MessageSerializer[Any]]) -> None:
        for one in [serializer] if not isinstance(serializer, Sequence) else serializer:
            self._registered.setdefault(one.type_name, one)
            self._by_type.clear()

    def _serializer(self, cls: type) -> tuple[MessageSerializer[Any], str]:
        found = self._by_type.get(cls)
        if found is None:
            registered = self._registered.get(cls.__name__)
            known = [registered] if registered is not None else []
            if not known:
                try:
                    known = try_get_known_serializers_for_type(cls)
                except (ValueError, TypeError):
                    known = []
            chosen = known[0] if known else _PickleSerializer()
            found = self._by_type[cls] = (chosen, _b64(cloudpickle.dumps(chosen)))
        return found

    def encode(self, message: Any, message_id: str, rpc: bool, **fields: Any) -> AutogenDelivery:
        serializer, codec = self._serializer(type(message))
        try:
            raw = serializer.serialize(message)
        except Exception:  # e.g. a dataclass whose field holds something JSON cannot
            serializer, codec = _PickleSerializer(), _PICKLE_CODEC
            raw = serializer.serialize(message)
        text = raw.decode() if serializer.data_content_type == JSON_DATA_CONTENT_TYPE else _b64(raw)
        return AutogenDelivery(type_name=serializer.type_name, content_type=serializer.data_content_type,
                               data=text, codec=codec, message_id=message_id, rpc=rpc, **fields)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


_PICKLE_CODEC = _b64(cloudpickle.dumps(_PickleSerializer()))


@lru_cache(maxsize=4096)
def _serializer_of(codec: str) -> Any:
    return cloudpickle.loads(base64.b64decode(codec))


def decode(delivery: AutogenDelivery) -> Any:
    serializer = _serializer_of(delivery.codec)
    raw = delivery.data.encode() if delivery.content_type == JSON_DATA_CONTENT_TYPE else base64.b64decode(delivery.data)
    return serializer.deserialize(raw)


def failure(error: BaseException) -> AutogenOutcome:
    """An outcome that raises ``error`` again at the caller, as its own type when it pickles."""
    try:
        blob = _b64(cloudpickle.dumps(error))
        cloudpickle.loads(base64.b64decode(blob))  # an exception whose __init__ needs other arguments fails here
    except Exception:
        blob = ""
    return AutogenOutcome(ok=False, error=blob, error_type=type(error).__qualname__, error_text=str(error),
                          error_traceback="".join(traceback.format_exception(error)))


def exception_of(outcome: AutogenOutcome) -> BaseException:
    if outcome.error:
        try:
            return cloudpickle.loads(base64.b64decode(outcome.error))
        except Exception:
            pass
    from cluster import HandlerError

    return HandlerError(outcome.error_text, outcome.error_type, outcome.error_traceback)
