"""Relative dates in a question ("last week", "yesterday", "in March") as a date range for the search.

English phrases only, read against a reference day `as_of` (today, or the date a question was asked). The
ranges are generous where people are vague: "last week" runs from the Monday of the previous week to
`as_of`, since "what did she say last week?" asked on a Wednesday often means the last ten days. A question
with no such phrase gets no range.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

from rag.errors import RagError
from rag.types import Dates

_MONTHS = {name: n for n, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name: n for n, name in enumerate(calendar.month_abbr) if name and name != "May"}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))  # capitalised only: "in may" is not a month
_PHRASE = re.compile(
    rf"\b(?P<today>today)\b|\b(?P<yesterday>yesterday)\b|"
    rf"\b(?P<this>this) (?P<this_unit>week|month|year)\b|"
    rf"\b(?:last|past|previous) (?:(?P<count>\d{{1,3}}) )?(?P<last_unit>days?|weeks?|months?|year)\b|"
    rf"\bin (?P<month>(?-i:{_MONTH}))\.?(?: (?P<month_year>\d{{4}}))?\b|\bin (?P<year>(?:19|20)\d{{2}})\b",
    re.IGNORECASE,
)


def iso_date(value: Any) -> str:
    """`value` as an ISO date (YYYY-MM-DD) if it is a date or starts with one, else "".

    >>> iso_date("2025-06-11T08:00:00Z"), iso_date("2024/01/05"), iso_date(": : not a"), iso_date("2025-13-40")
    ('2025-06-11', '2024-01-05', '', '')
    """
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    match = re.match(r"\s*(\d{4})[-/](\d{2})[-/](\d{2})", str(value))
    if not match:
        return ""
    try:
        return dt.date(*map(int, match.groups())).isoformat()
    except ValueError:
        return ""


def user_date(value: str, name: str) -> str:
    """A date a user gave for option `name`, checked strictly: YYYY-MM-DD and nothing else. A datetime is refused
    rather than cut to its day (articles are dated by the day, so its time could not be honoured).

    >>> user_date("2024-03-04", "--since")
    '2024-03-04'
    >>> user_date("2025-06-10; DROP TABLE", "--since")
    Traceback (most recent call last):
    rag.errors.RagError: --since must be a date like 2024-03-04, not '2025-06-10; DROP TABLE'
    >>> user_date("2025-06-10T08:00", "--until")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rag.errors.RagError: --until takes a date like 2024-03-04 (articles are dated by the day, not the hour), not ...
    """
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) and (day := iso_date(text)):
        return day
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        raise RagError(f"{name} must be a date like 2024-03-04, not {value!r}") from None
    raise RagError(f"{name} takes a date like 2024-03-04 (articles are dated by the day, not the hour), not {value!r}")


def date_range(since: str, until: str, prefix: str = "--") -> Dates | None:
    """The range from `since` to `until` as given by a user (ISO dates, "" for open), checked; None when neither
    is given. Errors name the options as `prefix` + since/until.

    >>> date_range("2024-03-04", "")
    Dates(since='2024-03-04', until='')
    """
    checked = {}
    for name, value in (("since", since), ("until", until)):
        checked[name] = user_date(value, prefix + name) if value else ""
    if checked["since"] and checked["until"] and checked["since"] > checked["until"]:
        raise RagError(f"{prefix}since ({checked['since']}) is after {prefix}until ({checked['until']})")
    return Dates(**checked) or None


def as_of_date(value: str, name: str = "--as-of") -> dt.date | None:
    """The reference day for relative phrases as given by a user ("" for today), checked."""
    return dt.date.fromisoformat(user_date(value, name)) if value else None


def phrase_dates(question: str, as_of: dt.date) -> tuple[Dates | None, str]:
    """The date range a question's first relative-date phrase asks for, and the phrase ("" and None if none).

    >>> day = dt.date(2024, 3, 13)  # a Wednesday
    >>> phrase_dates("What did Lutnick say last week?", day)
    (Dates(since='2024-03-04', until='2024-03-13'), 'last week')
    >>> phrase_dates("Who won yesterday?", day)[0]
    Dates(since='2024-03-12', until='2024-03-12')
    >>> phrase_dates("What happened in March?", day)[0], phrase_dates("What happened in May?", day)[0]
    (Dates(since='2024-03-01', until='2024-03-31'), Dates(since='2023-05-01', until='2023-05-31'))
    >>> phrase_dates("Talks in the past 3 days", day)[0], phrase_dates("Why did talks stall?", day)
    (Dates(since='2024-03-10', until='2024-03-13'), (None, ''))
    >>> phrase_dates("What happened in may be unclear", day)
    (None, '')
    """
    match = _PHRASE.search(question)
    if not match:
        return None, ""
    g = match.groupdict()
    start, end = as_of, as_of
    if g["yesterday"]:
        start = end = as_of - dt.timedelta(days=1)
    elif g["this"]:
        unit = g["this_unit"].lower()
        start = {
            "week": as_of - dt.timedelta(days=as_of.weekday()),
            "month": as_of.replace(day=1),
            "year": as_of.replace(month=1, day=1),
        }[unit]
    elif g["last_unit"]:
        unit, count = g["last_unit"].lower().rstrip("s"), int(g["count"] or 1)
        if unit == "day":
            start = as_of - dt.timedelta(days=count)
        elif unit == "week":
            start = as_of - dt.timedelta(days=as_of.weekday() + 7 * count)
        elif unit == "month":
            start = _months_back(as_of.replace(day=1), count)
        else:
            start = as_of.replace(year=as_of.year - 1, month=1, day=1)
    elif g["month"]:
        month = _MONTHS[g["month"]]
        year = int(g["month_year"]) if g["month_year"] else as_of.year - (month > as_of.month)
        start = dt.date(year, month, 1)
        end = dt.date(year, month, calendar.monthrange(year, month)[1])
    elif g["year"]:
        start, end = dt.date(int(g["year"]), 1, 1), dt.date(int(g["year"]), 12, 31)
    return Dates(start.isoformat(), end.isoformat()), match.group(0)


def without_asked_dates(claim: str, question: str) -> str:
    """`claim` without the relative-date phrases it repeats from `question` ("this week", "in 2024"): the search
    already kept to the range they name, and an answer that echoes one must not fail its check for a phrase the
    article, written that week, has no reason to use.

    >>> without_asked_dates("AT&T had an outage this week.", "Which company had an outage this week?")
    'AT&T had an outage.'
    >>> without_asked_dates("AT&T had an outage last week.", "Which company had an outage this week?")
    'AT&T had an outage last week.'
    """
    asked = {m.group(0).lower() for m in _PHRASE.finditer(question)}
    if not asked:
        return claim
    kept = _PHRASE.sub(lambda m: "" if m.group(0).lower() in asked else m.group(0), claim)
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", kept)).strip()


_LATEST = re.compile(
    r"\b(?:now|currently|latest|most recent|newest|at present|these days|as of today|so far|to date|still)\b",
    re.IGNORECASE,
)


def asks_for_latest(question: str) -> bool:
    """Whether a question asks for the latest state of things ("now", "currently", "latest", "still", ...), so
    that newer articles should win ties.

    >>> asks_for_latest("Who leads the talks now?"), asks_for_latest("Who led the talks in March?")
    (True, False)
    """
    return bool(_LATEST.search(question))


def _months_back(first: dt.date, count: int) -> dt.date:
    month = first.month - count
    year = first.year + (month - 1) // 12
    return dt.date(year, (month - 1) % 12 + 1, 1)
