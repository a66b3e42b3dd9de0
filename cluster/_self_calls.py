"""An actor's calls to itself, past Ray's tracing wrapper.

Ray subclasses an actor class and wraps every method of it for tracing (``_inject_tracing_into_class``), the
methods the actor only calls on itself included: each ``self.route(...)`` of a host went through a wrapper that
asks whether tracing is on and passes the arguments on, an async method through a coroutine of its own. Calls
that come through Ray find their method on the class and keep the wrapper; the actor's own calls find the method
as written, bound on the instance."""

from __future__ import annotations

__all__ = ["unwrapped_self_calls"]


def unwrapped_self_calls(actor: object) -> None:
    """Bind on ``actor`` each method Ray wrapped, unwrapped. First thing in the constructor: a bound method taken
    before (a callback) would keep the wrapper."""
    for name, method in vars(type(actor)).items():
        if getattr(method, "__ray_tracing_wrapped__", False) and not name.startswith("__"):
            setattr(actor, name, method.__wrapped__.__get__(actor))
