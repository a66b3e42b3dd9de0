"""The dates agent: turns words into working days for one department."""

from __future__ import annotations

from cluster import Agent, MessageContext, handler

from ._config import org_of
from .dates import DateModel, DateParseError
from .dates_llm import date_model_from_env
from .messages import ResolveDates, ResolvedDates

__all__ = ["DateResolver"]


class DateResolver(Agent):
    model: DateModel

    async def on_start(self) -> None:
        self.model = date_model_from_env(country=org_of(self.config).country)

    @handler(interleave=True)  # stateless: no reason to queue one phrase behind another
    async def on_resolve(self, message: ResolveDates, ctx: MessageContext) -> ResolvedDates:
        try:
            days = self.model.resolve(message.text, message.today)
        except DateParseError as exc:
            return ResolvedDates(request_id=message.request_id, error=str(exc))
        return ResolvedDates(request_id=message.request_id, days=days)
