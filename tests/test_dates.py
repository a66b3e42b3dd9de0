"""RuleBasedDateModel and working_days: phrases to US working days, checked against a hand-read 2026 calendar."""

from __future__ import annotations

from datetime import date

import pytest

from actors.dates import MAX_PHRASE, DateModel, DateParseError, RuleBasedDateModel, working_days

TUESDAY = date(2026, 11, 24)  # Thanksgiving is Thursday 2026-11-26
SATURDAY = date(2026, 11, 28)
MID_DECEMBER = date(2026, 12, 14)  # a Monday; Christmas is Friday 2026-12-25, New Year's Day Friday 2027-01-01

NEXT_WEEK = [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]

PHRASES: list[tuple[str, date, list[date]]] = [
    ("today", TUESDAY, [date(2026, 11, 24)]),
    ("tomorrow", TUESDAY, [date(2026, 11, 25)]),
    ("next Monday", TUESDAY, [date(2026, 11, 30)]),
    ("next Tuesday", TUESDAY, [date(2026, 12, 1)]),
    ("next Wednesday", TUESDAY, [date(2026, 12, 2)]),
    ("next Thursday", TUESDAY, [date(2026, 12, 3)]),
    ("next Friday", TUESDAY, [date(2026, 12, 4)]),
    ("next Thursday", SATURDAY, [date(2026, 12, 3)]),
    ("next Monday", date(2026, 11, 30), [date(2026, 12, 7)]),
    ("next Thursday and Friday", TUESDAY, [date(2026, 12, 3), date(2026, 12, 4)]),
    ("next Thursday and Friday", SATURDAY, [date(2026, 12, 3), date(2026, 12, 4)]),
    ("this Friday", TUESDAY, [date(2026, 11, 27)]),
    ("on Friday", TUESDAY, [date(2026, 11, 27)]),
    ("Thursday", date(2026, 12, 3), [date(2026, 12, 3)]),
    ("this week", TUESDAY, [date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27)]),
    ("next week", TUESDAY, NEXT_WEEK),
    ("next week", SATURDAY, NEXT_WEEK),
    (
        "the week after next",
        TUESDAY,
        [date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9), date(2026, 12, 10), date(2026, 12, 11)],
    ),
    ("3 days starting next Tuesday", TUESDAY, [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)]),
    ("3 days starting tomorrow", TUESDAY, [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30)]),
    ("three working days from Dec 23", TUESDAY, [date(2026, 12, 23), date(2026, 12, 24), date(2026, 12, 28)]),
    ("Dec 22 to Dec 24", TUESDAY, [date(2026, 12, 22), date(2026, 12, 23), date(2026, 12, 24)]),
    ("Dec 22\u2013Dec 24", TUESDAY, [date(2026, 12, 22), date(2026, 12, 23), date(2026, 12, 24)]),
    ("2026-12-28", TUESDAY, [date(2026, 12, 28)]),
    ("from Monday to Wednesday", TUESDAY, [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]),
    ("Mon - Wed", TUESDAY, [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]),
    ("from Wednesday to next Monday", TUESDAY, [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30)]),
    ("Dec 4 to Dec 8", TUESDAY, [date(2026, 12, 4), date(2026, 12, 7), date(2026, 12, 8)]),
    (
        "Dec 23 through Dec 29",
        TUESDAY,
        [date(2026, 12, 23), date(2026, 12, 24), date(2026, 12, 28), date(2026, 12, 29)],
    ),
    ("tomorrow until Friday", TUESDAY, [date(2026, 11, 25), date(2026, 11, 27)]),
    ("Dec 30 to Jan 2", MID_DECEMBER, [date(2026, 12, 30), date(2026, 12, 31)]),
    ("Dec 30 to Jan 5", MID_DECEMBER, [date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 4), date(2027, 1, 5)]),
    ("Jan 4", MID_DECEMBER, [date(2027, 1, 4)]),
    ("Nov 23", TUESDAY, [date(2027, 11, 23)]),
    ("Dec 21, Dec 22 and Dec 23", TUESDAY, [date(2026, 12, 21), date(2026, 12, 22), date(2026, 12, 23)]),
    ("  NEXT   thursday  ", TUESDAY, [date(2026, 12, 3)]),
    ("Tomorrow!", TUESDAY, [date(2026, 11, 25)]),
    ("DEC 22 TO dec 24", TUESDAY, [date(2026, 12, 22), date(2026, 12, 23), date(2026, 12, 24)]),
]


@pytest.fixture
def model() -> RuleBasedDateModel:
    return RuleBasedDateModel()


@pytest.mark.parametrize(("phrase", "today", "expected"), PHRASES, ids=[f"{p.strip()}@{t}" for p, t, _ in PHRASES])
def test_phrase_resolves_to_expected_working_days(
    model: RuleBasedDateModel, phrase: str, today: date, expected: list[date]
) -> None:
    assert model.resolve(phrase, today) == expected


def test_unparseable_phrase_raises_naming_the_phrase(model: RuleBasedDateModel) -> None:
    with pytest.raises(DateParseError, match="whenever works") as err:
        model.resolve("whenever works", TUESDAY)
    assert err.value.phrase == "whenever works"


def test_blank_phrase_raises(model: RuleBasedDateModel) -> None:
    with pytest.raises(DateParseError, match="empty"):
        model.resolve("   ", TUESDAY)


@pytest.mark.parametrize("phrase", [",", "and", "&"])
def test_phrase_of_only_separators_raises_date_parse_error(model: RuleBasedDateModel, phrase: str) -> None:
    with pytest.raises(DateParseError):
        model.resolve(phrase, TUESDAY)


@pytest.mark.parametrize(
    ("phrase", "today"),
    [("Thursday", TUESDAY), ("Dec 25", TUESDAY), ("Saturday", TUESDAY), ("Dec 26 to Dec 27", TUESDAY)],
    ids=["thanksgiving", "christmas", "saturday", "weekend-range"],
)
def test_phrase_naming_only_weekends_or_holidays_raises(model: RuleBasedDateModel, phrase: str, today: date) -> None:
    with pytest.raises(DateParseError, match="no working day") as err:
        model.resolve(phrase, today)
    assert err.value.phrase == phrase


def test_explicit_past_date_raises(model: RuleBasedDateModel) -> None:
    with pytest.raises(DateParseError, match="in the past"):
        model.resolve("2026-11-20", TUESDAY)


def test_this_week_said_on_a_weekend_raises_as_past(model: RuleBasedDateModel) -> None:
    with pytest.raises(DateParseError, match="in the past"):
        model.resolve("this week", SATURDAY)


def test_phrase_longer_than_max_phrase_raises(model: RuleBasedDateModel) -> None:
    phrase = "tomorrow " + "x" * MAX_PHRASE
    with pytest.raises(DateParseError, match=f"longer than {MAX_PHRASE} characters"):
        model.resolve(phrase, TUESDAY)


def test_phrase_of_exactly_max_phrase_characters_is_accepted(model: RuleBasedDateModel) -> None:
    phrase = "tomorrow".ljust(MAX_PHRASE)
    assert model.resolve(phrase, TUESDAY) == [date(2026, 11, 25)]


def test_range_ending_before_it_starts_raises(model: RuleBasedDateModel) -> None:
    with pytest.raises(DateParseError, match="before it starts"):
        model.resolve("Dec 24 to Dec 1", TUESDAY)


def test_range_longer_than_a_year_raises(model: RuleBasedDateModel) -> None:
    with pytest.raises(DateParseError, match="absurd range"):
        model.resolve("2026-12-01 to 2028-01-01", TUESDAY)


@pytest.mark.parametrize("phrase", ["0 days starting tomorrow", "261 days starting tomorrow"])
def test_day_count_outside_one_to_260_raises(model: RuleBasedDateModel, phrase: str) -> None:
    with pytest.raises(DateParseError, match="not a sensible length"):
        model.resolve(phrase, TUESDAY)


def test_bare_day_number_in_a_list_takes_the_previous_items_month(model: RuleBasedDateModel) -> None:
    assert model.resolve("Dec 22 and 23", TUESDAY) == [date(2026, 12, 22), date(2026, 12, 23)]


def test_rule_based_model_satisfies_date_model_protocol() -> None:
    assert isinstance(RuleBasedDateModel(), DateModel)


def test_model_uses_its_country_holidays() -> None:
    assert RuleBasedDateModel("GB").resolve("Nov 26", TUESDAY) == [date(2026, 11, 26)]


def test_working_days_drops_weekends_and_holidays_then_sorts_and_dedups() -> None:
    days = [date(2026, 12, 28), date(2026, 12, 24), date(2026, 12, 26), date(2026, 12, 25), date(2026, 12, 24)]
    assert working_days(days) == [date(2026, 12, 24), date(2026, 12, 28)]


def test_working_days_accepts_a_set() -> None:
    assert working_days({date(2026, 11, 27), date(2026, 11, 26)}) == [date(2026, 11, 27)]


def test_working_days_uses_the_given_country() -> None:
    assert working_days([date(2026, 11, 26), date(2026, 12, 28)], country="GB") == [date(2026, 11, 26)]
