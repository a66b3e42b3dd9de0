"""The PTO agents' own checks of who sent what, made in their handlers before anything changes: they hold
with or without ``actors.policy.pto_policy``. They trust only what the runtime stamps (``ctx.sender``,
``ctx.principal``, ``ctx.topic``) and the org, never a field of the message for who is asking."""

from __future__ import annotations

from cluster import AgentId, MessageContext, NotAuthorized, Principal

from .messages import TimeOffCancelled, TimeOffNotice
from .org import Org

__all__ = ["EMPLOYEE_SERVICES", "GATEWAY_SERVICE", "PTO_SERVICE", "check_notice", "check_speaks_for", "for_a_person",
           "managers_of", "refuse_unless", "who"]

PTO_SERVICE = Principal.service("pto")  # what the scenarios connect as, to ask and cancel for every employee
GATEWAY_SERVICE = Principal.service("gateway")  # the HTTP gateway, which checks the person's token first
EMPLOYEE_SERVICES = frozenset({PTO_SERVICE, GATEWAY_SERVICE})  # the services granted to act for employees


def who(ctx: MessageContext) -> str:
    """The sender as the runtime stamped it: an agent's id, or a driver's principal."""
    return str(ctx.sender) if ctx.sender is not None else str(ctx.principal or "the runtime")


def check_speaks_for(ctx: MessageContext, employee: AgentId, what: str) -> None:
    """Only the employee's own principal (``user/<id>``), or a service granted to act for employees, asks and
    cancels for it; never an agent. (Every request passes here: nothing is formatted unless it is refused.)"""
    principal = ctx.principal if ctx.sender is None else None
    if principal is not None and (principal in EMPLOYEE_SERVICES or
                                  (principal.kind == "user" and principal.name == employee.key)):
        return
    services = ", ".join(sorted(map(str, EMPLOYEE_SERVICES)))
    refuse_unless(False, ctx, f"{what} of {employee}",
                  f"only user/{employee.key} or a service acting for employees ({services}) may")


def for_a_person(ctx: MessageContext) -> bool:
    """A driver that acts for people (a service granted to act for employees, which checked the person at its own
    door), or the namespace's admin: what a person does or reads in person comes only from one of them."""
    principal = ctx.principal if ctx.sender is None else None
    return principal is not None and (principal in EMPLOYEE_SERVICES or principal.is_admin)


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
