"""What a chat message asks for (rag.intents), as the chat page, the CLI's `ask` and the API read it."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.intents import Digest, Question, Timeline, read_request
from rag.types import Dates

DAY = dt.date(2024, 3, 13)  # a Wednesday


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Summarize this week", Digest(Dates("2024-03-11", "2024-03-13"))),
        ("digest of the last 3 days", Digest(Dates("2024-03-10", "2024-03-13"))),
        ("Summarise the news in February", Digest(Dates("2024-02-01", "2024-02-29"))),
        ("What's new since 2024-03-01?", Digest(Dates("2024-03-01", "2024-03-13"))),
        ("what is new since last week", Digest(Dates("2024-03-04", "2024-03-13"))),
        ("Timeline of the London talks", Timeline("the London talks", None)),
        ("timeline: Olympics this year", Timeline("Olympics", Dates("2024-01-01", "2024-03-13"))),
        ("Timeline for the strike in March?", Timeline("the strike", Dates("2024-03-01", "2024-03-31"))),
    ],
)
def test_requests_for_digests_and_timelines_are_read(message: str, expected: object) -> None:
    assert read_request(message, DAY) == expected


@pytest.mark.parametrize(
    "message",
    [
        "Summarize the talks",  # no date range: a question about them
        "What's new since the ceasefire?",  # no date the library reads
        "timeline",  # no topic
        "Why did the timeline of the talks slip last week?",  # about a timeline, not asking for one
        "How long did Tuesday's talks last?",
    ],
)
def test_everything_else_is_a_question(message: str) -> None:
    assert read_request(message, DAY) == Question(message)
