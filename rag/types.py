"""The value types every layer shares: a passage of an article with its span, and a search hit."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Passage:
    """A piece of an article: `text` is the article's normalised text[start:end]."""

    id: str
    source: str  # path as the user knows it, e.g. corpus/2025-06-10_news_london-talks.txt
    start: int  # character span in the article's normalised text
    end: int
    text: str
    title: str
    date: str  # ISO date (YYYY-MM-DD) or ""
    url: str = ""  # where the article was published, when known
    outlet: str = ""  # who published it (a host name such as cnn.com, or a name from the article's metadata)


def day_number(date: str) -> int:
    """An ISO date as a sortable number for filters (20240304), 0 for none.

    >>> day_number("2024-03-04"), day_number("")
    (20240304, 0)
    """
    digits = date[:10].replace("-", "")
    return int(digits) if len(digits) == 8 and digits.isdigit() else 0


def day_date(day: int) -> dt.date | None:
    """A day number (`day_number`) back to its date; None for 0 (undated) or a number that is no date.

    >>> day_date(20240304), day_date(0), day_date(20241399)
    (datetime.date(2024, 3, 4), None, None)
    """
    try:
        return dt.date(day // 10000, day // 100 % 100, day % 100) if day else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Dates:
    """A date range for a search: from `since` to `until`, both included (ISO dates; "" for open). Articles
    without a date are outside every range that has a bound."""

    since: str = ""
    until: str = ""

    @property
    def bounds(self) -> tuple[int, int]:
        return day_number(self.since) or 1, day_number(self.until) or 99991231

    def where(self) -> dict[str, Any]:
        """The range as a Chroma metadata filter on `day`."""
        low, high = self.bounds
        return {"$and": [{"day": {"$gte": low}}, {"day": {"$lte": high}}]}

    def __bool__(self) -> bool:
        return bool(self.since or self.until)


@dataclass(frozen=True)
class Hit(Passage):
    """A passage found by a search, with what each retriever thought of it (None: that one did not find it)."""

    score: float = 0.0  # fused RRF score
    dense_score: float | None = None  # cosine similarity
    bm25_score: float | None = None
    dense_rank: int | None = None  # 1-based
    bm25_rank: int | None = None
    copies: tuple[str, ...] = ()  # other articles holding the same text (near-duplicates), not shown by search

    @classmethod
    def of(cls, passage: Passage, **scores: Any) -> Hit:
        """`passage` with scores.

        >>> Hit.of(Passage("c", "a.txt", 0, 3, "abc", "", ""), score=0.5, dense_rank=1).dense_rank
        1
        """
        return cls(**{f.name: getattr(passage, f.name) for f in fields(Passage)}, **scores)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "copies": list(self.copies)}


@dataclass(frozen=True)
class Entry:
    """An indexed file as the manifest records it: its path relative to the corpus folder, content hash, chunk
    count, state ("pending" while its chunks change, "done") and when it was indexed (epoch seconds)."""

    path: str
    sha256: str
    chunks: int
    state: str
    indexed_at: float
