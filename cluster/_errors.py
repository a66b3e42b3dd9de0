"""The runtime's exceptions. Each names what was wrong; all travel back to a caller by class name."""

from __future__ import annotations

__all__ = [
    "AgentMoved",
    "Backpressure",
    "BusUnavailable",
    "DeliveryTimeout",
    "DuplicateRegistration",
    "HandlerError",
    "ImpureHandler",
    "InvalidMessage",
    "NotAuthorized",
    "RaybusError",
    "StoreUnavailable",
    "Unbound",
    "UnknownAgentType",
    "UnknownMessageType",
    "cause_of",
    "error_from_wire",
]


class RaybusError(Exception):
    """Base class of every error the runtime raises."""


class UnknownAgentType(RaybusError):
    """A message was addressed to an agent type nobody registered."""


class UnknownMessageType(RaybusError):
    """A message's type is not registered, or the recipient has no handler for it."""


class InvalidMessage(RaybusError):
    """A payload failed validation against its registered type (pydantic's message names the field)."""


class DeliveryTimeout(RaybusError):
    """No reply arrived before the deadline."""


class Backpressure(DeliveryTimeout):
    """The call waited its whole timeout for room in the send window and was never sent: try again later."""


class BusUnavailable(RaybusError):
    """The bus did not take the message (it died or is restarting); nothing was delivered, try again."""


class AgentMoved(RaybusError):
    """The agent lives on another host now (the runtime moved it): ask again, the bus knows where."""


class Fenced(RaybusError):
    """A newer incarnation of this host writes its agents' state: this one (a ghost on a lost node) may not."""


class StoreUnavailable(RaybusError):
    """The database server behind a store could not be reached; the text names it (never its password)."""


class NotSettled(RaybusError):
    """``Runtime.settle`` gave up while the runtime still held messages; the text says where."""


class NotAuthorized(RaybusError):
    """An interceptor or the bus refused the message."""


class Unbound(RaybusError):
    """A bus shard does not know the driver's connection (the shard restarted, or the connection's principal
    was revoked): the driver binds it again with its credential, or hears ``NotAuthorized``."""


class ImpureHandler(RaybusError):
    """A handler marked ``pure`` tried to send, publish or checkpoint: a copy of its message would run it again."""


class DuplicateRegistration(RaybusError):
    """A type name is already registered with a different definition."""


class HandlerError(RaybusError):
    """The recipient's handler raised; carries the remote exception type, message and traceback."""

    def __init__(self, message: str, remote_type: str = "", remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        return f"{self.remote_type}: {self.args[0]}" if self.remote_type else str(self.args[0])


def _descendants(cls: type[RaybusError]) -> list[type[RaybusError]]:
    return [found for sub in cls.__subclasses__() for found in (sub, *_descendants(sub))]


_BY_NAME = {cls.__name__: cls for cls in _descendants(RaybusError)}


def error_from_wire(name: str, message: str, remote_type: str, remote_traceback: str) -> RaybusError:
    """Rebuild an error that crossed the bus as ``(name, message, remote_type, traceback)``."""
    if name == HandlerError.__name__:
        return HandlerError(message, remote_type, remote_traceback)
    return _BY_NAME.get(name, RaybusError)(message)


def error_payload(error: BaseException) -> tuple[str, str, str, str]:
    """How an error travels: ``(class name, message, remote type, remote traceback)``."""
    if isinstance(error, HandlerError):
        return ("HandlerError", str(error.args[0]), error.remote_type, error.remote_traceback)
    return (type(error).__name__, str(error), "", "")


SAID = (RaybusError, ValueError)  # the runtime's refusals and a caller's bad input: each says all there is to say


def cause_of(error: BaseException) -> BaseException:
    """The runtime's own error (or a ``ValueError`` about what it was asked) that a Ray actor method raised,
    without Ray's wrapper, whose text carries the remote traceback: what a caller should see is one line saying
    what was refused and why."""
    while isinstance(getattr(error, "cause", None), SAID):  # an error passed on by another actor is wrapped
        error = error.cause  # once per actor it went through
    return error
