"""The PTO agents' own checks of who sent what, made in their handlers before anything changes: they hold
with or without ``actors.policy.pto_policy``. They trust only what the runtime stamps (``ctx.sender``,
``ctx.topic``) and the org, never a field of the message for who is asking."""

from __future__ import annotations

from cluster import AgentId, MessageContext, NotAuthorized

from .messages import TimeOffCancelled, TimeOffNotice
from .org import Org

__all__ = ["check_notice", "managers_of", "refuse_unless", "who"]


def who(ctx: MessageContext) -> str:
    return "the driver" if ctx.sender is None else str(ctx.sender)


def refuse_unless(allowed: bool, ctx: MessageContext, what: str, rule: str) -> None:
    """Raise ``NotAuthorized`` naming the sender, what it may not do and who may, unless ``allowed``."""
    if not allowed:
        raise NotAuthorized(f"{who(ctx)} may not {what}: {rule}")


def managers_of(org: Org, employees: object) -> set[AgentId]:
    """The managers of those of ``employees`` the org knows."""
    return {AgentId("manager", org.employees[e].manager) for e in employees if e in org.employees}


def check_notice(notice: TimeOffNotice | TimeOffCancelled, ctx: MessageContext, recipient: AgentId) -> None:
    """A notice is heard only as a publish by the employee it names: a direct send, or anyone else's
    publish, is a forgery."""
    author = AgentId("employee", notice.employee)
    how = "send" if ctx.topic is None else f"publish on {ctx.topic}"
    refuse_unless(ctx.topic is not None and ctx.sender == author, ctx,
                  f"{how} {type(notice).__name__} {notice.request_id!r} to {recipient}",
                  f"only {author} publishes its own notices")
