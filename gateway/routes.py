"""The HTTP API of the PTO application (FastAPI; OpenAPI at ``/docs``) and the web page at ``/``.

Every route authenticates the person by their bearer token, checks what they may see or do against the org
(``gateway.access``), and then asks the agents through the one bus connection (``gateway.bus``): agent
state is read only through the agents' own read-only messages (``actors.queries``).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, which name
dependencies local to ``build_api``."""

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Response
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from actors.employee import RequestIdReused
from actors.messages import MAX_TEXT, Cancelled, CancelRequest, Decision, RequestOutcome, RequestTimeOff, Review
from actors.org import Org
from actors.queries import Balance, Calendar, GetBalance, GetCalendar, GetInbox, GetRequests, Inbox, RequestView
from cluster import AgentId, HandlerError

from .access import may_decide, may_read_calendar, may_read_request, owner_of, request_id_for
from .bus import Bus
from .events import status_events
from .problems import Problem, install, invalid
from .tokens import InvalidToken, Person, Tokens, people_of

__all__ = ["Decide", "NewRequest", "build_api"]

STATIC = Path(__file__).parent / "static"
_bearer = HTTPBearer(auto_error=False, description="a token this gateway signed (pto_serve prints demo tokens)")


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NewRequest(_Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT, examples=["next Thursday and Friday"])


class Decide(_Body):
    approve: bool
    reason: str = Field("", max_length=MAX_TEXT)


def build_api(bus: Bus, org: Org, tokens: Tokens, demo: bool, poll: float = 0.25, longest_stream: float = 300.0
              ) -> FastAPI:
    app = FastAPI(title="raybus PTO", version="1", description="Time off, asked for in words, decided by managers.")
    install(app)

    def person(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Person:
        if credentials is None:
            raise Problem(401, "Unauthorized", "send 'Authorization: Bearer <token>'",
                          headers={"WWW-Authenticate": "Bearer"})
        try:
            return tokens.verify(credentials.credentials)
        except InvalidToken as exc:
            raise Problem(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}) from None

    Who = Annotated[Person, Depends(person)]

    def employee_of(who: Person) -> str:
        if who.kind != "employee":
            raise Problem(403, "Forbidden", f"{who.subject} is not an employee: only employees ask for time off")
        return who.id

    async def view(request_id: str, employee: str) -> RequestView:
        found = await bus.ask(AgentId("employee", employee), GetRequests(request_id=request_id))
        if not found.requests:
            raise Problem(404, "Not found", f"no request {request_id!r}")
        return found.requests[0]

    async def readable(request_id: str, who: Person) -> tuple[str, RequestView]:
        employee = owner_of(request_id, org)
        if not may_read_request(who, employee, org):
            raise Problem(403, "Forbidden", f"{who.subject} may not see request {request_id!r}")
        return employee, await view(request_id, employee)

    @app.post("/v1/pto-requests", status_code=202, tags=["requests"])
    async def submit(body: NewRequest, who: Who, response: Response,
                     idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> dict[str, Any]:
        """Ask for time off in words. The ``Idempotency-Key`` is the request's id: the same key and body
        again answer the same; the same key with another body is refused (422)."""
        employee = employee_of(who)
        request_id = request_id_for(employee, idempotency_key)
        try:
            outcome: RequestOutcome = await bus.ask(AgentId("employee", employee),
                                                    RequestTimeOff(request_id=request_id, text=body.text))
        except HandlerError as exc:
            if exc.remote_type == RequestIdReused.__name__:
                raise invalid("Idempotency-Key", f"already used with another body: {exc.args[0]}") from None
            raise
        if outcome.reason == "invalid_dates":
            raise invalid("text", outcome.detail or f"cannot read dates in {body.text!r}")
        response.headers["Location"] = f"/v1/pto-requests/{request_id}"
        return {"id": request_id, "status": outcome.status, "reason": outcome.reason,
                "days": outcome.days, "balance": outcome.balance}

    @app.get("/v1/pto-requests/{request_id}", tags=["requests"])
    async def one(request_id: str, who: Who) -> dict[str, Any]:
        """A request, for its employee, their manager, or hr of their department."""
        employee, found = await readable(request_id, who)
        return {"id": request_id, "employee": employee} | found.model_dump(exclude={"request_id"})

    @app.get("/v1/pto-requests/{request_id}/events", tags=["requests"],
             response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
    async def events(request_id: str, who: Who,
                     last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None) -> StreamingResponse:
        """Server-sent events: each status the request has had, until the terminal one; resumable with
        ``Last-Event-ID``."""
        if last_event_id is not None and not last_event_id.isdigit():
            raise invalid("Last-Event-ID", "an event number this stream sent")
        employee, first = await readable(request_id, who)
        stream = status_events(first, lambda: view(request_id, employee), int(last_event_id or 0), poll, longest_stream)
        return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.post("/v1/pto-requests/{request_id}/cancel", tags=["requests"])
    async def cancel(request_id: str, who: Who) -> dict[str, Any]:
        """Cancel an approved request of your own: the days come back, the team is told."""
        employee = owner_of(request_id, org)
        if (who.kind, who.id) != ("employee", employee):
            raise Problem(403, "Forbidden", f"{who.subject} may not cancel request {request_id!r}")
        await view(request_id, employee)  # 404 before anything is sent
        answer: Cancelled = await bus.ask(AgentId("employee", employee), CancelRequest(request_id=request_id))
        if not answer.ok:
            raise Problem(409, "Conflict", f"request {request_id!r} cannot be cancelled: {answer.reason}")
        return {"id": request_id, "status": "cancelled"}

    @app.get("/v1/me", tags=["me"])
    async def me(who: Who) -> dict[str, Any]:
        """Who the token names, and the teams whose calendars they may see."""
        teams = sorted(t for t in org.teams if may_read_calendar(who, t, org))
        return {"kind": who.kind, "id": who.id, "name": who.name, "teams": teams}

    @app.get("/v1/me/requests", tags=["me"])
    async def my_requests(who: Who) -> dict[str, Any]:
        found = await bus.ask(AgentId("employee", employee_of(who)), GetRequests())
        return {"requests": [{"id": r.request_id} | r.model_dump(exclude={"request_id"}) for r in found.requests]}

    @app.get("/v1/me/balance", tags=["me"])
    async def my_balance(who: Who) -> Balance:
        employee = employee_of(who)
        return await bus.ask(AgentId("hr", org.department_of(employee)), GetBalance(employee=employee))

    @app.get("/v1/approvals", tags=["managers"])
    async def approvals(who: Who) -> Inbox:
        """The requests of your reports waiting for your decision, with each team's cover on each day."""
        if who.kind != "manager":
            raise Problem(403, "Forbidden", f"{who.subject} is not a manager: only managers have approvals")
        return await bus.ask(AgentId("manager", who.id), GetInbox())

    @app.post("/v1/pto-requests/{request_id}/decision", tags=["managers"])
    async def decide(request_id: str, body: Decide, who: Who) -> dict[str, Any]:
        """Approve or decline a request waiting for you; the teams' cover is checked again first."""
        employee = owner_of(request_id, org)
        if not may_decide(who, employee, org):
            raise Problem(403, "Forbidden", f"{who.subject} does not decide request {request_id!r}")
        if "waiting" not in (await view(request_id, employee)).history:  # decided already: the decision again
            raise Problem(409, "Conflict", f"request {request_id!r} never waited for a manager's decision")
        decision: Decision = await bus.ask(AgentId("manager", who.id),
                                           Review(request_id=request_id, approve=body.approve, reason=body.reason))
        return {"id": request_id, "status": "approved" if decision.approved else "rejected",
                "reason": decision.reason, "days": decision.days}

    @app.get("/v1/teams/{team}/calendar", tags=["teams"])
    async def calendar(team: str, who: Who) -> Calendar:
        """Who of the team is off when, tentatively (waiting for a manager) or confirmed."""
        if team not in org.teams:
            raise Problem(404, "Not found", f"no team {team!r}")
        if not may_read_calendar(who, team, org):
            raise Problem(403, "Forbidden", f"{who.subject} may not see the calendar of team {team!r}")
        return await bus.ask(AgentId("team", team), GetCalendar())

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"])
    async def readyz() -> dict[str, str]:
        """Ready when an agent answers through the bus."""
        await bus.ask(AgentId("team", min(org.teams)), GetCalendar())
        return {"status": "ready"}

    @app.get("/v1/demo/people", tags=["demo"])
    async def demo_people() -> dict[str, Any]:
        """Everyone of the org with a token to act as them: only when the gateway runs as a demo."""
        if not demo:
            raise Problem(404, "Not found", "not a demo gateway: tokens are handed out by whoever runs it")
        return {"today": org.today, "people": [
            {"kind": p.kind, "id": p.id, "name": p.name, "token": tokens.issue(p),
             "manager": org.employees[p.id].manager if p.kind == "employee" else None} for p in people_of(org)]}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app

