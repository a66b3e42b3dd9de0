"""Errors as ``application/problem+json`` (RFC 9457): a status, a title, what was wrong, and for a 422 each
field with its reason. Everything the gateway refuses goes through here, FastAPI's own refusals too."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

__all__ = ["PROBLEM", "Problem", "install", "invalid"]

PROBLEM = "application/problem+json"


class Problem(Exception):
    """Refuse the HTTP request with ``status``; ``errors`` lists ``{"field", "reason"}`` for a 422."""

    def __init__(self, status: int, title: str, detail: str, *, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.errors, self.headers = errors or [], headers or {}

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status,
                                "detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status, headers=self.headers, media_type=PROBLEM)


def invalid(field: str, reason: str) -> Problem:
    """A 422 naming one field and why it cannot be used."""
    return Problem(422, "Unprocessable request", f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


def install(app: FastAPI) -> None:
    async def problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return exc.response()

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
                   "reason": error["msg"]} for error in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return Problem(422, "Unprocessable request", detail, errors=errors).response()

    async def http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return Problem(exc.status_code, str(exc.detail), str(exc.detail), headers=dict(exc.headers or {})).response()

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:  # a bug: said as a problem, not a page
        return Problem(500, "Internal error", f"{type(exc).__name__}: {exc}").response()

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http)
