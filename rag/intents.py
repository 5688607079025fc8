"""What a chat message asks for: a question, a digest of a date range, or a timeline of a topic.

The chat page, the OpenAI-compatible chat endpoint and `python -m rag ask` read messages with `read_request`,
so a message means the same through every door:

- "Summarize this week", "digest of last 3 days": a digest of the articles in the range (a date phrase that
  rag.dates reads is needed; "summarize the talks" stays a question);
- "What's new since 2024-03-04", "what's new since last week": a digest from that day to `today`;
- "Timeline of the London talks", "timeline: Olympics this year": a timeline of the topic, the date phrase (if
  any) setting its range;
- anything else: a question.

English phrasings only; a request worded otherwise ("give me a chronology of ...") is read as a question.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rag.dates import iso_date, phrase_dates
from rag.types import Dates

_DIGEST = re.compile(r"^\s*(?:summari[sz]e|digest)\b", re.IGNORECASE)
_NEW_SINCE = re.compile(r"^\s*what(?:'s|\u2019s| is) new since\s+(?P<since>.+?)[\s?.!]*$", re.IGNORECASE | re.DOTALL)
_TIMELINE = re.compile(r"^\s*timeline\b(?:\s+(?:of|for|about)\b|\s*:)?\s*(?P<topic>.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Question:
    text: str


@dataclass(frozen=True)
class Digest:
    """A bullet per story of the articles dated within `dates` (rag.answering.digest)."""

    dates: Dates


@dataclass(frozen=True)
class Timeline:
    """The articles about `topic` in date order, within `dates` if given (rag.answering.timeline)."""

    topic: str
    dates: Dates | None


Request = Question | Digest | Timeline


def read_request(message: str, today: dt.date) -> Request:
    """What `message` asks for; relative dates ("this week") are read against `today`.

    >>> day = dt.date(2024, 3, 13)  # a Wednesday
    >>> read_request("Summarize this week", day)
    Digest(dates=Dates(since='2024-03-11', until='2024-03-13'))
    >>> read_request("What's new since 2024-03-01?", day)
    Digest(dates=Dates(since='2024-03-01', until='2024-03-13'))
    >>> read_request("Timeline of the London talks in March", day)
    Timeline(topic='the London talks', dates=Dates(since='2024-03-01', until='2024-03-31'))
    >>> read_request("Summarize the talks", day), read_request("What's new since the ceasefire?", day)
    (Question(text='Summarize the talks'), Question(text="What's new since the ceasefire?"))
    """
    if _DIGEST.match(message) and (dates := phrase_dates(message, today)[0]):
        return Digest(dates)
    if (new := _NEW_SINCE.match(message)) and (since := _since(new["since"], today)):
        return Digest(Dates(since, today.isoformat()))
    if timeline := _timeline(message, today):
        return timeline
    return Question(message)


def _since(phrase: str, today: dt.date) -> str:
    """The first day `phrase` names (an ISO date, or a phrase rag.dates reads), or ""."""
    if day := iso_date(phrase):
        return day
    dates = phrase_dates(phrase, today)[0]
    return dates.since if dates else ""


def _timeline(message: str, today: dt.date) -> Timeline | None:
    match = _TIMELINE.match(message)
    if not match:
        return None
    dates, phrase = phrase_dates(message, today)
    topic = match["topic"].replace(phrase, " ") if phrase else match["topic"]
    topic = " ".join(topic.split()).strip(" ,.?")
    return Timeline(topic, dates) if topic else None
