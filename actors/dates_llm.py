"""A ``DateModel`` that asks an OpenAI-compatible chat endpoint, enabled by configuration.

The answer is validated into the same shape as the rule-based model's (working days only), so
nothing downstream can tell which model resolved the phrase."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from datetime import date

from pydantic import BaseModel, ValidationError

from .dates import MAX_PHRASE, DateModel, DateParseError, RuleBasedDateModel, working_days

__all__ = ["OpenAIDateModel", "date_model_from_env"]

_PROMPT = (
    "You turn a request for time off into calendar dates. Today is {today} ({weekday}). "
    'Answer with JSON only: {{"days": ["YYYY-MM-DD", ...]}}, every calendar day the person means, '
    "in order. \"next <weekday>\" means that weekday in the next calendar week (weeks start on Monday)."
)


class _Answer(BaseModel):
    days: list[date]


class OpenAIDateModel:
    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 20.0,
                 country: str = "US", subdiv: str | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.country, self.subdiv = country, subdiv

    @classmethod
    def from_env(cls, country: str = "US") -> OpenAIDateModel | None:
        """``RAYBUS_LLM_BASE_URL``, ``RAYBUS_LLM_MODEL``, ``RAYBUS_LLM_API_KEY``; None when unset."""
        base_url = os.environ.get("RAYBUS_LLM_BASE_URL")
        if not base_url:
            return None
        return cls(base_url, os.environ.get("RAYBUS_LLM_MODEL", "gpt-4o-mini"), os.environ.get("RAYBUS_LLM_API_KEY"),
                   country=country)

    def resolve(self, text: str, today: date) -> list[date]:
        if not text.strip() or len(text) > MAX_PHRASE:
            raise DateParseError(text[:40], f"must be 1 to {MAX_PHRASE} characters")
        body = {
            "model": self.model, "temperature": 0, "response_format": {"type": "json_object"},
            "messages": [{"role": "system", "content": _PROMPT.format(today=today, weekday=f"{today:%A}")},
                         {"role": "user", "content": text}],
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                content = json.load(response)["choices"][0]["message"]["content"]
            answer = _Answer.model_validate_json(content)
        except (urllib.error.URLError, OSError) as exc:
            raise DateParseError(text, f"the date service did not answer: {exc}") from None
        except (KeyError, IndexError, TypeError, json.JSONDecodeError, ValidationError) as exc:
            raise DateParseError(text, f"the date service gave an unusable answer: {exc}") from None
        if any(day < today for day in answer.days):
            raise DateParseError(text, f"{min(answer.days)} is in the past (today is {today})")
        days = working_days(answer.days, self.country, self.subdiv)
        if not days:
            raise DateParseError(text, "resolves to no working day (weekends and public holidays are off anyway)")
        return days


def date_model_from_env(country: str = "US") -> DateModel:
    """The OpenAI-compatible model when ``RAYBUS_LLM_BASE_URL`` is set, else the rule-based one."""
    return OpenAIDateModel.from_env(country) or RuleBasedDateModel(country)
