"""Which agents may run on raybus hosts: those whose factory travels.

A factory travels when cloudpickle takes it and nothing it holds belongs to this process: an asyncio
queue, event, future or lock, a thread lock, an event loop (cloudpickle copies an asyncio.Queue silently,
and a copy on another node is not the queue the program reads). ``ClosureAgent`` never travels: its
closure exists to reach back into the registering program."""

from __future__ import annotations

import asyncio
import io
import queue
import threading
from typing import Any

from autogen_core import ClosureAgent
from ray import cloudpickle

__all__ = ["travels"]

_LOCAL_ONLY: tuple[type, ...] = (
    asyncio.Queue, asyncio.Event, asyncio.Future, asyncio.Lock, asyncio.Condition, asyncio.Semaphore,
    asyncio.AbstractEventLoop, queue.Queue, type(threading.Lock()), type(threading.RLock()), threading.Event,
    threading.Condition, threading.Thread,
)


class _StaysLocal(Exception):
    pass


class _Probe(cloudpickle.CloudPickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCAL_ONLY):
            raise _StaysLocal(type(obj).__name__)
        return super().reducer_override(obj)


def travels(factory: Any, expected_class: type | None = None) -> bool:
    if isinstance(expected_class, type) and issubclass(expected_class, ClosureAgent):
        return False
    try:
        _Probe(io.BytesIO()).dump(factory)
    except Exception:
        return False
    return True
