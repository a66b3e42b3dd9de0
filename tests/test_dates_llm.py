"""OpenAIDateModel against a local OpenAI-compatible chat-completions server; date_model_from_env wiring."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from actors.dates import MAX_PHRASE, DateModel, DateParseError, RuleBasedDateModel
from actors.dates_llm import OpenAIDateModel, date_model_from_env

TUESDAY = date(2026, 11, 24)
ENV_VARS = ("RAYBUS_LLM_BASE_URL", "RAYBUS_LLM_MODEL", "RAYBUS_LLM_API_KEY")


@dataclass
class FakeChat:
    """What the server answers next, and what it was asked."""

    base_url: str = ""
    content: str = '{"days": []}'
    status: int = 200
    raw_body: bytes | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def answer_days(self, *days: str) -> None:
        self.content = json.dumps({"days": list(days)})


def _handler_for(chat: FakeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            chat.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"error": "not found"}')
            elif chat.status != 200:
                self._send(chat.status, b'{"error": {"message": "boom"}}')
            elif chat.raw_body is not None:
                self._send(200, chat.raw_body)
            else:
                self._send(200, json.dumps({"choices": [{"message": {"content": chat.content}}]}).encode())

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChat]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    fake = FakeChat()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def model(chat: FakeChat) -> OpenAIDateModel:
    return OpenAIDateModel(chat.base_url, "test-model", "sk-test", timeout=5.0)


def test_answer_is_reduced_to_sorted_unique_working_days(chat: FakeChat, model: OpenAIDateModel) -> None:
    chat.answer_days("2026-12-04", "2026-12-03", "2026-12-05", "2026-11-26", "2026-12-04")
    assert model.resolve("next Thursday and Friday", TUESDAY) == [date(2026, 12, 3), date(2026, 12, 4)]


def test_request_goes_to_chat_completions_with_model_name_and_bearer_key(
    chat: FakeChat, model: OpenAIDateModel
) -> None:
    chat.answer_days("2026-12-03")
    model.resolve("next Thursday", TUESDAY)
    [request] = chat.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == "test-model"


def test_request_carries_the_phrase_and_today_in_the_prompt(chat: FakeChat, model: OpenAIDateModel) -> None:
    chat.answer_days("2026-12-03")
    model.resolve("next Thursday", TUESDAY)
    system, user = chat.requests[0]["body"]["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert "2026-11-24 (Tuesday)" in system["content"]
    assert user["content"] == "next Thursday"


def test_request_has_no_authorization_header_without_a_key(chat: FakeChat) -> None:
    chat.answer_days("2026-12-03")
    OpenAIDateModel(chat.base_url, "test-model", timeout=5.0).resolve("next Thursday", TUESDAY)
    assert "Authorization" not in chat.requests[0]["headers"]


def test_trailing_slash_in_base_url_is_ignored(chat: FakeChat) -> None:
    chat.answer_days("2026-12-03")
    OpenAIDateModel(chat.base_url + "/", "test-model", timeout=5.0).resolve("next Thursday", TUESDAY)
    assert chat.requests[0]["path"] == "/v1/chat/completions"


def test_non_json_answer_raises_naming_the_phrase(chat: FakeChat, model: OpenAIDateModel) -> None:
    chat.content = "Next Thursday is December 3rd."
    with pytest.raises(DateParseError, match="unusable answer") as err:
        model.resolve("next Thursday", TUESDAY)
    assert err.value.phrase == "next Thursday"


@pytest.mark.parametrize(
    "content",
    ['{"dates": ["2026-12-03"]}', '{"days": ["not a date"]}', '{"days": "2026-12-03"}', '["2026-12-03"]'],
    ids=["wrong-key", "bad-date", "not-a-list", "bare-list"],
)
def test_answer_with_wrong_schema_raises_naming_the_phrase(
    chat: FakeChat, model: OpenAIDateModel, content: str
) -> None:
    chat.content = content
    with pytest.raises(DateParseError, match="unusable answer") as err:
        model.resolve("next Thursday", TUESDAY)
    assert err.value.phrase == "next Thursday"


@pytest.mark.parametrize(
    "raw_body", [b"<html>oops</html>", b'{"choices": []}', b"{}"], ids=["html", "no-choice", "empty"]
)
def test_response_not_in_chat_completions_shape_raises(chat: FakeChat, model: OpenAIDateModel, raw_body: bytes) -> None:
    chat.raw_body = raw_body
    with pytest.raises(DateParseError, match="unusable answer"):
        model.resolve("next Thursday", TUESDAY)


def test_http_error_raises_date_parse_error_saying_the_service_did_not_answer(
    chat: FakeChat, model: OpenAIDateModel
) -> None:
    chat.status = 500
    with pytest.raises(DateParseError, match=r"did not answer: HTTP Error 500") as err:
        model.resolve("next Thursday", TUESDAY)
    assert err.value.phrase == "next Thursday"


def test_unreachable_service_raises_date_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DateParseError, match="did not answer"):
        OpenAIDateModel(f"http://127.0.0.1:{port}/v1", "test-model", timeout=2.0).resolve("next Thursday", TUESDAY)


def test_answer_with_a_past_day_raises(chat: FakeChat, model: OpenAIDateModel) -> None:
    chat.answer_days("2026-11-20", "2026-12-03")
    with pytest.raises(DateParseError, match="in the past"):
        model.resolve("last Friday and next Thursday", TUESDAY)


def test_answer_of_only_weekend_and_holiday_raises(chat: FakeChat, model: OpenAIDateModel) -> None:
    chat.answer_days("2026-11-26", "2026-11-28", "2026-11-29")
    with pytest.raises(DateParseError, match="no working day"):
        model.resolve("Thanksgiving weekend", TUESDAY)


def test_overlong_phrase_raises_without_calling_the_service(chat: FakeChat, model: OpenAIDateModel) -> None:
    with pytest.raises(DateParseError, match=f"1 to {MAX_PHRASE} characters"):
        model.resolve("x" * (MAX_PHRASE + 1), TUESDAY)
    assert chat.requests == []


def test_blank_phrase_raises_without_calling_the_service(chat: FakeChat, model: OpenAIDateModel) -> None:
    with pytest.raises(DateParseError):
        model.resolve("   ", TUESDAY)
    assert chat.requests == []


def test_openai_model_satisfies_date_model_protocol() -> None:
    assert isinstance(OpenAIDateModel("http://127.0.0.1:1/v1", "m"), DateModel)


def test_date_model_from_env_is_rule_based_when_base_url_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    model = date_model_from_env()
    assert isinstance(model, RuleBasedDateModel)
    assert model.country == "US"


def test_date_model_from_env_is_openai_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYBUS_LLM_BASE_URL", "http://llm.example/v1/")
    monkeypatch.setenv("RAYBUS_LLM_MODEL", "small-model")
    monkeypatch.setenv("RAYBUS_LLM_API_KEY", "sk-env")
    model = date_model_from_env(country="GB")
    assert isinstance(model, OpenAIDateModel)
    assert (model.url, model.model, model.api_key, model.country) == (
        "http://llm.example/v1/chat/completions",
        "small-model",
        "sk-env",
        "GB",
    )


def test_from_env_defaults_model_name_and_key_when_only_base_url_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAYBUS_LLM_BASE_URL", "http://llm.example/v1")
    model = OpenAIDateModel.from_env()
    assert model is not None
    assert (model.model, model.api_key) == ("gpt-4o-mini", None)


def test_from_env_is_none_when_base_url_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYBUS_LLM_BASE_URL", "")
    assert OpenAIDateModel.from_env() is None
