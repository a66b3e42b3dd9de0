"""The HTTP gateway against the real server: Ray Serve's proxy on a local port, the gateway deployment, and the
PTO app on a real (private, local) Ray, driven with httpx. The org is test_pto's (a1 a2 a3 x in alpha under m1;
b1 b2 x in beta under m2; c1 c2 in gamma under m3, department sales); one day goes through on its own, two wait
for the manager. Each test uses its own people and days, since the server is shared by the session."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from conftest import GatewayUnderTest, serve_pto, wait_until

from cluster import Runtime


@pytest.fixture
def gw(pto_gateway: GatewayUnderTest) -> GatewayUnderTest:
    return pto_gateway


def post(gw: GatewayUnderTest, subject: str, text: str, key: str | None = None) -> httpx.Response:
    headers = gw.headers(subject, **({"Idempotency-Key": key} if key else {}))
    return httpx.post(f"{gw.url}/v1/pto-requests", json={"text": text}, headers=headers, timeout=30)


def get(gw: GatewayUnderTest, subject: str, path: str) -> httpx.Response:
    return httpx.get(f"{gw.url}{path}", headers=gw.headers(subject), timeout=30)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


# --- asking ---------------------------------------------------------------------------------------


def test_a_request_is_accepted_with_its_location_id_and_status(gw: GatewayUnderTest) -> None:
    response = post(gw, "employee/a1", "Dec 9", "first")

    assert response.status_code == 202
    assert response.headers["location"] == "/v1/pto-requests/a1.first"
    assert response.json() | {"balance": None} == {"id": "a1.first", "status": "approved", "reason": None,
                                                   "days": ["2026-12-09"], "balance": None}


def test_the_same_key_and_body_again_answer_the_same_and_make_one_request(gw: GatewayUnderTest) -> None:
    answers = [post(gw, "employee/a3", "Dec 10", "once") for _ in range(3)]

    assert {a.status_code for a in answers} == {202} and len({a.text for a in answers}) == 1
    mine = get(gw, "employee/a3", "/v1/me/requests").json()["requests"]
    assert [r["id"] for r in mine].count("a3.once") == 1
    assert get(gw, "employee/a3", "/v1/me/balance").json() == {"employee": "a3", "balance": 9, "held": 0,
                                                               "available": 9}


def test_the_same_key_with_another_body_is_422_naming_the_key(gw: GatewayUnderTest) -> None:
    assert post(gw, "employee/a3", "Dec 11", "reused").status_code == 202

    found = problem(post(gw, "employee/a3", "Dec 14", "reused"), 422)

    assert [e["field"] for e in found["errors"]] == ["Idempotency-Key"]
    assert "'Dec 11'" in found["detail"]


def test_an_unparseable_date_phrase_is_422_naming_the_phrase(gw: GatewayUnderTest) -> None:
    found = problem(post(gw, "employee/a1", "blorp next fortnight", "blorp"), 422)

    assert found["errors"][0]["field"] == "text"
    assert "'blorp next fortnight'" in found["errors"][0]["reason"]


@pytest.mark.parametrize(("body", "key", "field"), [
    pytest.param({"text": "Dec 9"}, None, "Idempotency-Key", id="no-key"),
    pytest.param({"text": "Dec 9"}, "not a key!", "Idempotency-Key", id="bad-key"),
    pytest.param({"words": "Dec 9"}, "k", "text", id="no-text"),
    pytest.param({"text": ""}, "k", "text", id="empty-text"),
])
def test_a_post_missing_what_it_needs_is_422_naming_the_field(gw: GatewayUnderTest, body: dict[str, str],
                                                              key: str | None, field: str) -> None:
    headers = gw.headers("employee/a2", **({"Idempotency-Key": key} if key else {}))

    found = problem(httpx.post(f"{gw.url}/v1/pto-requests", json=body, headers=headers, timeout=30), 422)

    assert field in [e["field"] for e in found["errors"]]


# --- who may ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer nonsense", "Basic YTpi",
                                           "Bearer eyJzdWIiOiJlbXBsb3llZS9hMSJ9.forged"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/me/requests"), ("GET", "/v1/approvals"),
                                              ("POST", "/v1/pto-requests"), ("GET", "/v1/pto-requests/a1.first")])
def test_without_a_valid_token_the_api_is_401(gw: GatewayUnderTest, authorization: str | None, method: str,
                                              path: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = httpx.request(method, f"{gw.url}{path}", headers=headers, json={"text": "Dec 9"}, timeout=30)

    problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_request_is_readable_by_its_employee_their_manager_and_their_hr_only(gw: GatewayUnderTest) -> None:
    assert post(gw, "employee/a2", "Dec 16", "mine").status_code == 202
    path = "/v1/pto-requests/a2.mine"

    assert {who: get(gw, who, path).status_code for who in ("employee/a2", "manager/m1", "hr/ops", "employee/a1",
                                                            "manager/m2", "hr/sales")} == {
        "employee/a2": 200, "manager/m1": 200, "hr/ops": 200, "employee/a1": 403, "manager/m2": 403, "hr/sales": 403}
    assert get(gw, "employee/a2", path).json()["history"] == ["resolving", "pending", "approved"]


@pytest.mark.parametrize("path", ["/v1/pto-requests/a2.never", "/v1/pto-requests/nobody.k",
                                  "/v1/pto-requests/no-dot", "/v1/teams/omega/calendar", "/v1/nothing"])
def test_what_does_not_exist_is_404(gw: GatewayUnderTest, path: str) -> None:
    problem(get(gw, "employee/a2", path), 404)


def test_only_employees_ask_and_only_managers_have_approvals(gw: GatewayUnderTest) -> None:
    problem(post(gw, "manager/m1", "Dec 9", "boss"), 403)
    problem(get(gw, "employee/a1", "/v1/approvals"), 403)


def test_a_team_calendar_is_for_its_members_its_manager_and_hr(gw: GatewayUnderTest) -> None:
    codes = {who: get(gw, who, "/v1/teams/alpha/calendar").status_code
             for who in ("employee/a2", "employee/x", "manager/m1", "hr/ops", "employee/b1", "manager/m2")}

    assert codes == {"employee/a2": 200, "employee/x": 200, "manager/m1": 200, "hr/ops": 200, "employee/b1": 403,
                     "manager/m2": 403}


# --- managers --------------------------------------------------------------------------------------


def test_a_manager_sees_a_waiting_request_with_cover_and_approves_it(gw: GatewayUnderTest) -> None:
    asked = post(gw, "employee/x", "next Thursday and Friday", "long")
    assert asked.json()["status"] == "waiting"

    inbox = get(gw, "manager/m1", "/v1/approvals").json()["waiting"]
    item = next(i for i in inbox if i["request_id"] == "x.long")
    assert item["days"] == ["2026-12-03", "2026-12-04"]
    assert sorted(t["team"] for t in item["teams"]) == ["alpha", "beta"]
    assert all(t["reserved"] and len(t["days"]) == 2 for t in item["teams"])

    decide = {"approve": True, "reason": "have a good one"}
    problem(httpx.post(f"{gw.url}/v1/pto-requests/x.long/decision", json=decide,
                       headers=gw.headers("manager/m2"), timeout=30), 403)
    decided = httpx.post(f"{gw.url}/v1/pto-requests/x.long/decision", json=decide,
                         headers=gw.headers("manager/m1"), timeout=30)

    assert decided.json()["status"] == "approved"
    assert get(gw, "employee/x", "/v1/pto-requests/x.long").json()["history"] == [
        "resolving", "pending", "waiting", "approved"]
    assert all(i["request_id"] != "x.long" for i in get(gw, "manager/m1", "/v1/approvals").json()["waiting"])


def test_deciding_a_request_that_never_waited_is_409(gw: GatewayUnderTest) -> None:
    assert post(gw, "employee/a2", "Dec 17", "short").json()["status"] == "approved"

    problem(httpx.post(f"{gw.url}/v1/pto-requests/a2.short/decision", json={"approve": False},
                       headers=gw.headers("manager/m1"), timeout=30), 409)


# --- events ----------------------------------------------------------------------------------------


def read_events(gw: GatewayUnderTest, subject: str, path: str, last_event_id: int | None = None,
                on_event: Any = None) -> list[tuple[int, dict[str, Any]]]:
    headers = gw.headers(subject, **({"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}))
    found: list[tuple[int, dict[str, Any]]] = []
    with httpx.stream("GET", f"{gw.url}{path}", headers=headers, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        number = 0
        for line in response.iter_lines():
            if line.startswith("id: "):
                number = int(line[4:])
            elif line.startswith("data: "):
                found.append((number, json.loads(line[6:])))
                if on_event:
                    on_event(found[-1])
    return found


def test_events_stream_each_status_live_until_the_terminal_one_and_resume_after_the_last_seen(
        gw: GatewayUnderTest) -> None:
    assert post(gw, "employee/c2", "Dec 22 to Dec 23", "watched").json()["status"] == "waiting"
    path = "/v1/pto-requests/c2.watched/events"

    def decide_once_waiting(event: tuple[int, dict[str, Any]]) -> None:  # the manager decides while c2 watches
        if event[1]["status"] == "waiting":
            threading.Thread(target=httpx.post, args=(f"{gw.url}/v1/pto-requests/c2.watched/decision",),
                             kwargs={"json": {"approve": True}, "headers": gw.headers("manager/m3")}).start()

    live = read_events(gw, "employee/c2", path, on_event=decide_once_waiting)

    assert [(n, e["status"]) for n, e in live] == [(1, "resolving"), (2, "pending"), (3, "waiting"), (4, "approved")]
    assert live[-1][1]["final"] and live[-1][1]["days"] == ["2026-12-22", "2026-12-23"]
    resumed = read_events(gw, "employee/c2", path, last_event_id=2)
    assert [(n, e["status"]) for n, e in resumed] == [(3, "waiting"), (4, "approved")]
    problem(get(gw, "employee/c1", path), 403)


# --- cancelling, balance --------------------------------------------------------------------------


def test_cancelling_an_approved_request_gives_the_days_back_and_only_its_employee_may(gw: GatewayUnderTest) -> None:
    assert post(gw, "employee/b2", "Dec 18", "cancel-me").json()["status"] == "approved"
    assert get(gw, "employee/b2", "/v1/me/balance").json()["balance"] == 9
    cancel = "/v1/pto-requests/b2.cancel-me/cancel"

    problem(httpx.post(f"{gw.url}{cancel}", headers=gw.headers("employee/b1"), timeout=30), 403)
    assert httpx.post(f"{gw.url}{cancel}", headers=gw.headers("employee/b2"), timeout=30).json() == {
        "id": "b2.cancel-me", "status": "cancelled"}
    assert get(gw, "employee/b2", "/v1/me/balance").json()["balance"] == 10


def test_cancelling_a_rejected_request_is_409(gw: GatewayUnderTest) -> None:
    assert post(gw, "employee/a2", "Dec 28 to Dec 31", "too-much").json()["reason"] == "insufficient_balance"

    problem(httpx.post(f"{gw.url}/v1/pto-requests/a2.too-much/cancel", headers=gw.headers("employee/a2"),
                       timeout=30), 409)


# --- the service -----------------------------------------------------------------------------------


def test_health_readiness_the_openapi_docs_and_the_page_are_served(gw: GatewayUnderTest) -> None:
    assert httpx.get(f"{gw.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gw.url}/readyz", timeout=30).json() == {"status": "ready"}
    assert "/v1/pto-requests" in httpx.get(f"{gw.url}/openapi.json").json()["paths"]
    assert httpx.get(f"{gw.url}/docs").status_code == 200
    assert "<title>Time off</title>" in httpx.get(f"{gw.url}/").text


def test_a_full_application_is_429_with_retry_after_and_a_slow_one_504_and_a_retry_gets_the_answer(
        serve_http: int, tmp_path: Path) -> None:
    """A namespace with a send window of one call per host and a gateway that waits 0.3 s: the first request
    finds its hosts not yet started (504); many at once find the window full (429). The many ask for another day
    than the first, so none of them takes its day or its team's cover: it is approved however the race goes."""
    rt = Runtime.connect(namespace=f"gt{uuid4().hex[:10]}", window=1)
    try:
        tight = serve_pto(rt, tmp_path, serve_http, "pto-tight", "/tight", timeout=0.3)
        problem(post(tight, "employee/a1", "Dec 9", "cold"), 504)

        async def many() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                return await asyncio.gather(*(client.post(
                    f"{tight.url}/v1/pto-requests", json={"text": "Dec 10"},
                    headers=tight.headers(f"employee/{e}", **{"Idempotency-Key": f"k{n}"}))
                    for n in range(8) for e in ("a1", "a2", "a3", "b1", "b2", "c1", "c2")))

        answers = asyncio.run(many())
        full = [a for a in answers if a.status_code == 429]
        assert full and all(a.headers["retry-after"] == "1" for a in full), [a.status_code for a in answers]
        assert {a.status_code for a in answers} <= {202, 429, 504}, [
            a.json() for a in answers if a.status_code not in (202, 429, 504)]
        # what the 504 left running finishes on its own: retried until the gateway has room, it is one request
        retried = wait_until(lambda: (answer := post(tight, "employee/a1", "Dec 9", "cold")).status_code == 202
                             and answer)
        assert retried.json()["status"] == "approved"
    finally:
        from ray import serve

        serve.delete("pto-tight")
        rt.shutdown(destroy=True)
