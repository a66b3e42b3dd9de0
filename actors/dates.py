"""Dates: words to working days. ``DateModel`` is the seam; ``RuleBasedDateModel`` the embedded default."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Protocol, runtime_checkable

import holidays
from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta

__all__ = ["MAX_PHRASE", "DateModel", "DateParseError", "RuleBasedDateModel", "working_days"]

MAX_PHRASE = 200
MAX_SPAN_DAYS = 366
WEEKDAYS = {name: index for index, names in enumerate(
    [("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"), ("thursday", "thu", "thur", "thurs"),
     ("friday", "fri"), ("saturday", "sat"), ("sunday", "sun")]) for name in names}
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
           "ten": 10}
_RANGE = re.compile(r"^(?:from\s+)?(?P<start>.+?)\s*(?:\bto\b|\bthrough\b|\bthru\b|\buntil\b|\btill\b|\s-\s|\u2013)\s*"
                    r"(?P<end>.+)$")
_COUNT = re.compile(r"^(?P<n>\d+|" + "|".join(NUMBERS) + r")\s+(?:working\s+|work\s+)?days?\s+"
                    r"(?:starting|from|beginning)\s+(?:on\s+)?(?P<start>.+)$")
_LIST = re.compile(r"\s*(,\s*and\s+|,|\band\b|&)\s*")  # keeps the separators: a comma may be inside a date


class DateParseError(ValueError):
    """A phrase that cannot be understood, or that names no working day in the future."""

    def __init__(self, phrase: str, why: str) -> None:
        super().__init__(f"date phrase {phrase!r}: {why}")
        self.phrase = phrase


@runtime_checkable
class DateModel(Protocol):
    def resolve(self, text: str, today: date) -> list[date]:
        """Working days only, sorted and unique; raises ``DateParseError``."""
        ...


@lru_cache(maxsize=64)
def _holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year))


def working_days(days: list[date] | set[date], country: str = "US", subdiv: str | None = None) -> list[date]:
    """``days`` less weekends and the country's public holidays, sorted and unique."""
    return sorted(d for d in set(days) if d.weekday() < 5 and d not in _holidays(country, subdiv, d.year))


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _next_week_monday(today: date) -> date:
    """On a weekend the current week is over, so "next week" is the one starting the coming Monday."""
    return _monday(today) + timedelta(days=7)


class RuleBasedDateModel:
    """Reads phrases with rules over python-dateutil, and removes weekends and public holidays.

    How it reads a weekday:
    - "next Thursday" is the Thursday of the next calendar week (weeks start on Monday): said on
      Tuesday 2026-11-24 or on Saturday 2026-11-28, it is 2026-12-03 — never the Thursday two days away.
    - "Thursday", "this Thursday", "on Thursday" is the coming Thursday within seven days (today counts).
    - In a list ("next Thursday and Friday") a leading "next"/"this" applies to every bare weekday after it.
    - A range's end ("from Monday to Wednesday") is the first such day on or after the range's start.
    - A date without a year ("Dec 22") is its next occurrence on or after today; a range end without a year
      is the first on or after the start, so "Dec 30 to Jan 2" crosses the new year; so is a later date in a
      list, and a bare day number keeps the month before it ("Dec 22 and 23").
    - A comma inside one date does not make a list: "Dec 3, 2026" and "Friday, Dec 4" are one day each (a
      weekday that is not the date's is an error).
    Also: "today", "tomorrow", "this week", "next week", "the week after next", "N days starting X"
    (N working days), ISO dates. A phrase in the past, longer than a year, or naming no working day is an error.
    """

    def __init__(self, country: str = "US", subdiv: str | None = None) -> None:
        self.country = country
        self.subdiv = subdiv

    def resolve(self, text: str, today: date) -> list[date]:
        phrase = " ".join(str(text).lower().replace("\u2019", "'").split()).strip(" .!?")
        if not phrase:
            raise DateParseError(text, "empty")
        if len(text) > MAX_PHRASE:
            raise DateParseError(text[:40] + "...", f"longer than {MAX_PHRASE} characters")
        try:
            days = self._days(phrase, today, text)
        except DateParseError:
            raise
        except (ValueError, OverflowError) as exc:  # date arithmetic beyond year 9999
            raise DateParseError(text, f"cannot be resolved: {exc}") from None
        if min(days) < today:
            raise DateParseError(text, f"{min(days)} is in the past (today is {today})")
        if (max(days) - min(days)).days >= MAX_SPAN_DAYS:
            raise DateParseError(text, f"absurd range of {(max(days) - min(days)).days + 1} days")
        found = working_days(days, self.country, self.subdiv)
        if not found:
            raise DateParseError(text, "resolves to no working day (weekends and public holidays are off anyway)")
        return found

    def _days(self, phrase: str, today: date, text: str) -> list[date]:
        # computed only when asked: near 9999-12-31 the week after next does not exist, and need not
        weeks = {"this week": lambda: _monday(today), "next week": lambda: _next_week_monday(today),
                 "the week after next": lambda: _next_week_monday(today) + timedelta(days=7),
                 "week after next": lambda: _next_week_monday(today) + timedelta(days=7)}
        if phrase in weeks:
            monday = weeks[phrase]()
            return [d for d in (monday + timedelta(days=i) for i in range(5)) if d >= today] or [monday]
        if match := _COUNT.match(phrase):
            count = int(match["n"]) if match["n"].isdigit() else NUMBERS[match["n"]]
            if not 1 <= count <= 260:
                raise DateParseError(text, f"{count} days is not a sensible length")
            return self._count_from(self._day(match["start"], today, text, None), count)
        if match := _RANGE.match(phrase):
            start = self._day(match["start"], today, text, None)
            # "to next Wednesday" counts from today; "to Wednesday" or "to Jan 2" from the start.
            end_anchor = today if _modifier(match["end"]) else start
            end = self._day(match["end"], end_anchor, text, None)
            rolled_over = end.year > start.year and not re.search(r"\d{4}", match["end"])
            if end < start or (rolled_over and (end - start).days > 92):  # "Dec 24 to Dec 1" is a slip
                raise DateParseError(text, f"ends ({end}) before it starts ({start})")
            return [start + timedelta(days=i) for i in range((end - start).days + 1)]
        parts = _list_items(_LIST.split(phrase))
        if not parts:  # "and", ",": only separators
            raise DateParseError(text, "names no day")
        modifier = None
        days = []
        for part in parts:
            modifier = _modifier(part) or modifier
            # like a range's end, a later calendar date reads on from the item before: "Dec 22 and 23"
            anchor = days[-1] if days and _is_calendar_date(part) else today
            days.append(self._day(part, anchor, text, modifier))
        return days

    def _count_from(self, start: date, count: int) -> list[date]:
        days, day = [], start
        while True:
            if working_days([day], self.country, self.subdiv):
                days.append(day)
                if len(days) == count:  # stop before stepping on: the last day may be 9999-12-31
                    return days
            day += timedelta(days=1)

    def _day(self, part: str, anchor: date, text: str, inherited: str | None) -> date:
        """One day; ``anchor`` is today, or a range's start for its end."""
        part = part.strip()
        if part in ("today",):
            return anchor
        if part == "tomorrow":
            return anchor + timedelta(days=1)
        words = part.removeprefix("on ").split()
        if words and words[-1] in WEEKDAYS and len(words) <= 2:
            modifier = words[0] if len(words) == 2 else inherited
            weekday = WEEKDAYS[words[-1]]
            if modifier == "next":
                return _next_week_monday(anchor) + timedelta(days=weekday)
            if modifier in (None, "this", "coming"):
                return anchor + relativedelta(weekday=weekday)
        named = WEEKDAYS.get(words[0]) if len(words) > 1 else None  # "friday dec 4": the date, checked
        day = self._absolute(" ".join(words[1:]) if named is not None else part, anchor, text)
        if named is not None and day.weekday() != named:
            raise DateParseError(text, f"{day} is a {day:%A}, not a {words[0].capitalize()}")
        return day

    @staticmethod
    def _absolute(part: str, anchor: date, text: str) -> date:
        try:
            parsed = date_parser.parse(part, default=datetime(anchor.year, anchor.month, 1))
        except (ValueError, OverflowError):
            raise DateParseError(text, f"cannot understand {part!r}") from None
        day = parsed.date()
        if not re.search(r"\d{4}", part) and day < anchor:
            day += relativedelta(years=1)  # "Jan 2" said in December means next year
        return day


def _list_items(pieces: list[str]) -> list[str]:
    """The items of a list split with its separators (item, separator, item...). A comma may sit inside one
    date: "Dec 3, 2026" (a bare year joins the date before it) and "Friday, Dec 4" (a bare weekday joins the
    date after it) are one day each, not two."""
    items: list[str] = []
    for index in range(0, len(pieces), 2):
        part = pieces[index]
        if not part:
            continue
        after_comma = index > 0 and pieces[index - 1].strip() == ","
        if after_comma and items and (
                (re.fullmatch(r"\d{4}", part) and not re.search(r"\d{4}", items[-1]))
                or (items[-1] in WEEKDAYS and _is_calendar_date(part))):
            items[-1] = f"{items[-1]} {part}"
        else:
            items.append(part)
    return items


def _is_calendar_date(part: str) -> bool:
    words = part.split()
    return bool(words) and words[-1] not in WEEKDAYS and part not in ("today", "tomorrow")


def _modifier(part: str) -> str | None:
    first = part.strip().removeprefix("from ").removeprefix("on ").split()[:1]
    return first[0] if first and first[0] in ("next", "this", "coming") else None
