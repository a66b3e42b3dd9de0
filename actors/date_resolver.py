"""The dates agent: turns words into working days for one department."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache

from cluster import Agent, MessageContext, handler

from ._config import org_of
from .dates import DateModel, DateParseError
from .dates_llm import date_model_from_env
from .messages import ResolveDates, ResolvedDates

__all__ = ["DateResolver"]


@lru_cache(maxsize=8)
def _model_for(country: str) -> tuple[DateModel, Callable[[str, date], tuple[date, ...]]]:
    """One model per country per process, and its last 4,096 answers, shared by the departments' dates agents:
    it keeps nothing of a request, a phrase said on a given day means the same days in every department, and
    each rule-based model holds its own holiday calendar (42 KB, measured: a host of 1,400 dates agents held 60 MB
    of them, and each parsed anew what another had parsed)."""
    model = date_model_from_env(country=country)
    return model, lru_cache(maxsize=4096)(lambda text, today: tuple(model.resolve(text, today)))


class DateResolver(Agent):
    """Remembers recent answers (per process): a phrase said on a given day always means the same days, and the
    model behind it may be a paid, slow chat endpoint."""

    model: DateModel
    _resolve: Callable[[str, date], tuple[date, ...]]

    async def on_start(self) -> None:
        self.model, self._resolve = _model_for(org_of(self.config).country)

    # stateless: no reason to queue one phrase behind another; pure: a phrase said on a given day means the same days
    # whenever asked, so a copy of the message is answered by resolving it again, and with a state_dir the answer
    # leaves without waiting for a write (1.5 of the 8.8 rows a request stored in the tuned run, 2026-12-05)
    @handler(interleave=True, pure=True)
    async def on_resolve(self, message: ResolveDates, ctx: MessageContext) -> ResolvedDates:
        try:
            days = list(self._resolve(message.text, message.today))
        except DateParseError as exc:
            return ResolvedDates(request_id=message.request_id, error=str(exc))
        return ResolvedDates(request_id=message.request_id, days=days)
